"""mnist-predict on real image files of every kind, and predict_images from Python."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from mnist_pipeline.digit_image import normalise_digit
from mnist_pipeline.models import make_network
from mnist_pipeline.params.train import ModelParams
from mnist_pipeline.predict import predict_images
from mnist_pipeline.training import make_deterministic
from tests.conftest import tiny_params
from tests.test_digit_image import as_photo

pytestmark = pytest.mark.slow  # trains models or starts processes that load TensorFlow

COMMAND = Path(sys.executable).parent / "mnist-predict"


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, tiny_mnist) -> Path:
    """The basic CNN trained briefly on the tiny digits, normalised as predict normalises."""
    make_deterministic(0)
    model = make_network(ModelParams.model_validate(tiny_params()["model"]))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    pixels = np.stack([normalise_digit(image) for image in tiny_mnist.x_train])
    model.fit(pixels, tiny_mnist.y_train, epochs=6, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return path


def predict(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(COMMAND), *args], capture_output=True, text=True, check=False)


def our_errors(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture(scope="module")
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


def test_every_kind_of_image_is_read_and_mostly_right(model_file, user_images):
    folder = next(iter(user_images.values()))[0].parent
    result = predict("--model", str(model_file), "--format", "json", "--top-k", "3", str(folder))
    assert result.returncode == 0, result.stderr
    rows = {Path(row["path"]).name: row for row in json.loads(result.stdout)}
    assert set(rows) == set(user_images)
    for row in rows.values():
        assert row["top_k"][0][0] == row["digit"]
        assert len(row["top_k"]) == 3 and 0 < row["probability"] <= 1
    right = sum(rows[name]["digit"] == label for name, (_, label) in user_images.items())
    assert right >= len(user_images) - 1


def test_table_and_csv_outputs(model_file, user_images):
    path = str(user_images["gray.png"][0])
    table = predict("--model", str(model_file), path)
    assert table.stdout.splitlines()[0].split() == ["path", "digit", "probability", "top-k"]
    assert table.stdout.splitlines()[1].startswith(path)
    rows = list(
        csv.DictReader(
            io.StringIO(
                predict("--model", str(model_file), "--format", "csv", "--top-k", "2", path).stdout
            )
        )
    )
    assert rows[0]["path"] == path and len(rows[0]["top_k"].split()) == 2


def test_the_grid_shows_each_input_as_the_model_saw_it(model_file, user_images, tmp_path):
    grid = tmp_path / "grid.png"
    paths = [str(path) for path, _ in list(user_images.values())[:4]]
    result = predict("--model", str(model_file), "--grid", str(grid), *paths)
    assert result.returncode == 0, result.stderr
    with Image.open(grid) as image:
        assert image.format == "PNG" and image.width >= 200


def bad_files(folder: Path) -> dict[str, str]:
    """Broken inputs, each with the words its one-line error must contain."""
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("these are not pixels")
    good = io.BytesIO()
    Image.new("L", (64, 64), 255).save(good, "PNG")
    (folder / "blank.png").write_bytes(good.getvalue())
    Image.new("L", (400, 400), 200).save(folder / "whole.png")
    (folder / "truncated.png").write_bytes((folder / "whole.png").read_bytes()[:200])
    (folder / "whole.png").unlink()
    Image.new("1", (10_000, 5_000), 1).save(folder / "bomb.png")  # 50 megapixels, tiny file
    (folder / "no_images").mkdir()
    os.mkfifo(folder / "pipe.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    (folder / "dangling.png").symlink_to(folder / "nowhere.png")
    (folder / "folder.png").mkdir()
    return {
        "empty.png": "empty file",
        "text.png": "not an image",
        "blank.png": "no ink found",
        "truncated.png": "truncated or corrupt image",
        "bomb.png": "too many pixels",
        "no_images": "no images (.png",
        "missing.png": "no such file or folder",
        "pipe.png": "a FIFO (named pipe), not an image file",
        "loop.png": "a symlink loop",
        "dangling.png": "a symlink whose target does not exist",
    }


def test_each_bad_file_gets_one_line_and_the_rest_are_predicted(model_file, user_images, tmp_path):
    expected = bad_files(tmp_path)
    good = user_images["gray.png"][0]
    result = predict(
        "--model", str(model_file), str(good), *(str(tmp_path / name) for name in expected)
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = our_errors(result)
    assert len(errors) == len(expected)
    for name, words in expected.items():
        assert any(f"{tmp_path / name}: " in line and words in line for line in errors), name
    assert str(good) in result.stdout


def test_in_a_folder_each_bad_entry_gets_its_own_reason_and_the_images_are_predicted(
    model_file, user_images, tmp_path
):
    expected = bad_files(tmp_path)
    shutil.copy(user_images["gray.png"][0], tmp_path / "good.png")
    result = predict("--model", str(model_file), str(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(tmp_path / "good.png") in result.stdout
    errors = our_errors(result)
    assert f"error: {tmp_path / 'folder.png'}: a folder, not an image file" in errors
    assert f"error: {tmp_path / 'loop.png'}: a symlink loop" in errors
    assert f"error: {tmp_path / 'pipe.png'}: a FIFO (named pipe), not an image file" in errors
    # Every bad entry once: not the missing file nor no_images (not in the folder's
    # listing of image names), and folder.png besides.
    assert len(errors) == len(expected) - 2 + 1


def test_a_device_named_directly_is_called_a_device(model_file):
    result = predict("--model", str(model_file), "/dev/zero")
    assert our_errors(result) == ["error: /dev/zero: a device, not an image file"]


@pytest.mark.parametrize("grid", ["folder.png", "grid.txt", "mydir"])
def test_a_grid_that_is_a_folder_or_not_a_png_is_refused_before_any_work(
    model_file, user_images, tmp_path, grid
):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "folder.png" / "keep.txt").write_text("a user's file")
    result = predict(
        "--model", str(model_file), "--grid", str(tmp_path / grid), str(user_images["gray.png"][0])
    )
    assert result.returncode == 1 and result.stdout == ""
    assert len(our_errors(result)) == 1 and "expected a file name ending in .png" in result.stderr
    assert (tmp_path / "folder.png" / "keep.txt").read_text() == "a user's file"


def test_only_a_keras_model_is_loaded(user_images, tmp_path):
    fake = tmp_path / "model.h5"
    fake.write_bytes(b"\x89HDF\r\n\x1a\n")
    result = predict("--model", str(fake), str(user_images["gray.png"][0]))
    assert result.returncode == 1
    assert our_errors(result) == [
        f"error: {fake}: not a .keras model file; only the Keras v3 format is loaded"
    ]


def test_predict_images_from_python_matches_the_command(model_file, user_images, tiny_mnist):
    model = keras.models.load_model(model_file)
    path, _ = user_images["colour.jpg"]
    arrays = [np.asarray(Image.open(path)), tiny_mnist.x_test[1]]
    predictions = predict_images(model, arrays, top_k=2)
    cli = json.loads(predict("--model", str(model_file), "--format", "json", str(path)).stdout)
    assert predictions[0].digit == cli[0]["digit"]
    assert predictions[0].probability == pytest.approx(cli[0]["probability"], abs=1e-5)
    assert len(predictions[1].top_k) == 2


def test_an_mnist_digit_made_into_a_photo_is_predicted_the_same(model_file, tiny_mnist):
    model = keras.models.load_model(model_file)
    digits = tiny_mnist.x_test[:40]
    direct = predict_images(model, list(digits))
    photos = predict_images(model, [as_photo(digit) for digit in digits])
    same = sum(a.digit == b.digit for a, b in zip(direct, photos, strict=True))
    assert same >= 38
