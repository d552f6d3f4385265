"""A trained model behind one call: uint8 digits (N, 28, 28) in, probabilities (N, 10) out.

``models/model.onnx`` runs on onnxruntime, which starts in a fraction of a
second and never imports TensorFlow; a ``.keras`` file still works, through
Keras, for a model that was not exported.
"""

from pathlib import Path

import numpy as np

from mnist_pipeline.dataset import IMAGE_SHAPE, NUM_CLASSES
from mnist_pipeline.errors import (
    MissingInputError,
    PipelineError,
    first_line,
    stop_signals_deferred,
)

SUFFIXES = (".onnx", ".keras")


class OnnxClassifier:
    def __init__(self, path: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are not the user's to act on
        try:
            self.session = onnxruntime.InferenceSession(
                path, options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own types for a bad file
            raise PipelineError(f"{path}: cannot load the model: {first_line(error)}") from None
        (self.input,) = self.session.get_inputs()
        self._check_fits(path)

    def _check_fits(self, path: Path) -> None:
        takes, gives = self.input.shape, self.session.get_outputs()[0].shape
        fits = tuple(takes[1:]) == (*IMAGE_SHAPE, 1) and tuple(gives[1:]) == (NUM_CLASSES,)
        if self.input.type != "tensor(uint8)" or not fits:
            raise PipelineError(
                f"{path}: the model takes {self.input.type} {takes} and gives {gives}; "
                f"expected uint8 digits (N, 28, 28, 1) in and (N, {NUM_CLASSES}) probabilities out"
            )

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        channels_last = pixels.reshape(len(pixels), *IMAGE_SHAPE, 1)
        return self.session.run(None, {self.input.name: channels_last})[0]


class KerasClassifier:
    def __init__(self, path: Path):
        from mnist_pipeline.modelfile import load_model  # imports TensorFlow: seconds

        self.model = load_model(path)

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        # One shape always: Keras 3.15 fails when one model is given (N, 28, 28) and then
        # (N, 28, 28, 1) in one process (docs/upstream.md).
        channels_last = pixels.reshape(len(pixels), *IMAGE_SHAPE, 1)
        with stop_signals_deferred():  # a stop signal mid-op could corrupt TensorFlow's heap
            return self.model.predict(channels_last, batch_size=1000, verbose=0)


def load_classifier(path: Path) -> OnnxClassifier | KerasClassifier:
    """The model in ``path``, by its suffix; a missing or foreign file is one clear error."""
    if path.suffix not in SUFFIXES:
        raise PipelineError(f"{path}: expected a model file ending in {' or '.join(SUFFIXES)}")
    if not path.is_file():
        raise MissingInputError(path, "model file")
    return OnnxClassifier(path) if path.suffix == ".onnx" else KerasClassifier(path)
