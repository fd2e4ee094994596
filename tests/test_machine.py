"""The CPU description that travels with every latency and speed figure."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from lightemo_video.jobs.machine import describe, has_fast_bf16

AMX = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse avx avx2 fma
"""


def test_describe_reads_model_and_features(tmp_path):
    (tmp_path / "amx").write_text(AMX)
    (tmp_path / "epyc").write_text(EPYC)
    intel, amd = describe(tmp_path / "amx"), describe(tmp_path / "epyc")
    assert intel["cpu"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert intel["features"] == [
        "avx2",
        "avx512f",
        "avx512_vnni",
        "avx512_bf16",
        "amx_bf16",
        "amx_int8",
    ]
    assert amd == {"cpu": "AMD EPYC", "cpus": intel["cpus"], "features": ["avx2"]}
    assert has_fast_bf16(intel) and not has_fast_bf16(amd)


def test_describe_without_cpuinfo_still_names_something(tmp_path):
    described = describe(tmp_path / "missing")
    assert (
        described["cpus"] >= 1 and isinstance(described["cpu"], str) and described["features"] == []
    )


ONEDNN_IN_TRAINING = (
    "import lightemo_video.jobs.teacher\n"
    "from tensorflow.python.util import _pywrap_util_port\n"
    "print(_pywrap_util_port.IsMklEnabled())"
)


@pytest.mark.parametrize(("setting", "enabled"), [(None, "True"), ("0", "False")])
def test_training_runs_tensorflow_with_onednn_unless_the_user_says_no(setting, enabled):
    """TensorFlow leaves its faster oneDNN kernels off on AVX2-only CPUs; the training
    jobs turn them on, and a user's ``TF_ENABLE_ONEDNN_OPTS=0`` still wins."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    done = subprocess.run(
        [sys.executable, "-c", ONEDNN_IN_TRAINING], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == enabled
