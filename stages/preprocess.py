"""Stage preprocess: split off a stratified validation set; pixels stay uint8."""

import argparse
from pathlib import Path

from mnist_pipeline.atomic import atomic_path
from mnist_pipeline.dataset import RawData, save_splits
from mnist_pipeline.errors import run_command
from mnist_pipeline.params import check_unchanged, load_params
from mnist_pipeline.params.preprocess import PreprocessStageParams
from mnist_pipeline.preprocess import make_splits


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--raw", type=Path, required=True, help="raw MNIST .npz")
    parser.add_argument("--out", type=Path, required=True, help="folder for train/val/test.npz")
    args = parser.parse_args(argv)

    params = load_params(args.params, PreprocessStageParams)
    preprocess = params.preprocess
    raw = RawData.load(args.raw)
    # The output folder first: a place that cannot be written fails before the work.
    with atomic_path(args.out, directory=True) as folder:
        splits = make_splits(raw, preprocess.val_fraction, params.seed, preprocess.train_subset)
        save_splits(folder, splits)
        check_unchanged(args.params, params)
    print(", ".join(f"{name}: {len(split.y)} images" for name, split in splits.items()))


if __name__ == "__main__":
    run_command(main)
