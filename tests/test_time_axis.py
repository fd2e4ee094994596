"""The time axis end to end: ``analyze`` on real Ray over phone-like recordings.

Times are presentation times checked against ffmpeg's own reading; segmenting never
changes a row; portrait videos are analysed upright; the annotated video keeps the times.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lightemo_video.pipeline.analyze import AnalyzeConfig
from lightemo_video.pipeline.annotate import annotate_video
from lightemo_video.pipeline.orchestration import analyze_videos, init_ray

from tests.conftest import DEMO_CLIP
from tests.media import make_rotated, make_vfr, presentation_times


@pytest.fixture(scope="module")
def ray_local():
    import ray

    init_ray(2, None)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def vfr(tmp_path_factory) -> Path:
    return make_vfr(
        DEMO_CLIP, tmp_path_factory.mktemp("vfr") / "phone.mp4", extra=("-bf", "3"), loops=1
    )


def _analyze(path: Path, out: Path, **config) -> tuple[pd.DataFrame, dict]:
    [report] = analyze_videos([path], out, AnalyzeConfig(**config), force=True)
    assert report.status == "ok", report.reason
    folder = out / report.video_id
    return pd.read_parquet(folder / "detections.parquet"), json.loads(
        (folder / "run.json").read_text()
    )


@pytest.mark.parametrize("sample_fps", [0, 5])
def test_segmented_runs_are_row_identical_with_presentation_times(
    ray_local, vfr, tmp_path, sample_fps
):
    whole, run = _analyze(vfr, tmp_path / "whole", sample_fps=sample_fps, segment_frames=100_000)
    assert run["segments"] == 1 and not run["warnings"]
    truth = presentation_times(vfr)
    assert run["frames_decoded"] == len(truth) == 280  # 4 x (60 frames at 30 fps + 10 at 5 fps)
    times = whole.drop_duplicates("frame_index").set_index("frame_index")["timestamp_s"]
    assert np.abs(times.to_numpy() - np.array(truth)[times.index]).max() < 0.001
    for segment_frames in (37, 150):
        split, run = _analyze(
            vfr,
            tmp_path / f"split{segment_frames}",
            sample_fps=sample_fps,
            segment_frames=segment_frames,
        )
        assert run["segments"] > 1
        pd.testing.assert_frame_equal(split, whole)


def test_sampling_follows_presentation_time(ray_local, vfr, tmp_path):
    rows, run = _analyze(vfr, tmp_path, sample_fps=5, segment_frames=37)
    assert run["frames_analysed"] == 80  # 16 s at 5 analysed frames/s, however the rate varies
    times = np.sort(rows["timestamp_s"].unique())
    steps = np.diff(times) / 0.2  # face-free shots leave longer gaps, still on the 0.2 s grid
    assert len(times) >= 60 and np.allclose(steps, np.round(steps), atol=0.005)
    assert np.median(steps) == pytest.approx(1.0)


def test_portrait_video_is_analysed_upright(ray_local, tmp_path):
    path = make_rotated(DEMO_CLIP, tmp_path / "portrait.mp4", 90)
    upright, _ = _analyze(DEMO_CLIP, tmp_path / "upright", sample_fps=5)
    rows, run = _analyze(path, tmp_path / "out", sample_fps=5)
    assert (run["width"], run["height"], run["rotation"]) == (640, 360, 90)
    assert len(rows) >= 0.9 * len(upright) > 20  # a sideways face is rarely found
    both = rows.merge(upright, on="frame_index", suffixes=("", "_upright"))
    assert len(both) >= 0.9 * len(upright)
    assert (both["x"] - both["x_upright"]).abs().median() < 8  # displayed coordinates
    assert (both["y"] - both["y_upright"]).abs().median() < 8
    annotated = annotate_video(tmp_path / "out" / run["video_id"])
    from lightemo_video.pipeline.sources import VideoFileSource, probe_video

    info = probe_video(annotated)
    assert (info.width, info.height, info.rotation) == (640, 360, 0)
    first = next(iter(VideoFileSource(info, 0))).image
    original = next(iter(VideoFileSource(probe_video(DEMO_CLIP), 0))).image
    assert np.abs(first.astype(int) - original).mean() < 10  # upright, boxes aside


def test_annotated_video_keeps_variable_frame_times(ray_local, vfr, tmp_path):
    _, run = _analyze(vfr, tmp_path, sample_fps=10)
    annotated = annotate_video(tmp_path / run["video_id"])
    assert np.abs(np.array(presentation_times(annotated)) - presentation_times(vfr)).max() < 0.001
