"""Stage train: fit the configured CNN on the training split, validating on the validation split."""

import argparse
from pathlib import Path

from mnist_pipeline.cluster import is_chief, output_paths
from mnist_pipeline.dataset import Split, split_path
from mnist_pipeline.errors import native_stderr_silenced, run_command, stop_signals_deferred
from mnist_pipeline.params import check_unchanged, load_params
from mnist_pipeline.params.train import TrainStageParams


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="folder of processed splits")
    parser.add_argument("--model", type=Path, required=True, help="the .keras file to write")
    parser.add_argument("--live", type=Path, required=True, help="folder for per-epoch metrics")
    parser.add_argument(
        "--seed",
        type=seed_argument,
        help="train with this seed, not params' (an ensemble's member)",
    )
    args = parser.parse_args(argv)

    params = load_params(args.params, TrainStageParams)
    chief = is_chief(params.train.distribute)  # for multi_worker, from TF_CONFIG
    member = params.model_copy(update={"seed": params.seed if args.seed is None else args.seed})
    train = Split.load(split_path(args.data, "train"))
    val = Split.load(split_path(args.data, "val"))
    # TensorFlow takes seconds to import: only once the params and inputs are known good.
    with native_stderr_silenced():
        from mnist_pipeline.modelfile import save_model
        from mnist_pipeline.models import inference_model
        from mnist_pipeline.training import train_model

    with output_paths(args.live, args.model, chief=chief) as (live_dir, model_file):
        network = train_model(member, train, val, live_dir)
        with stop_signals_deferred():  # Keras and h5py write the file in native code
            save_model(inference_model(network), model_file)
        check_unchanged(args.params, params)  # before the outputs are renamed into place


def seed_argument(text: str) -> int:
    seed = int(text)
    if not 0 <= seed < 2**32:
        raise argparse.ArgumentTypeError(f"{seed} is not a seed: expected 0 to 2**32 - 1")
    return seed


if __name__ == "__main__":
    run_command(main)
