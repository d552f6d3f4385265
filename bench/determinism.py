"""Which differences between machines change the bytes that training gives.

Op determinism makes a run repeat its bytes on one machine (tests/test_pipeline.py
checks it). Across machines that is not promised: TensorFlow's CPU kernels
(oneDNN's) choose their code by the CPU's vector instructions, its oneDNN graph
rewrites can be on or off, and work is split by the number of cores. This
trains the `fast` preset (conf/model/fast.yaml) with seed 0 in a fresh process for each of
these, and prints the hash of its weights and its test accuracy:

    as is, twice                     the run repeats itself
    TF_ENABLE_ONEDNN_OPTS=0 and =1   TensorFlow's oneDNN rewrites off and on
    ONEDNN_MAX_CPU_ISA=SSE41         oneDNN held to SSE4.1 code (x86-64 only)
    one core                         the process pinned to one core (Linux only)

A setting that prints another hash trains other bytes than this machine does
as is: a machine that differs from this one in it will too.
"""

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys

from cpu import VECTOR, cpu_features

OVERRIDES = ["model=fast", "seed=0"]


def train_and_hash(raw_path: str) -> dict:
    """In this process: train the preset, and hash its weights in order."""
    from in_process import composed_params, test_accuracy, train_experiment

    from mnist_pipeline.dataset import RawData

    params = composed_params(OVERRIDES)
    model, test = train_experiment(RawData.load(raw_path), params)
    weights = b"".join(array.tobytes() for array in model.get_weights())
    digest = hashlib.sha256(weights).hexdigest()[:16]
    return {"weights": digest, "accuracy": test_accuracy(model, test)}


def variants() -> list[tuple[str, dict[str, str], bool]]:
    """(name, environment overrides, pinned to one core) for each run."""
    runs = [("as is", {}, False), ("as is, again", {}, False)]
    for flag in "01":
        runs.append((f"TF_ENABLE_ONEDNN_OPTS={flag}", {"TF_ENABLE_ONEDNN_OPTS": flag}, False))
    if platform.machine() in ("x86_64", "AMD64"):
        runs.append(("ONEDNN_MAX_CPU_ISA=SSE41", {"ONEDNN_MAX_CPU_ISA": "SSE41"}, False))
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        runs.append(("one core", {}, True))
    return runs


def run_variant(raw_path: str, environment: dict[str, str], one_core: bool) -> dict:
    command = [sys.executable, __file__, "--raw", raw_path, "--child"]
    if one_core:
        command.append("--one-core")
    child = subprocess.run(
        command, env={**os.environ, **environment}, capture_output=True, text=True, check=False
    )
    if child.returncode != 0:
        last_line = (child.stderr.strip().splitlines() or ["no message"])[-1]
        sys.exit(f"a training run failed (exit {child.returncode}): {last_line}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw", default="data/raw/mnist.npz")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one-core", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.one_core:  # before TensorFlow starts: it sizes its thread pools from this
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(json.dumps(train_and_hash(args.raw)))
        return
    print(
        f"{' '.join(OVERRIDES)}; this CPU's vector instructions: {cpu_features(VECTOR)}; "
        f"cores: {os.cpu_count()}"
    )
    first = None
    for name, environment, one_core in variants():
        result = run_variant(args.raw, environment, one_core)
        first = first or result["weights"]
        same = "same bytes" if result["weights"] == first else "other bytes"
        weights, accuracy = result["weights"], result["accuracy"]
        print(f"{name:<26} weights {weights}  test accuracy {accuracy:.4f}  {same}", flush=True)


if __name__ == "__main__":
    main()
