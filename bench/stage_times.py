"""Time each pipeline stage: `dvc repro --force --single-item` per stage, in order.

Run from the project root with the environment active (`make bench`). It
re-runs every stage in this workspace; with the same params and seed the
outputs come out the same, so dvc.lock still matches afterwards.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

# The default pipeline's stages in dvc.yaml's order; the matrix ones are the opt-in ensemble's.
STAGES = [
    name
    for name, stage in yaml.safe_load(Path("dvc.yaml").read_text())["stages"].items()
    if "matrix" not in stage
]


def run_stage(stage: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["dvc", "repro", "--force", "--single-item", stage], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def main() -> None:
    seconds = {stage: run_stage(stage) for stage in STAGES}
    accuracy = json.loads(Path("metrics/evaluate.json").read_text())["test"]["accuracy"]
    print(f"{'stage':<12}{'seconds':>9}")
    for stage, value in seconds.items():
        print(f"{stage:<12}{value:>9.1f}")
    print(f"{'total':<12}{sum(seconds.values()):>9.1f}")
    print(f"test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    sys.exit(main())
