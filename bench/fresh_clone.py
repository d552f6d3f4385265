"""Time the README's first command (`make repro`) on a fresh clone of this repository.

    python bench/fresh_clone.py               # pip may use its download cache
    python bench/fresh_clone.py --no-cache    # every wheel downloaded again

Prints the wall time of the whole command and of its two parts (install, pipeline).
"""

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-cache", action="store_true", help="bypass pip's download cache")
    args = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    if args.no_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
    with tempfile.TemporaryDirectory() as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        install = timed(["make", "install"], clone, env)
        pipeline = timed(["make", "repro"], clone, env)
        metrics = (clone / "metrics/test.json").read_text()
        same = metrics == (REPO / "metrics/test.json").read_text()
    cache = "without pip's cache" if args.no_cache else "with pip's cache"
    print(f"make repro on a fresh clone ({cache}): {install + pipeline:.0f} s")
    print(f"  install: {install:.0f} s, pipeline: {pipeline:.0f} s")
    print(f"  metrics/test.json identical to the committed one: {same}")


if __name__ == "__main__":
    main()
