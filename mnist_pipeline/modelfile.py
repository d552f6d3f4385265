"""Loading a trained model safely: only the .keras format, with Keras's safe mode on."""

import zipfile
from pathlib import Path

from mnist_pipeline.errors import MissingInputError, PipelineError


def load_model(path: str | Path):
    """Load a ``.keras`` model file; anything else is refused with a clear message.

    Safe mode refuses models that would run arbitrary code (Lambda layers
    holding pickled Python), so a model file from elsewhere cannot run code here.
    """
    import keras  # imported here so that commands fail fast on a bad path

    path = Path(path)
    if not path.exists():
        raise MissingInputError(path, "model file")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise PipelineError(f"{path}: not a .keras model file; only the Keras v3 format is loaded")
    try:
        # Predicting needs no optimizer or loss: skip compiling them.
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for a file it cannot read
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise PipelineError(f"{path}: cannot load the model: {first_line}") from None
