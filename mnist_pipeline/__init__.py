"""A reproducible MNIST pipeline: shared code imported by the stage scripts in ``stages/``."""
