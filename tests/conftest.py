"""Shared fixtures: tiny real handwritten digits and params files that point at them.

The digits are scikit-learn's bundled 8x8 scans (1797 real handwritten
digits), scaled to MNIST's 20x20 box inside 28x28, so every test runs on real
handwriting without a network.
"""

import hashlib
import os
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import yaml
from PIL import Image
from sklearn.datasets import load_digits

from mnist_pipeline.atomic import sha256_of_file
from mnist_pipeline.dataset import RAW_KEYS, RawData
from mnist_pipeline.params.train import NormalisedModel, TrainParams, model_params
from mnist_predict.digit_image import normalise_digit
from tests.browser import CHROMIUM

REPO = Path(__file__).resolve().parents[1]
TEST_IMAGES = 297  # of the 1797 digits, the last ones are the test set


def upscale(digit_8x8: np.ndarray) -> np.ndarray:
    """An 8x8 digit (0..16) as a 28x28 uint8 MNIST-style image: 20x20 ink box, centred."""
    small = Image.fromarray((digit_8x8 * (255 / 16)).astype(np.uint8))
    canvas = np.zeros((28, 28), dtype=np.uint8)
    canvas[4:24, 4:24] = np.asarray(small.resize((20, 20), Image.Resampling.BILINEAR))
    return canvas


def make_tiny_mnist() -> RawData:
    digits = load_digits()
    images = np.stack([upscale(image) for image in digits.images])
    labels = digits.target.astype(np.uint8)
    split = len(labels) - TEST_IMAGES
    return RawData(images[:split], labels[:split], images[split:], labels[split:])


def digests(data: RawData) -> dict[str, str]:
    return {key: data.sha256(key) for key in RAW_KEYS}


@pytest.fixture(scope="session")
def tiny_mnist() -> RawData:
    return make_tiny_mnist()


@pytest.fixture(scope="session")
def tiny_mnist_file(tmp_path_factory, tiny_mnist) -> Path:
    """The tiny digits as a Keras-format mnist.npz."""
    path = tmp_path_factory.mktemp("source") / "mnist.npz"
    tiny_mnist.save(path)
    return path


README = (REPO / "README.md").read_text()


def readme_output(command: str) -> list[str]:
    """The lines a README console block shows right after ``$ command``."""
    block = README.split(f"$ {command}\n", 1)[1]
    return block.split("```", 1)[0].splitlines()


def tiny_params(**sections) -> dict:
    """A complete params file of the tests' own for one-epoch runs, never the workspace's.

    ``sections`` update a section's keys (a dict) or replace a value (anything else).
    """
    params = {
        "seed": 42,
        "data": {"deadline_seconds": 60.0, "timeout_seconds": 5.0, "retries": 2},
        "preprocess": {"val_fraction": 0.1, "train_subset": None},
        "model": {
            "arch": "basic",
            "dropout": 0.5,
            "augment": {
                "rotation_degrees": 0.0,
                "translation": 0.0,
                "zoom": 0.0,
                "stroke_width": 0.0,
            },
        },
        "train": {
            "epochs": 1,
            "batch_size": 64,
            "learning_rate": 0.001,
            "optimizer": "adam",
            "schedule": "constant",
            "label_smoothing": 0.0,
            "ema_momentum": 0.0,
            "early_stopping_patience": 0,
            "mixed_precision": False,
            "distribute": "auto",
            "devices": [],
        },
        "report": {"sample_images": 16, "misclassified_images": 9},
        "ensemble": {"seeds": [], "combine": []},  # opt-in, as in the project's params.yaml
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            params[section].update(values)
        else:
            params[section] = values
    return params


NORMALISED_ARCHITECTURES = get_args(NormalisedModel.model_fields["arch"].annotation)


def tiny_model(**changes) -> dict:
    """tiny_params' model section with ``changes``; batch_norm on where the architecture has it."""
    section = {**tiny_params()["model"], **changes}
    if section["arch"] in NORMALISED_ARCHITECTURES:
        section.setdefault("batch_norm", True)
    return section


def tiny_model_params(**changes):
    """tiny_model(**changes) as the train stage reads it."""
    return model_params(tiny_model(**changes))


def tiny_train_params(**changes) -> TrainParams:
    """tiny_params' train section as the train stage reads it, with ``changes``."""
    return TrainParams.model_validate(tiny_params()["train"]).model_copy(update=changes)


def tiny_sources(source_file: Path, data: RawData) -> dict:
    """A data-source file that points at ``source_file``, holding ``data``."""
    return {
        "sources": [
            {"kind": "file", "path": str(source_file), "sha256": sha256_of_file(source_file)}
        ],
        "array_sha256": digests(data),
    }


def write_params(path: Path, params: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.fixture
def params_file(tmp_path) -> Path:
    return write_params(tmp_path / "params.yaml", tiny_params())


@pytest.fixture(scope="session")
def sources_file(tmp_path_factory, tiny_mnist_file, tiny_mnist) -> Path:
    path = tmp_path_factory.mktemp("sources") / "sources.yaml"
    return write_params(path, tiny_sources(tiny_mnist_file, tiny_mnist))


def run_stage(name: str, *args: str, cwd: Path | None = None):
    """Run ``stages/<name>.py`` as DVC would: a separate process, its exit status and stderr."""
    import subprocess

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, str(REPO / "stages" / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium under Playwright (its own browser builds cannot be downloaded here).

    Without chromium the browser tests skip, except in CI, where they fail.
    """
    if CHROMIUM is None:
        reason = "no chromium on PATH (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the browser tests")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PATHS = yaml.safe_load((REPO / "paths.yaml").read_text())["paths"]
COMMANDS = {
    name: stage["cmd"]
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items()
}


class Workspace:
    """paths.yaml's paths under ``root``, each an attribute (``run.model``), as dvc.yaml uses them.

    Nothing here is listed again: a new path in paths.yaml is a new attribute, and a
    stage's arguments are its command in dvc.yaml with these paths put in.
    """

    def __init__(self, root: Path, sources: Path | None = None):
        self.root = root
        self.params = root / "params.yaml"
        for name, relative in PATHS.items():
            setattr(self, name, root / relative)
        if sources is not None:
            self.sources = sources

    def arguments(self, stage: str, params: Path | None = None) -> list[str]:
        """The stage's command-line arguments: dvc.yaml's command after ``python -m stages.X``."""
        words = COMMANDS[stage].split()[3:]
        return [self._resolved(word, params) for word in words]

    def _resolved(self, word: str, params: Path | None) -> str:
        if word == "params.yaml":
            return str(params or self.params)
        if word.startswith("${paths.") and word.endswith("}"):
            return str(getattr(self, word[len("${paths.") : -1]))
        return word


def as_photo(digit: np.ndarray, scale=6, shift=(40, -25), canvas=320, invert=True, mode="RGB"):
    """A 28x28 MNIST digit as a user might have it: big, dark on white, off centre, in colour."""
    big = Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    page = Image.new("L", (canvas, canvas), 0)
    corner = ((canvas - big.width) // 2 + shift[1], (canvas - big.height) // 2 + shift[0])
    page.paste(big, corner)
    pixels = 255 - np.asarray(page) if invert else np.asarray(page)
    return Image.fromarray(pixels).convert(mode)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, tiny_mnist) -> Path:
    """The basic CNN trained briefly on the tiny digits, normalised as predict normalises."""
    from mnist_pipeline.models import make_network  # TensorFlow: only for tests that use it
    from mnist_pipeline.params.train import model_params
    from mnist_pipeline.training import make_deterministic

    make_deterministic(0)
    model = make_network(model_params(tiny_params()["model"]))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    pixels = np.stack([normalise_digit(image) for image in tiny_mnist.x_train])
    model.fit(pixels, tiny_mnist.y_train, epochs=6, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def onnx_file(model_file) -> Path:
    """The same model exported as the export stage does: what mnist-predict runs by default."""
    import keras

    from mnist_pipeline.onnx_export import export_onnx

    path = model_file.with_suffix(".onnx")
    path.write_bytes(export_onnx(keras.models.load_model(model_file)))
    return path


@pytest.fixture(scope="session")
def user_images(tmp_path_factory, tiny_mnist) -> dict[str, tuple[Path, int]]:
    """Digits saved as users have them: formats, modes, polarity, position, size."""
    folder = tmp_path_factory.mktemp("photos")
    kinds = {
        "gray.png": dict(mode="L"),
        "colour.jpg": dict(mode="RGB"),
        "palette.png": dict(mode="P"),
        "alpha.png": dict(mode="RGBA"),
        "light_on_dark.png": dict(mode="L", invert=False),
        "corner.png": dict(mode="RGB", shift=(-100, 110)),
        "small.png": dict(mode="L", scale=2, canvas=80, shift=(5, -5)),
        "huge_canvas.jpg": dict(mode="RGB", scale=30, canvas=1600, shift=(0, 0)),
    }
    made = {}
    for index, (name, options) in enumerate(kinds.items()):
        digit = tiny_mnist.x_test[index]
        as_photo(digit, **options).save(folder / name)
        made[name] = (folder / name, int(tiny_mnist.y_test[index]))
    return made
