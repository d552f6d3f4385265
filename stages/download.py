"""Stage download: fetch the real MNIST and write it, checked, to one .npz file."""

import argparse
import tempfile
from pathlib import Path

from mnist_pipeline.download import fetch_mnist
from mnist_pipeline.errors import run_command
from mnist_pipeline.params import check_unchanged, load_params
from mnist_pipeline.params.download import DataSources, DownloadStageParams


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--sources", type=Path, required=True, help="the data-source file")
    parser.add_argument("--out", type=Path, required=True, help="the raw MNIST .npz to write")
    args = parser.parse_args(argv)

    stage_params = load_params(args.params, DownloadStageParams)
    catalogue = load_params(args.sources, DataSources)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Fetched files stay in the destination folder, under names that are never outputs.
    with tempfile.TemporaryDirectory(prefix=".download.", dir=args.out.parent) as scratch:
        raw = fetch_mnist(catalogue, stage_params.data, Path(scratch))
    check_unchanged(args.params, stage_params)
    check_unchanged(args.sources, catalogue)
    raw.save(args.out)
    print(f"wrote {args.out}: {len(raw.x_train)} training and {len(raw.x_test)} test images")


if __name__ == "__main__":
    run_command(main)
