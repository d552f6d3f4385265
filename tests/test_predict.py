"""mnist-predict on real image files of every kind, and predict_images from Python."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_pipeline.classifier import load_classifier
from mnist_predict.prediction import predict_images
from tests.conftest import REPO, as_photo
from tests.running import predict

pytestmark = pytest.mark.slow  # trains models or starts processes that load TensorFlow


def our_errors(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def test_every_kind_of_image_is_read_and_mostly_right(onnx_file, user_images):
    folder = next(iter(user_images.values()))[0].parent
    result = predict("--model", str(onnx_file), "--format", "json", "--top-k", "3", str(folder))
    assert result.returncode == 0, result.stderr
    rows = {Path(row["path"]).name: row for row in json.loads(result.stdout)}
    assert set(rows) == set(user_images)
    for row in rows.values():
        assert row["top_k"][0][0] == row["digit"]
        assert len(row["top_k"]) == 3 and 0 < row["probability"] <= 1
    right = sum(rows[name]["digit"] == label for name, (_, label) in user_images.items())
    assert right >= len(user_images) - 1


def test_table_and_csv_outputs(onnx_file, user_images):
    path = str(user_images["gray.png"][0])
    table = predict("--model", str(onnx_file), path)
    assert table.stdout.splitlines()[0].split() == ["path", "digit", "probability", "top-k"]
    assert table.stdout.splitlines()[1].startswith(path)
    rows = list(
        csv.DictReader(
            io.StringIO(
                predict("--model", str(onnx_file), "--format", "csv", "--top-k", "2", path).stdout
            )
        )
    )
    assert rows[0]["path"] == path and len(rows[0]["top_k"].split()) == 2


def test_the_grid_shows_each_input_as_the_model_saw_it(onnx_file, user_images, tmp_path):
    grid = tmp_path / "grid.png"
    paths = [str(path) for path, _ in list(user_images.values())[:4]]
    result = predict("--model", str(onnx_file), "--grid", str(grid), *paths)
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


def test_each_bad_file_gets_one_line_and_the_rest_are_predicted(onnx_file, user_images, tmp_path):
    expected = bad_files(tmp_path)
    good = user_images["gray.png"][0]
    result = predict(
        "--model", str(onnx_file), str(good), *(str(tmp_path / name) for name in expected)
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = our_errors(result)
    assert len(errors) == len(expected)
    for name, words in expected.items():
        assert any(f"{tmp_path / name}: " in line and words in line for line in errors), name
    assert str(good) in result.stdout


def test_in_a_folder_each_bad_entry_gets_its_own_reason_and_the_images_are_predicted(
    onnx_file, user_images, tmp_path
):
    expected = bad_files(tmp_path)
    shutil.copy(user_images["gray.png"][0], tmp_path / "good.png")
    result = predict("--model", str(onnx_file), str(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(tmp_path / "good.png") in result.stdout
    errors = our_errors(result)
    assert f"error: {tmp_path / 'folder.png'}: a folder, not an image file" in errors
    assert f"error: {tmp_path / 'loop.png'}: a symlink loop" in errors
    assert f"error: {tmp_path / 'pipe.png'}: a FIFO (named pipe), not an image file" in errors
    # Every bad entry once: not the missing file nor no_images (not in the folder's
    # listing of image names), and folder.png besides.
    assert len(errors) == len(expected) - 2 + 1


def test_a_device_named_directly_is_called_a_device(onnx_file):
    result = predict("--model", str(onnx_file), "/dev/zero")
    assert our_errors(result) == ["error: /dev/zero: a device, not an image file"]


@pytest.mark.parametrize("grid", ["folder.png", "grid.txt", "mydir"])
def test_a_grid_that_is_a_folder_or_not_a_png_is_refused_before_any_work(
    onnx_file, user_images, tmp_path, grid
):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "folder.png" / "keep.txt").write_text("a user's file")
    result = predict(
        "--model", str(onnx_file), "--grid", str(tmp_path / grid), str(user_images["gray.png"][0])
    )
    assert result.returncode == 1 and result.stdout == ""
    assert len(our_errors(result)) == 1 and "expected a file name ending in .png" in result.stderr
    assert (tmp_path / "folder.png" / "keep.txt").read_text() == "a user's file"


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("model.h5", b"\x89HDF\r\n\x1a\n", "expected a model file ending in .onnx or .keras"),
        ("model.onnx", b"not a graph", "cannot load the model: "),
        ("model.keras", b"not a zip", "not a .keras model file"),
    ],
)
def test_a_file_that_is_not_a_model_is_refused_in_one_line(
    user_images, tmp_path, name, content, words
):
    fake = tmp_path / name
    fake.write_bytes(content)
    result = predict("--model", str(fake), str(user_images["gray.png"][0]))
    assert result.returncode == 1 and result.stdout == ""
    (error,) = our_errors(result)
    assert error.startswith(f"error: {fake}: ") and words in error
    assert "Traceback" not in result.stderr


# mnist-predict with TensorFlow and Keras made unimportable, from a folder laid out as
# the project is, so the default model (models/model.onnx) is the one used.
WITHOUT_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = sys.modules["keras"] = None  # any import of them fails
sys.argv = ["mnist-predict", *sys.argv[1:]]
from mnist_predict.cli import main
main()
"""


def predict_without_tensorflow(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_exported_model_runs_by_default_without_tensorflow(
    onnx_file, model_file, user_images, tmp_path
):
    (tmp_path / "models").mkdir()
    shutil.copy(onnx_file, tmp_path / "models/model.onnx")
    folder = str(next(iter(user_images.values()))[0].parent)
    light = predict_without_tensorflow(tmp_path, "--format", "json", folder)
    assert light.returncode == 0, light.stderr
    keras_rows = json.loads(predict("--model", str(model_file), "--format", "json", folder).stdout)
    onnx_rows = json.loads(light.stdout)
    assert [row["digit"] for row in onnx_rows] == [row["digit"] for row in keras_rows]
    for onnx_row, keras_row in zip(onnx_rows, keras_rows, strict=True):
        assert onnx_row["probability"] == pytest.approx(keras_row["probability"], abs=1e-4)


def test_a_missing_default_model_says_what_to_run(user_images, tmp_path):
    result = predict_without_tensorflow(tmp_path, str(user_images["gray.png"][0]))
    assert result.returncode == 1
    assert our_errors(result) == [
        "error: models/model.onnx: model file not found; run `dvc repro` to build it "
        "(or `dvc pull` if it is in a DVC remote)"
    ]


def test_predict_images_from_python_matches_the_command(onnx_file, user_images, tiny_mnist):
    classifier = load_classifier(onnx_file)
    path, _ = user_images["colour.jpg"]
    arrays = [np.asarray(Image.open(path)), tiny_mnist.x_test[1]]
    predictions = predict_images(classifier, arrays, top_k=2)
    cli = json.loads(predict("--model", str(onnx_file), "--format", "json", str(path)).stdout)
    assert predictions[0].digit == cli[0]["digit"]
    assert predictions[0].probability == pytest.approx(cli[0]["probability"], abs=1e-5)
    assert len(predictions[1].top_k) == 2


def test_an_mnist_digit_made_into_a_photo_is_predicted_the_same(onnx_file, tiny_mnist):
    classifier = load_classifier(onnx_file)
    digits = tiny_mnist.x_test[:40]
    direct = predict_images(classifier, list(digits))
    photos = predict_images(classifier, [as_photo(digit) for digit in digits])
    same = sum(a.digit == b.digit for a, b in zip(direct, photos, strict=True))
    assert same >= 38
