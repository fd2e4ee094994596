from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from lightemo_video.model.errors import InputError
from lightemo_video.pipeline.sources import VideoFileSource, find_videos, plan_segments, probe_video

from tests.conftest import DEMO_CLIP, missing_system_component, write_clip
from tests.media import ffmpeg, has_encoder, make_rotated, make_vfr, presentation_times


def _whole_and_segmented(info, sample_fps: float, segment_frames: int):
    whole = list(VideoFileSource(info, sample_fps))
    parts, offset = [], 0
    for segment in plan_segments(info, segment_frames, sample_fps):
        source = VideoFileSource(info, sample_fps, segment)
        parts += [(f.frame_index + offset, f.timestamp_s, f.image) for f in source]
        offset += source.frames_decoded
    return whole, parts


def test_demo_clip_probe_and_sampling():
    info = probe_video(DEMO_CLIP)
    assert (info.fps, info.frame_count, info.width, info.height) == (25.0, 200, 640, 360)
    assert info.duration_s == pytest.approx(8.0)
    frames = list(VideoFileSource(info, sample_fps=5))
    assert len(frames) == 40
    assert [f.frame_index for f in frames[:3]] == [0, 5, 10]
    assert frames[1].timestamp_s == pytest.approx(0.2)
    assert frames[0].image.shape == (360, 640, 3)


def test_segments_decode_the_same_frames_as_one_pass():
    info = probe_video(DEMO_CLIP)
    whole, parts = _whole_and_segmented(info, 0, 70)
    assert [p[0] for p in parts] == list(range(200))
    for f, (_, t, image) in zip(whole, parts, strict=True):
        assert f.timestamp_s == t
        assert np.array_equal(f.image, image)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path]:
    """Variable frame rate (30 fps and 5 fps alternating every 2 s) in the containers and
    codecs phones write: H.264 without and with B-frames, and HEVC in .mov."""
    root = tmp_path_factory.mktemp("recordings")
    made = {
        "h264": make_vfr(DEMO_CLIP, root / "vfr.mp4", extra=("-bf", "0")),
        "h264-bframes": make_vfr(DEMO_CLIP, root / "vfr-bf.mp4", extra=("-bf", "3")),
    }
    if has_encoder("libx265"):
        made["hevc-mov"] = make_vfr(
            DEMO_CLIP,
            root / "vfr.mov",
            extra=("-c:v", "libx265", "-tag:v", "hvc1", "-x265-params", "log-level=error"),
        )
    return made


@pytest.mark.parametrize("kind", ["h264", "h264-bframes", "hevc-mov"])
def test_variable_frame_rate_times_are_presentation_times(recordings, kind):
    if kind not in recordings:
        missing_system_component("this ffmpeg build has no HEVC encoder")
    path = recordings[kind]
    info = probe_video(path)
    truth = presentation_times(path)
    frames = list(VideoFileSource(info, sample_fps=0))
    assert [f.frame_index for f in frames] == list(range(len(truth)))  # every frame once
    assert len(truth) == 140  # 2 x (60 frames at 30 fps + 10 at 5 fps)
    assert np.abs(np.array([f.timestamp_s for f in frames]) - truth).max() < 0.001
    # the index/fps clock this replaces is off by seconds on such a file
    assert max(abs(i / info.fps - t) for i, t in enumerate(truth)) > 1.0


@pytest.mark.parametrize("kind", ["h264", "h264-bframes", "hevc-mov"])
@pytest.mark.parametrize("sample_fps, segment_frames", [(0, 37), (0, 150), (10, 37), (5, 11)])
def test_segmented_decoding_equals_one_pass(recordings, kind, sample_fps, segment_frames):
    if kind not in recordings:
        missing_system_component("this ffmpeg build has no HEVC encoder")
    info = probe_video(recordings[kind])
    whole, parts = _whole_and_segmented(info, sample_fps, segment_frames)
    assert len(plan_segments(info, segment_frames, sample_fps)) > 1 or segment_frames == 150
    assert [(p[0], p[1]) for p in parts] == [(f.frame_index, f.timestamp_s) for f in whole]
    for f, (_, _, image) in zip(whole, parts, strict=True):
        assert np.array_equal(f.image, image)


def test_sampling_is_even_in_presentation_time(recordings):
    info = probe_video(recordings["h264"])
    kept = [f.timestamp_s for f in VideoFileSource(info, sample_fps=5)]
    assert np.allclose(np.diff(kept), 0.2, atol=0.001) and len(kept) == 40
    # at 10 fps the 5 fps stretches can only give what they have: every frame, 0.2 s apart
    gaps = np.round(np.diff([f.timestamp_s for f in VideoFileSource(info, sample_fps=10)]), 3)
    assert set(gaps) == {0.1, 0.2}
    # each kept frame is the first at or after its k / 10 s instant
    times = presentation_times(recordings["h264"])
    instants = [k / 10 for k in range(100) if k / 10 <= times[-1] + 1e-9]
    expected = sorted({next(t for t in times if t >= k - 1e-9) for k in instants})
    assert np.allclose(
        [f.timestamp_s for f in VideoFileSource(info, sample_fps=10)], expected, atol=1e-3
    )


@pytest.mark.parametrize("degrees", [90, 270])
def test_rotation_metadata_gives_upright_frames(tmp_path, degrees):
    path = make_rotated(DEMO_CLIP, tmp_path / f"portrait-{degrees}.mp4", degrees)
    info = probe_video(path)
    assert info.rotation == degrees and (info.width, info.height) == (640, 360)
    upright = [f.image for f in VideoFileSource(probe_video(DEMO_CLIP), sample_fps=1)]
    turned = [f.image for f in VideoFileSource(info, sample_fps=1)]
    for a, b in zip(upright, turned, strict=True):
        assert b.shape == a.shape
        assert np.abs(a.astype(int) - b).mean() < 6  # the same picture, re-encoded once


def test_a_stream_copy_cut_is_not_truncated_and_a_cut_file_is(tmp_path):
    from lightemo_video.pipeline.orchestration import truncated

    cut = tmp_path / "cut.mp4"  # starts between keyframes: the container's counts are estimates
    ffmpeg("-ss", "1.3", "-i", str(DEMO_CLIP), "-t", "5.1", "-c", "copy", str(cut))
    for path in (DEMO_CLIP, cut):
        info = probe_video(path)
        source = VideoFileSource(info, sample_fps=0)
        frames = sum(1 for _ in source)
        assert frames > 100 and source.error is None
        assert not truncated(info, source.end_s), (path, info.duration_s, source.end_s)
    half = tmp_path / "half.mp4"
    half.write_bytes(DEMO_CLIP.read_bytes()[: DEMO_CLIP.stat().st_size // 2])
    info = probe_video(half)
    source = VideoFileSource(info, sample_fps=0)
    frames = sum(1 for _ in source)
    assert 0 < frames < info.frame_count
    assert truncated(info, source.end_s) or source.error


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("missing.mp4", None, "no such file"),
        ("empty.mp4", b"", "empty file (0 bytes)"),
        ("notes.mp4", b"just some text, not a video\n" * 50, "not a video file"),
        (
            "noise.avi",
            bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8)),
            "not a video file",
        ),
        (
            "photo.jpg",
            cv2.imencode(".jpg", np.full((64, 64, 3), 90, np.uint8))[1].tobytes(),
            "a still picture",
        ),
        (
            "photo.mp4",
            cv2.imencode(".png", np.full((64, 64, 3), 90, np.uint8))[1].tobytes(),
            "a still picture",
        ),
    ],
)
def test_bad_inputs_get_one_line_reasons(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        probe_video(path)
    assert str(info.value).startswith(str(path)) and reason in str(info.value)


def test_find_videos_recurses_and_reports_missing(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    clip = write_clip(tmp_path / "a" / "b" / "x.mp4", [np.zeros((32, 32, 3), np.uint8)] * 3)
    (tmp_path / "a" / "readme.txt").write_text("skip me")
    (tmp_path / "empty").mkdir()
    videos, errors = find_videos([tmp_path / "a", tmp_path / "nope", tmp_path / "empty"])
    assert videos == [clip.resolve()]
    assert [e.reason for e in errors] == ["no such file or folder", "folder holds no video files"]


@pytest.fixture
def shared_tmp():
    """A folder every user can enter (pytest's own tmp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="lightemo-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _unprivileged(fn, *args):
    """``fn(*args)`` as user nobody in a forked child when the tests run as root (root
    reads any file whatever its mode bits); the plain call otherwise."""
    if os.geteuid() != 0:
        return fn(*args)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, run, send back the pickled result, never return
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            with os.fdopen(write, "wb") as pipe:
                pipe.write(pickle.dumps(fn(*args)))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    assert data, "the unprivileged child failed"
    return pickle.loads(data)


def _find(paths):
    videos, errors = find_videos(paths)
    return videos, [(e.source, e.reason) for e in errors]


def test_dangling_links_and_unreadable_files_are_failed_inputs(shared_tmp):
    folder = shared_tmp / "in"
    folder.mkdir()
    good = write_clip(folder / "good.mp4", [np.zeros((32, 32, 3), np.uint8)] * 3)
    (folder / "gone.mp4").symlink_to(shared_tmp / "deleted.mp4")
    (folder / "notes.txt").symlink_to(shared_tmp / "deleted.txt")  # not named as a video: ignored
    locked = Path(shutil.copy(good, folder / "locked.mp4"))
    locked.chmod(0)
    named = shared_tmp / "named.mp4"
    named.symlink_to(shared_tmp / "moved.mp4")
    videos, errors = _unprivileged(_find, [folder, named])
    assert videos == [good.resolve()]
    dangling = "dangling symbolic link (its target {} does not exist)"
    assert errors == [
        (str(folder / "gone.mp4"), dangling.format(shared_tmp / "deleted.mp4")),
        (str(locked), "permission denied: the file cannot be read"),
        (str(named), dangling.format(shared_tmp / "moved.mp4")),
    ]
