from __future__ import annotations

import numpy as np
import pytest

from model.errors import InputError
from pipeline.sources import VideoFileSource, find_videos, keep_frame, probe_video
from tests.conftest import DEMO_CLIP, write_clip


@pytest.mark.parametrize(
    "fps, sample_fps, expected",
    [(30.0, 10.0, 10), (25.0, 10.0, 10), (29.97, 10.0, 10), (30.0, 0.0, 30), (10.0, 30.0, 10), (30.0, 1.0, 1)],
)
def test_sampling_picks_evenly_spaced_frames(fps, sample_fps, expected):
    kept = [i for i in range(round(fps)) if keep_frame(i, fps, sample_fps)]
    assert len(kept) == expected
    assert kept[0] == 0


def test_demo_clip_probe_and_sampling():
    info = probe_video(DEMO_CLIP)
    assert (info.fps, info.frame_count, info.width, info.height) == (25.0, 200, 640, 360)
    frames = list(VideoFileSource(info, sample_fps=5))
    assert len(frames) == 40
    assert [f.frame_index for f in frames[:3]] == [0, 5, 10]
    assert frames[1].timestamp_s == pytest.approx(0.2)
    assert frames[0].image.shape == (360, 640, 3)


def test_segments_decode_the_same_frames_as_one_pass():
    info = probe_video(DEMO_CLIP)
    whole = {f.frame_index: f.image for f in VideoFileSource(info, sample_fps=0)}
    parts = [f for start in range(0, 200, 70) for f in VideoFileSource(info, 0, start, min(start + 70, 200))]
    assert [f.frame_index for f in parts] == list(range(200))
    for f in parts[68:73]:
        assert np.array_equal(f.image, whole[f.frame_index])


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("missing.mp4", None, "no such file"),
        ("empty.mp4", b"", "empty file (0 bytes)"),
        ("notes.mp4", b"just some text, not a video\n" * 50, "not a video file"),
        ("noise.avi", bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8)), "not a video file"),
    ],
)
def test_bad_inputs_get_one_line_reasons(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        probe_video(path)
    assert str(info.value).startswith(str(path)) and reason in str(info.value)


def test_truncated_file_decodes_fewer_frames_than_declared(tmp_path):
    path = tmp_path / "cut.mp4"
    path.write_bytes(DEMO_CLIP.read_bytes()[: DEMO_CLIP.stat().st_size // 2])
    info = probe_video(path)
    source = VideoFileSource(info, sample_fps=0)
    frames = sum(1 for _ in source)
    assert 0 < frames < info.frame_count


def test_find_videos_recurses_and_reports_missing(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    clip = write_clip(tmp_path / "a" / "b" / "x.mp4", [np.zeros((32, 32, 3), np.uint8)] * 3)
    (tmp_path / "a" / "readme.txt").write_text("skip me")
    (tmp_path / "empty").mkdir()
    videos, errors = find_videos([tmp_path / "a", tmp_path / "nope", tmp_path / "empty"])
    assert videos == [clip.resolve()]
    assert [e.reason for e in errors] == ["no such file or folder", "folder holds no video files"]
