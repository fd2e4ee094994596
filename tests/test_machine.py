"""The CPU description that travels with every latency and speed figure."""

from __future__ import annotations

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
