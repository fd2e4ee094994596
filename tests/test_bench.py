"""``lightemo-video bench`` on the bundled clip: real decoding, real Ray, real model.

Run as a subprocess, like users run it: an in-process bench (embedded Ray started and shut
down inside pytest) made the later Ctrl-C tests' subprocesses miss their SIGINT.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import DEMO_CLIP


def run_bench(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lightemo-video")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "pipeline.cli"]
    return subprocess.run([*command, "bench", "--clip", str(DEMO_CLIP), *args],
                          capture_output=True, text=True, timeout=600)


def test_bench_times_the_chosen_model_and_records_it(tmp_path):
    done = run_bench("--out", str(tmp_path), "--workers", "1", "--model", "paper", "--tta", "none")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["model"] == "lightemonet" and report["tta"] == "none"
    assert report["frames"] == report["analyze"]["frames_analysed"] == 200  # every frame
    assert report["decode_only_frames_per_s"] > 0 and report["analyze"]["frames_per_s"] > 0
    # the astronaut 0-4 s and 5.5-8 s, a coffee cup between: a face in 6.5 of 8 s (81%)
    assert 0.7 < report["analyze"]["frames_with_face"] < 0.9
    assert report["machine"]["cpus"] >= 1


def test_bench_rejects_an_unknown_model_in_one_line(tmp_path):
    done = run_bench("--out", str(tmp_path), "--model", "huge")
    assert done.returncode == 1 and "huge" in done.stderr and "no such model" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "bench.json").exists()
