"""How ``analyze`` fails: one line naming the path and the reason, never a traceback;
unusable outputs found before Ray starts; SIGTERM handled as Ctrl-C; derived files made
for videos already analysed. Real Ray, real model, real files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from lightemo_video.pipeline.outputs import STAGING
from typer.testing import CliRunner

from lightemo_video.cli import app
from tests.conftest import DEMO_CLIP, ROOT, missing_system_component

runner = CliRunner()
# Port 9 (discard) on loopback answers nobody: any attempt to start Ray fails with
# "cannot connect to Ray", so an error about --out proves it came first.
NO_RAY = ["--ray-address", "127.0.0.1:9"]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody can write into; for root (who ignores mode bits) also immutable."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = os.geteuid() == 0
    if immutable and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        missing_system_component(
            "chattr +i (e2fsprogs) failed: cannot make a folder read-only for root"
        )
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def _one_line_error(result, path, reason: str) -> None:
    assert result.exit_code == 1, result.output
    assert f"error: {path}: {reason}" in result.output, result.output
    assert "Traceback" not in result.output and "cannot connect to Ray" not in result.output


def test_out_that_is_a_file_is_reported_before_ray(tmp_path):
    out = tmp_path / "results.csv"
    out.write_text("a file, not a folder\n")
    result = runner.invoke(app, ["analyze", str(DEMO_CLIP), "--out", str(out), *NO_RAY])
    _one_line_error(result, out, "is a file, not a folder")
    assert out.read_text() == "a file, not a folder\n"


def test_out_below_a_file_is_reported_before_ray(tmp_path):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out"
    result = runner.invoke(app, ["analyze", str(DEMO_CLIP), "--out", str(out), *NO_RAY])
    _one_line_error(result, out, f"cannot create it: {tmp_path / 'file'} is a file, not a folder")


def test_monitor_out_that_is_a_file_is_reported_before_ray(tmp_path):
    out = tmp_path / "cameras"
    out.write_text("x")
    result = runner.invoke(app, ["monitor", "rtsp://127.0.0.1:9/live", "--out", str(out), *NO_RAY])
    _one_line_error(result, out, "is a file, not a folder")


def test_read_only_out_is_reported_before_ray(read_only_folder):
    result = runner.invoke(
        app, ["analyze", str(DEMO_CLIP), "--out", str(read_only_folder), *NO_RAY]
    )
    _one_line_error(result, read_only_folder, "cannot write here (")
    assert not list(read_only_folder.iterdir())


def test_dangling_link_in_an_input_folder_is_a_failed_input(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "gone.mp4").symlink_to(tmp_path / "deleted.mp4")
    result = runner.invoke(
        app, ["analyze", str(tmp_path / "in"), "--out", str(tmp_path / "out"), *NO_RAY]
    )
    _one_line_error(result, tmp_path / "in" / "gone.mp4", "dangling symbolic link")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A folder with the demo clip and a dangling link, analysed once (2 frames/s)."""
    root = tmp_path_factory.mktemp("analysed")
    (root / "in").mkdir()
    shutil.copy(DEMO_CLIP, root / "in" / "demo.mp4")
    (root / "in" / "gone.mp4").symlink_to(root / "deleted.mp4")
    out = root / "out"
    args = ["analyze", str(root / "in"), "--out", str(out), "--sample-fps", "2", "--workers", "1"]
    return args, out, runner.invoke(app, args)


def test_a_dangling_link_fails_alone_and_the_rest_completes(analysed):
    _, out, result = analysed
    assert result.exit_code == 1, result.output
    assert (
        "gone.mp4: dangling symbolic link" in result.output and "1 input(s) failed" in result.output
    )
    assert json.loads((out / "demo" / "run.json").read_text())["status"] == "ok"
    assert not (out / "demo" / "annotated.mp4").exists()


def test_annotate_on_an_analysed_video_makes_the_missing_files_only(analysed):
    args, out, _ = analysed
    folder = out / "demo"
    (folder / "timeline.png").unlink()
    kept = {name: (folder / name).stat().st_mtime_ns for name in ("detections.parquet", "run.json")}
    result = runner.invoke(app, [*args, "--annotate"])
    assert "skipped" in result.output, result.output
    assert {name: (folder / name).stat().st_mtime_ns for name in kept} == kept  # not re-analysed
    assert (folder / "annotated.mp4").stat().st_size > 0
    assert (folder / "timeline.png").stat().st_size > 0
    assert 'src="annotated.mp4"' in (folder / "report.html").read_text()  # the page shows it
    before = (folder / "annotated.mp4").stat().st_mtime_ns
    again = runner.invoke(app, [*args, "--annotate"])
    assert "skipped" in again.output
    assert (folder / "annotated.mp4").stat().st_mtime_ns == before  # complete: nothing redone


def test_sigterm_is_handled_as_ctrl_c(tmp_path):
    """The worktree's CLI in a subprocess; SIGTERM once the first video is done and the
    second is being written (run in the foreground: see test_interrupt.py)."""
    videos = tmp_path / "in"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(DEMO_CLIP, videos / name)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-c",
        "from lightemo_video.cli import app; app()",
        "analyze",
        str(videos),
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
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    staged_b = out / STAGING / "b"  # where b's rows go until it completes
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "a" / "run.json").exists() and list(staged_b.glob(".tmp-detections*")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    assert list(staged_b.glob(".tmp-detections*")), "the second video never started writing"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "terminated (SIGTERM): finished videos are kept" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    assert "Token authentication" not in stderr, stderr  # Ray's notice for its own cluster
    assert json.loads((out / "a" / "run.json").read_text())["status"] == "ok"
    assert (out / "a" / "detections.parquet").is_file()
    assert not (out / "b").exists() and not (out / STAGING).exists()
