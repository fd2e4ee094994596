"""The output layout: atomic files, a video's folder replaced as a unit, filesystem errors
as one line per video. Real Ray, real model, real files (and a real small filesystem)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from lightemo_video.pipeline.analyze import AnalyzeConfig
from lightemo_video.pipeline.orchestration import ProgressEvent, analyze_videos
from lightemo_video.pipeline.outputs import STAGING, atomic_path, swap_in, write_text
from typer.testing import CliRunner

from lightemo_video.cli import app
from tests.conftest import DEMO_CLIP, ROOT, missing_system_component

runner = CliRunner()


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = write_text(tmp_path / "report.html", "old")
    with pytest.raises(OSError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError(28, "No space left on device")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_swap_in_replaces_the_whole_folder(tmp_path):
    final = tmp_path / "out" / "demo"
    write_text(final / "stale.parquet", "old")
    write_text(final / "run.json", "{}")
    staged = tmp_path / "out" / STAGING / "demo"
    write_text(staged / "run.json", '{"status": "ok"}')
    swap_in(staged, final)
    assert _snapshot(final) == {"run.json": b'{"status": "ok"}'}  # nothing of the old one
    assert not staged.exists()


def test_only_the_outputs_module_renames_files_into_place():
    """One atomic-write helper; ``model/`` may not import ``pipeline``, so its exporter is
    the one other place that renames a finished file into place."""
    sources = [
        p for part in ("pipeline", "jobs", "lightemo_video") for p in (ROOT / part).rglob("*.py")
    ]
    renaming = {p.relative_to(ROOT).as_posix() for p in sources if "os.replace(" in p.read_text()}
    assert renaming == {"pipeline/outputs.py"}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A copy of the demo clip analysed once (2 frames/s), with plot and report. The tests
    below run in order: the last one makes the copy unreadable."""
    root = tmp_path_factory.mktemp("outputs")
    (root / "in").mkdir()
    clip = Path(shutil.copy(DEMO_CLIP, root / "in" / "demo.mp4"))
    out = root / "out"
    args = ["analyze", str(clip), "--out", str(out), "--sample-fps", "2", "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert {"timeline.png", "report.html", "detections.parquet"} <= set(_snapshot(out / "demo"))
    return clip, out, args


def test_an_interrupted_reanalysis_leaves_the_previous_result_whole(analysed):
    clip, out, _ = analysed
    before = _snapshot(out / "demo")

    def stop_after_the_first_segment(event: ProgressEvent) -> None:
        if event.frames_analysed:
            raise KeyboardInterrupt

    config = AnalyzeConfig(sample_fps=2, segment_frames=10)  # many segments: stops mid-video
    with pytest.raises(KeyboardInterrupt):
        analyze_videos(
            [clip], out, config, workers=1, force=True, on_progress=stop_after_the_first_segment
        )
    assert _snapshot(out / "demo") == before  # tables, run.json, plot and report
    assert not (out / STAGING).exists()


def test_an_input_that_became_unreadable_withdraws_its_tables(analysed):
    clip, out, args = analysed
    clip.write_bytes(b"not a video any more")
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert list(_snapshot(out / "demo")) == ["run.json"]  # no stale tables or pictures
    run = json.loads((out / "demo" / "run.json").read_text())
    assert run["status"] == "failed" and run["reason"], run
    index = (out / "report.html").read_text()
    assert 'id="failed"' in index and run["reason"] in index


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs, so the disk can really fill up."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        missing_system_component(
            f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}"
        )
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def _fill(folder: Path) -> None:
    """Take every free byte of ``folder``'s filesystem."""
    free = os.statvfs(folder)
    (folder / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize))


def test_a_full_disk_fails_each_video_in_one_line_and_keeps_their_results(small_disk, tmp_path):
    clips = [str(shutil.copy(DEMO_CLIP, tmp_path / f"{name}.mp4")) for name in ("a", "b")]
    out = small_disk / "out"
    args = ["analyze", *clips, "--out", str(out), "--sample-fps", "2", "--workers", "1"]
    assert runner.invoke(app, args).exit_code == 0
    before = {name: _snapshot(out / name) for name in ("a", "b")}
    _fill(small_disk)

    result = runner.invoke(app, [*args, "--force"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output, result.output
    for name in ("a", "b"):  # the batch went on after the first failure
        assert f"cannot write {out / name} (No space left on device)" in result.output, (
            result.output
        )
        assert _snapshot(out / name) == before[name]
    assert "2 input(s) failed" in result.output
    assert not (out / STAGING).exists()


@pytest.fixture
def two_analysed(tmp_path):
    """Two copies of the demo clip analysed once into one output folder."""
    clips = [str(shutil.copy(DEMO_CLIP, tmp_path / f"{name}.mp4")) for name in ("a", "b")]
    out = tmp_path / "out"
    args = ["analyze", *clips, "--out", str(out), "--sample-fps", "2", "--workers", "1"]
    assert runner.invoke(app, args).exit_code == 0
    return out, args


def test_a_folder_that_cannot_be_replaced_fails_alone(two_analysed):
    """``OUT/a`` made immutable (root ignores permission bits): ``a`` fails in one line,
    keeps its results, and ``b`` is re-analysed."""
    out, args = two_analysed
    if subprocess.run(["chattr", "+i", str(out / "a")], capture_output=True).returncode:
        missing_system_component(
            "chattr +i (e2fsprogs, root) failed: cannot make a folder immutable"
        )
    try:
        before = _snapshot(out / "a")
        written_b = (out / "b" / "run.json").stat().st_mtime_ns
        result = runner.invoke(app, [*args, "--force"])
    finally:
        subprocess.run(["chattr", "-i", str(out / "a")], check=True)
    assert result.exit_code == 1, result.output
    assert f"cannot write {out / 'a'} (Operation not permitted)" in result.output, result.output
    assert "Traceback" not in result.output and "1 input(s) failed" in result.output
    assert _snapshot(out / "a") == before
    assert json.loads((out / "b" / "run.json").read_text())["status"] == "ok"
    assert (out / "b" / "run.json").stat().st_mtime_ns != written_b  # b was redone
    assert (out / "b" / "report.html").is_file() and not (out / STAGING).exists()


def test_file_names_become_folder_names_every_table_and_file_system_takes(tmp_path):
    """A Latin-1 name from an old share, names that would be hidden folders (one of them
    the staging folder itself), and one full of characters that mean something to a
    plot, a link or the console: each its own visible folder, plotted, linked and shown."""
    videos = tmp_path / "in"
    videos.mkdir()
    for name in (b"caf\xe9.mp4", b"..mp4", b".staging.mp4", b"budget $1M [draft] #3.mp4"):
        shutil.copy(DEMO_CLIP, os.fsdecode(bytes(videos).rstrip(b"/") + b"/" + name))
    out = tmp_path / "out"
    args = ["analyze", str(videos), "--out", str(out), "--sample-fps", "1", "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    odd = "budget $1M [draft] #3"
    assert sorted(p.name for p in out.iterdir()) == ["_", "_staging", odd, "caf_", "report.html"]
    for folder in ("_", "_staging", "caf_", odd):
        assert json.loads((out / folder / "run.json").read_text())["status"] == "ok"
        assert (out / folder / "timeline.png").is_file() and (
            out / folder / "report.html"
        ).is_file()
    assert (
        'href="budget%20%241M%20%5Bdraft%5D%20%233/report.html"'
        in (out / "report.html").read_text()
    )
    assert "[draft]" in result.output and "Traceback" not in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and again.output.count("skipped") == 4, again.output


def test_a_video_keeps_its_folder_when_a_namesake_joins_the_batch(tmp_path):
    first, second = tmp_path / "a" / "talk.mp4", tmp_path / "b" / "talk.mp4"
    for clip in (first, second):
        clip.parent.mkdir()
        shutil.copy(DEMO_CLIP, clip)
    out = tmp_path / "out"
    common = ["--out", str(out), "--sample-fps", "1", "--workers", "1"]
    assert runner.invoke(app, ["analyze", str(first), *common]).exit_code == 0
    both = runner.invoke(app, ["analyze", str(first), str(second), *common])
    assert both.exit_code == 0, both.output
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders[0] == "talk" and len(folders) == 2 and folders[1].startswith("talk-")
    assert json.loads((out / "talk" / "run.json").read_text())["input"] == str(first)
    assert "skipped" in both.output  # the first was not analysed again
