"""The CPU's instruction-set extensions that TensorFlow's CPU kernels use, as Linux lists them."""

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
