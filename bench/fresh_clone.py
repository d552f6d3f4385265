"""Time the README's first command (`make repro`) on a fresh clone of this repository.

    python bench/fresh_clone.py               # uv may use its download cache
    python bench/fresh_clone.py --no-cache    # every wheel downloaded again

Prints the wall time of the whole command and of its two parts (install, pipeline),
and whether the run left the clone as committed (`git status` clean).
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
    parser.add_argument("--no-cache", action="store_true", help="start from an empty uv cache")
    args = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    with tempfile.TemporaryDirectory() as scratch:
        if args.no_cache:
            env["UV_CACHE_DIR"] = str(Path(scratch) / "uv-cache")
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        install = timed(["make", "install"], clone, env)
        pipeline = timed(["make", "repro"], clone, env)
        metrics = (clone / "metrics/test.json").read_text()
        same = metrics == (REPO / "metrics/test.json").read_text()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
        ).stdout
    cache = "an empty uv cache" if args.no_cache else "uv's cache as it is"
    print(f"make repro on a fresh clone ({cache}): {install + pipeline:.0f} s")
    print(f"  install: {install:.0f} s, pipeline: {pipeline:.0f} s")
    print(f"  metrics/test.json identical to the committed one: {same}")
    print(f"  git status afterwards: {'clean' if not status else status.strip()}")


if __name__ == "__main__":
    main()
