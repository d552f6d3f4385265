"""Stage export: the trained model as ONNX for onnxruntime, checked on every test digit."""

import argparse
from pathlib import Path

from mnist_pipeline.atomic import atomic_paths, dump_json
from mnist_pipeline.dataset import Split, split_path
from mnist_pipeline.errors import native_stderr_silenced, run_command, stop_signals_deferred


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="the trained .keras file")
    parser.add_argument("--data", type=Path, required=True, help="folder of processed splits")
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--parity", type=Path, required=True, help="parity metrics JSON")
    args = parser.parse_args(argv)

    test = Split.load(split_path(args.data, "test"))
    with native_stderr_silenced():  # TensorFlow and tf2onnx: seconds, and C++ start-up notes
        from mnist_pipeline.classifier import KerasClassifier, OnnxClassifier
        from mnist_pipeline.onnx_export import check_parity, export_onnx, parity

        keras_model = KerasClassifier(args.model)
        with stop_signals_deferred():  # TensorFlow's ops: stop after them, never inside
            exported = export_onnx(keras_model.model)
    # Both or neither: the parity figures always describe the file beside them.
    with atomic_paths(args.out, args.parity) as (onnx_file, parity_file):
        onnx_file.write_bytes(exported)
        found = parity(
            keras_model.probabilities(test.x), OnnxClassifier(onnx_file).probabilities(test.x)
        )
        check_parity(found)
        # The metric file holds the agreement alone: `dvc metrics show` rounds to 5 decimals,
        # so the largest difference (about 1e-6) would read 0.0 there; it is printed instead.
        dump_json(parity_file, {"test": {"onnx_agreement": found["agreement"]}})
    print(
        f"ONNX agrees with Keras on {found['agreement']:.4%} of {found['digits_checked']} test "
        f"digits; probabilities differ by at most {found['max_probability_difference']:.3g}"
    )


if __name__ == "__main__":
    run_command(main)
