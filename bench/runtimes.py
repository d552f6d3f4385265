"""Which light runtime should run the exported model: onnxruntime against LiteRT, measured.

Exports the trained Keras model with Keras's own exporters (`format="onnx"`,
as the export stage does, and `format="litert"`), then prints for each runtime:
a fresh process's time from start to its first prediction (median of five),
digits per second on the 10,000 test digits in one call (best of three), and
its agreement with Keras on them. onnxruntime is a dependency of the project;
LiteRT is measured when it is installed (`uv pip install ai-edge-litert`).

    python bench/runtimes.py [--model models/model.keras] [--data data/processed]
"""

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mnist_pipeline.classifier import KerasClassifier
from mnist_pipeline.dataset import Split, split_path
from mnist_pipeline.onnx_export import export_onnx

# Each snippet loads the model at argv[1] and predicts one blank digit, as mnist-predict would.
FIRST_PREDICTION = {
    "onnxruntime": """
import sys, numpy as np, onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
session.run(None, {"pixels": np.zeros((1, 28, 28, 1), np.uint8)})
""",
    "LiteRT": """
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
interpreter = Interpreter(model_path=sys.argv[1])
interpreter.allocate_tensors()
pixels = interpreter.get_input_details()[0]["index"]
interpreter.set_tensor(pixels, np.zeros((1, 28, 28, 1), np.uint8))
interpreter.invoke()
""",
}
PACKAGES = {"onnxruntime": "onnxruntime", "LiteRT": "ai_edge_litert"}


def onnx_predictor(path: Path):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return lambda pixels: session.run(None, {"pixels": pixels[..., None]})[0]


def litert_predictor(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    (given,), (taken,) = interpreter.get_input_details(), interpreter.get_output_details()

    def predict(pixels: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(given["index"], (*pixels.shape, 1))
        interpreter.allocate_tensors()
        interpreter.set_tensor(given["index"], pixels[..., None])
        interpreter.invoke()
        return interpreter.get_tensor(taken["index"])

    return predict


def export_all(model, folder: Path) -> dict[str, Path]:
    import tensorflow as tf

    files = {"onnxruntime": folder / "model.onnx"}
    files["onnxruntime"].write_bytes(export_onnx(model))
    if importlib.util.find_spec(PACKAGES["LiteRT"]):
        files["LiteRT"] = folder / "model.tflite"
        signature = [tf.TensorSpec((None, 28, 28, 1), tf.uint8)]
        model.export(files["LiteRT"], format="litert", input_signature=signature, verbose=False)
    return files


def start_to_first_prediction(runtime: str, path: Path) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", FIRST_PREDICTION[runtime], str(path)], check=True)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def digits_per_second(predict, pixels: np.ndarray) -> tuple[float, np.ndarray]:
    best, probabilities = float("inf"), None
    for _ in range(3):
        started = time.perf_counter()
        probabilities = predict(pixels)
        best = min(best, time.perf_counter() - started)
    return len(pixels) / best, probabilities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=Path("models/model.keras"))
    parser.add_argument("--data", type=Path, default=Path("data/processed"))
    args = parser.parse_args()
    test = Split.load(split_path(args.data, "test"))
    keras_model = KerasClassifier(args.model)
    reference = keras_model.probabilities(test.x)
    predictors = {"onnxruntime": onnx_predictor, "LiteRT": litert_predictor}
    with tempfile.TemporaryDirectory() as scratch:
        files = export_all(keras_model.model, Path(scratch))
        for runtime, path in files.items():
            rate, probabilities = digits_per_second(predictors[runtime](path), test.x)
            agreement = np.mean(probabilities.argmax(1) == reference.argmax(1))
            gap = np.abs(probabilities - reference).max()
            start = start_to_first_prediction(runtime, path)
            print(
                f"{runtime:<12} start to first prediction {start:.2f} s; "
                f"{rate:,.0f} digits/s on {len(test.x):,}; agreement with Keras {agreement:.4f}, "
                f"largest gap {gap:.2g}; file {path.stat().st_size:,} bytes"
            )
    if "LiteRT" not in files:
        print("LiteRT       not installed (uv pip install ai-edge-litert)")


if __name__ == "__main__":
    main()
