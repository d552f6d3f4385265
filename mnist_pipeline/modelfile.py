"""The model file: written byte-stable, read safely (only the .keras format, safe mode on)."""

import io
import json
import re
import zipfile
from pathlib import Path

from mnist_pipeline.dataset import IMAGE_SHAPE, NUM_CLASSES
from mnist_pipeline.errors import (
    MissingInputError,
    PipelineError,
    first_line,
    native_stderr_silenced,
)

# Zip's earliest date: the file records no moment of saving.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_model(model, path: str | Path) -> None:
    """Write ``model`` as a .keras file whose bytes depend only on the model.

    Keras stamps each save with the time (``date_saved`` in metadata.json and the
    zip entries' dates) and with memory addresses (``shared_object_id`` in
    config.json). Those are replaced by constants, so the same weights give the
    same file and DVC's hash of it means something.
    """
    path = Path(path)
    model.save(path)
    path.write_bytes(canonical_archive(path.read_bytes()))


def canonical_archive(archive: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(archive))
    canonical = io.BytesIO()
    with zipfile.ZipFile(canonical, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "metadata.json":
                data = _without_save_date(data)
            elif entry.filename == "config.json":
                data = _renumbered_shared_objects(data)
            stable = zipfile.ZipInfo(entry.filename, date_time=ZIP_EPOCH)
            stable.external_attr = 0o644 << 16  # -rw-r--r--
            target.writestr(stable, data, compress_type=entry.compress_type)
    return canonical.getvalue()


def _without_save_date(metadata: bytes) -> bytes:
    fields = json.loads(metadata)
    fields.pop("date_saved", None)
    return json.dumps(fields).encode()


def _renumbered_shared_objects(config: bytes) -> bytes:
    """Number shared objects 1, 2, ... in order of appearance, in place of memory addresses."""
    numbers: dict[str, int] = {}

    def renumber(match: re.Match) -> str:
        number = numbers.setdefault(match[1], len(numbers) + 1)
        return f'"shared_object_id": {number}'

    return re.sub(r'"shared_object_id": (\d+)', renumber, config.decode()).encode()


def load_model(path: str | Path):
    """Load a ``.keras`` model file; anything else is refused with a clear message.

    Safe mode refuses models that would run arbitrary code (Lambda layers
    holding pickled Python), so a model file from elsewhere cannot run code here.
    """
    with native_stderr_silenced():
        import keras  # imported here so that commands fail fast on a bad path

    path = Path(path)
    if not path.exists():
        raise MissingInputError(path, "model file")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise PipelineError(f"{path}: not a .keras model file; only the Keras v3 format is loaded")
    try:
        # Predicting needs no optimizer or loss: skip compiling them.
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for a file it cannot read
        raise PipelineError(f"{path}: cannot load the model: {first_line(error)}") from None
    check_fits(model, path)
    return model


def check_fits(model, path: str | Path) -> None:
    """Refuse a model that does not take 28x28 digits or does not give 10 probabilities."""
    takes = getattr(model, "input_shape", None)
    gives = getattr(model, "output_shape", None)
    takes_digits = isinstance(takes, tuple) and tuple(takes[1:]) in ((*IMAGE_SHAPE, 1), IMAGE_SHAPE)
    if not takes_digits or gives != (None, NUM_CLASSES):
        raise PipelineError(
            f"{path}: the model takes {takes} and gives {gives}; expected digits "
            f"(None, 28, 28, 1) or (None, 28, 28) in and (None, {NUM_CLASSES}) probabilities out"
        )
