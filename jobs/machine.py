"""Which CPU a measurement ran on: speeds and latencies mean little without it.

Sessions of this project have run on Intel CPUs with AMX (bf16/int8 matrix units) and on
AMD EPYC CPUs with AVX2 only; the same int8 model ran 0.53 ms on one and 2.3 ms on the
other, and ``mixed_bfloat16`` training is about 2x faster than float32 on the first but
~8x slower on the second, where bf16 is emulated.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# Instruction-set extensions that decide how fast int8 inference and bf16 training run.
FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def describe(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """CPU model, logical CPUs and which of :data:`FEATURES` it has (Linux; elsewhere
    only what ``platform`` knows)."""
    model, flags = platform.processor() or platform.machine(), set()
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    return {"cpu": model, "cpus": os.cpu_count(), "features": [f for f in FEATURES if f in flags]}


def has_fast_bf16(machine: dict) -> bool:
    """Whether bf16 matmuls run in hardware (AMX or AVX512-BF16), not emulated."""
    return bool({"amx_bf16", "avx512_bf16"} & set(machine["features"]))


def tensorflow_defaults() -> None:
    """Quiet TensorFlow's console and turn on its oneDNN kernels, which TensorFlow leaves
    off on CPUs without AVX-512 VNNI, BF16 or AMX although they train faster there too (an
    epoch of the half-width teacher took 587 s instead of 1,267 s on a 2-core AVX2-only AMD
    EPYC). Defaults only: a value the user set wins. Takes effect only before TensorFlow is
    first imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
