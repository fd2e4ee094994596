"""Ctrl-C during ``analyze`` leaves no partial Parquet file, and a rerun completes."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time

import pandas as pd

from tests.conftest import DEMO_CLIP, missing_system_component


def test_sigint_mid_run_leaves_no_partial_files(tmp_path):
    cli = shutil.which("lightemo-video")
    if cli is None:
        missing_system_component("the lightemo-video command is not installed")
    out = tmp_path / "out"
    args = [cli, "analyze", str(DEMO_CLIP), "--out", str(out), "--sample-fps", "0",
            "--segment-frames", "10", "--workers", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = out / "astronaut_demo"
    deadline = time.monotonic() + 120
    while not list(folder.glob(".tmp-detections*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until rows are being written
    assert list(folder.glob(".tmp-detections*")), "analysis never started writing"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert not list(folder.glob(".tmp-*")), stderr
    assert not (folder / "run.json").exists(), stderr  # the video is not marked done
    if (folder / "detections.parquet").exists():  # the signal came after its last segment:
        pd.read_parquet(folder / "detections.parquet")  # then it is complete and readable

    done = subprocess.run(args[:-4] + ["--workers", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((folder / "run.json").read_text())["status"] == "ok"
