"""``lightemo-video analyze`` and ``export`` end to end: real Ray, real model, real files."""

from __future__ import annotations

import json
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from lightemo_video.model.labels import EMOTIONS
from lightemo_video.pipeline import schema
from typer.testing import CliRunner

from lightemo_video.cli import app
from tests.conftest import DEMO_CLIP, write_clip
from tests.media import ffmpeg

runner = CliRunner()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One folder run with a good clip, a corrupt file, a text file named .mp4, an empty
    file and a truncated copy, analysed once on an embedded local Ray."""
    root = tmp_path_factory.mktemp("batch")
    videos = root / "videos"
    (videos / "nested").mkdir(parents=True)
    shutil.copy(DEMO_CLIP, videos / "nested" / "demo.mp4")
    (videos / "corrupt.mp4").write_bytes(bytes(range(256)) * 400)
    (videos / "notes.mp4").write_text("not a video\n")
    (videos / "empty.mkv").write_bytes(b"")
    (videos / "README.txt").write_text("ignored: not a video suffix")
    write_clip(videos / "blank.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 12)
    out = root / "out"
    result = runner.invoke(
        app, ["analyze", str(videos), "--out", str(out), "--workers", "2", "--segment-frames", "60"]
    )
    return videos, out, result


def test_bad_files_fail_alone_and_the_rest_completes(batch):
    _, out, result = batch
    assert result.exit_code == 1, result.output
    assert "3 input(s) failed" in result.output
    for name, reason in [
        ("corrupt", "not a video file"),
        ("notes", "not a video file"),
        ("empty", "empty file (0 bytes)"),
    ]:
        run = json.loads((out / name / "run.json").read_text())
        assert run["status"] == "failed" and reason in run["reason"]
        assert not (out / name / "detections.parquet").exists()
        assert f"{name}" in result.output and reason in result.output
    assert "Traceback" not in result.output
    assert json.loads((out / "demo" / "run.json").read_text())["status"] == "ok"


def test_a_video_without_faces_completes_with_a_warning(batch):
    _, out, result = batch
    run = json.loads((out / "blank" / "run.json").read_text())
    assert run["status"] == "ok" and run["faces"] == 0 and run["warnings"] == ["no faces found"]
    assert "blank.mp4: no faces found" in result.output
    assert pd.read_parquet(out / "blank" / "detections.parquet").empty


def test_outputs_follow_the_schema(batch):
    _, out, _ = batch
    folder = out / "demo"
    detections = pd.read_parquet(folder / "detections.parquet")
    assert list(detections.columns) == schema.DETECTIONS.names
    assert list(detections.columns)[:9] == [
        "video_id",
        "frame_index",
        "timestamp_s",
        "face_id",
        "x",
        "y",
        "w",
        "h",
        "det_score",
    ]
    assert set(EMOTIONS) <= set(detections.columns)
    run = json.loads((folder / "run.json").read_text())
    assert run["frames_decoded"] == 200 and run["frames_analysed"] == 80
    assert run["segments"] == 4 and run["rows"] == len(detections)
    assert {"model", "detector", "versions", "parameters", "timings"} <= set(run)
    assert detections["frame_index"].is_monotonic_increasing
    assert detections["face_id"].iloc[0] == 1  # one id across the 60-frame segments
    assert (detections[detections.timestamp_s < 3.9]["face_id"] == 1).all()
    timeline = pd.read_parquet(folder / "timeline.parquet")
    assert list(timeline.columns) == schema.TIMELINE.names
    assert timeline["frames"].sum() == len(detections)
    faces = pd.read_parquet(folder / "faces.parquet")
    assert list(faces.columns) == schema.FACES.names
    assert len(faces) == run["faces"] == detections["face_id"].nunique()
    total = duckdb.sql(f"select count(*) from '{folder}/detections.parquet'").fetchall()[0][0]
    assert total == len(detections)
    assert not list(folder.glob(".tmp-*"))


def test_rerun_skips_finished_work_and_force_redoes_it(batch):
    videos, out, _ = batch
    good = videos / "nested" / "demo.mp4"
    before = (out / "demo" / "detections.parquet").stat().st_mtime_ns
    again = runner.invoke(app, ["analyze", str(good), "--out", str(out), "--workers", "1"])
    assert again.exit_code == 0, again.output
    assert "skipped" in again.output
    assert (out / "demo" / "detections.parquet").stat().st_mtime_ns == before
    changed = runner.invoke(
        app, ["analyze", str(good), "--out", str(out), "--workers", "1", "--sample-fps", "5"]
    )
    assert changed.exit_code == 0, changed.output
    run = json.loads((out / "demo" / "run.json").read_text())
    assert run["frames_analysed"] == 40 and run["parameters"]["sample_fps"] == 5


@pytest.mark.parametrize(
    "level, rows_file",
    [("frame", "detections"), ("second", "timeline"), ("face", "faces"), ("segment", None)],
)
@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_round_trips(batch, tmp_path, level, rows_file, fmt):
    _, out, _ = batch
    target = tmp_path / f"export.{fmt}"
    result = runner.invoke(
        app, ["export", str(out / "demo"), "--format", fmt, "--level", level, "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    back = {"csv": pd.read_csv, "json": pd.read_json, "parquet": pd.read_parquet}[fmt](target)
    if rows_file:
        expected = pd.read_parquet(out / "demo" / f"{rows_file}.parquet")
        assert len(back) == len(expected)
        assert back["face_id"].tolist() == expected["face_id"].tolist()
    else:
        assert {"face_id", "emotion", "start_s", "end_s"} <= set(back.columns)
        assert (back["end_s"] >= back["start_s"]).all()


def test_export_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["export", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 1
    assert "not an analysed video folder" in result.output and "Traceback" not in result.output


def test_missing_path_and_bad_options():
    result = runner.invoke(app, ["analyze", "/no/such/video.mp4"])
    assert result.exit_code == 1 and "/no/such/video.mp4: no such file or folder" in result.output
    result = runner.invoke(app, ["analyze", "/no/[bold]such[/bold]/video.mp4"])  # not markup
    assert "/no/[bold]such[/bold]/video.mp4: no such file or folder" in result.output
    result = runner.invoke(app, ["analyze", str(DEMO_CLIP), "--detector", "nope"])
    assert result.exit_code == 1 and "unknown detector 'nope'" in result.output
    result = runner.invoke(app, ["analyze", str(DEMO_CLIP), "--model", "nope"])
    assert result.exit_code == 1 and "nope: no such model" in result.output
    result = runner.invoke(app, ["analyze", str(DEMO_CLIP), "--tta", "rotate"])
    assert (
        result.exit_code == 1 and "--tta: unknown test-time augmentation 'rotate'" in result.output
    )


def test_test_time_augmentation_is_recorded_and_changes_results(tmp_path):
    # plus: the default FER+ model is nearly certain of the astronaut's smile either way
    args = [
        "analyze",
        str(DEMO_CLIP),
        "--out",
        str(tmp_path),
        "--sample-fps",
        "2",
        "--workers",
        "1",
        "--model",
        "plus",
    ]
    probs = {}
    for tta in ("none", "flip"):
        result = runner.invoke(app, [*args, "--tta", tta])
        assert result.exit_code == 0 and "skipped" not in result.output, result.output
        run = json.loads((tmp_path / "astronaut_demo" / "run.json").read_text())
        assert run["model"]["test_time_augmentation"] == tta and run["parameters"]["tta"] == tta
        probs[tta] = pd.read_parquet(tmp_path / "astronaut_demo" / "detections.parquet")[
            ["happy", "neutral"]
        ]
    assert len(probs["none"]) == len(probs["flip"]) > 0
    assert not np.allclose(probs["none"].to_numpy(), probs["flip"].to_numpy(), atol=1e-3)


def test_a_container_longer_than_its_video_reports_where_the_frames_end(tmp_path):
    """Audio running 8 s past the picture: the container says 10 s, the frames end at 2 s
    (segments past them decode nothing and must not count)."""
    clip = tmp_path / "long_audio.mkv"
    ffmpeg(
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=160x120:r=10:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=d=10",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(clip),
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "analyze",
            str(clip),
            "--out",
            str(out),
            "--sample-fps",
            "0",
            "--segment-frames",
            "10",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    run = json.loads((out / "long_audio" / "run.json").read_text())
    assert run["frames_decoded"] == 20 and abs(run["duration_s"] - 2.0) < 0.2, run
    assert "decoding ended at 2.0 s of 10.0 s declared" in result.output
