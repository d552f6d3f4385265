"""Stage check_params: params.yaml holds values every stage accepts, before any stage runs.

DVC removes a stage's outputs when it starts the stage; a value the train stage
refuses would cost the user their model. This stage runs first (download
depends on its output) and refuses such a value while every output is intact.
Its output is always the same line, so a change of params re-runs only the
stages that read the changed keys.
"""

import argparse
from pathlib import Path

from mnist_pipeline.atomic import atomic_path
from mnist_pipeline.errors import run_command
from mnist_pipeline.params import load_params
from mnist_pipeline.params.check_params import CheckParamsStageParams

CHECKED = "params.yaml holds values every stage accepts\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the marker file to write")
    args = parser.parse_args(argv)

    load_params(args.params, CheckParamsStageParams)
    with atomic_path(args.out) as marker:
        marker.write_text(CHECKED)


if __name__ == "__main__":
    run_command(main)
