"""The CPU's instruction-set extensions that TensorFlow's CPU kernels use, as Linux lists them."""

import os
from pathlib import Path

VECTOR = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
BF16 = ("amx_tile", "amx_bf16", "avx512_bf16")  # what mixed precision can use


def cpu_features(names: tuple[str, ...]) -> str:
    """Those of ``names`` this CPU has, comma-separated; "none", or "unknown" off Linux."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return "unknown (no /proc/cpuinfo)"
    flags = set(cpuinfo.read_text().split())
    return ", ".join(name for name in names if name in flags) or "none"


def machine() -> str:
    """The CPU's model name and the cores this process may use, as a results table states them."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
        if line.startswith("model name")
    ]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{names[0] if names else 'unknown CPU'}, {cores} cores, {cpu_features(VECTOR)}"
