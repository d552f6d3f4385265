"""A reproducible MNIST pipeline: shared code imported by the stage scripts in ``stages/``."""

import os

# TensorFlow's C++ start-up notes (CPU features, oneDNN) hide our own messages;
# keep its warnings and errors. A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
