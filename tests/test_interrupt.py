"""Ctrl-C during ``analyze`` leaves no partial Parquet file, and a rerun completes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pandas as pd
from lightemo_video.pipeline.outputs import STAGING

from tests.conftest import DEMO_CLIP, ROOT


def test_sigint_mid_run_leaves_no_partial_files(tmp_path):
    """This checkout's CLI in a subprocess (the installed command is tested in test_install)."""
    out = tmp_path / "out"
    cli = [sys.executable, "-c", "from lightemo_video.cli import app; app()"]
    args = [
        *cli,
        "analyze",
        str(DEMO_CLIP),
        "--out",
        str(out),
        "--sample-fps",
        "0",
        "--segment-frames",
        "10",
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    folder = out / "astronaut_demo"
    staged = out / STAGING / "astronaut_demo"  # rows go here until the video completes
    deadline = time.monotonic() + 120
    while not list(staged.glob(".tmp-detections*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until rows are being written
    assert list(staged.glob(".tmp-detections*")), "analysis never started writing"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert not list(out.rglob(".tmp-*")) and not staged.exists(), stderr
    if folder.exists():  # the signal came after its last segment: then it is complete
        assert json.loads((folder / "run.json").read_text())["status"] == "ok"
        pd.read_parquet(folder / "detections.parquet")

    done = subprocess.run(
        args[:-4] + ["--workers", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((folder / "run.json").read_text())["status"] == "ok"
