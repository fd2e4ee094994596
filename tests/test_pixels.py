"""On-demand conversion of decoded I420 frames: regions equal the whole frame's pixels."""

import cv2
import numpy as np
import pytest
from lightemo_video.pipeline import pixels
from lightemo_video.pipeline.records import Frame


@pytest.fixture(scope="module")
def i420() -> np.ndarray:
    """A 4:2:0 frame of colour gradients, a sharp-edged disc and sensor-like noise."""
    rng = np.random.default_rng(0)
    h, w = 90, 160
    yy, xx = np.mgrid[0:h, 0:w]
    bgr = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], axis=2).astype(np.uint8)
    cv2.circle(bgr, (100, 40), 25, (30, 200, 240), -1)
    bgr = cv2.add(bgr, rng.integers(0, 12, bgr.shape, dtype=np.uint8))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)


@pytest.mark.parametrize(
    "box", [(0, 0, 160, 90), (3, 5, 48, 61), (10, 20, 11, 21), (101, 33, 160, 90)]
)
def test_region_is_the_crop_of_the_whole_conversion(i420, box):
    x1, y1, x2, y2 = box
    whole = pixels.to_bgr(i420)
    assert np.array_equal(pixels.region_bgr(i420, x1, y1, x2, y2), whole[y1:y2, x1:x2])
    frame = Frame(0, 0.0, i420, layout="i420")
    assert np.array_equal(frame.region(x1, y1, x2, y2), whole[y1:y2, x1:x2])


def test_gray_from_luma_matches_gray_of_the_converted_frame(i420):
    gray = cv2.cvtColor(pixels.to_bgr(i420), cv2.COLOR_BGR2GRAY).astype(int)
    ours = pixels.region_gray(i420, 0, 0, 160, 90).astype(int)
    assert np.abs(ours - gray).mean() < 1.0
    assert np.percentile(np.abs(ours - gray), 99) <= 3


def test_shrunk_planes_match_shrinking_the_converted_frame(i420):
    for width, height in ((64, 36), (41, 23), (120, 70)):
        ours = pixels.shrunk_bgr(i420, width, height).astype(int)
        reference = pixels.shrink(pixels.to_bgr(i420), width, height).astype(int)
        assert ours.shape == (height, width, 3)
        assert np.abs(ours - reference).mean() < 2.0


def test_rotated_planes_equal_the_rotated_picture(i420):
    turned = pixels.rotate(i420, cv2.ROTATE_90_CLOCKWISE)
    assert np.array_equal(
        pixels.to_bgr(turned), cv2.rotate(pixels.to_bgr(i420), cv2.ROTATE_90_CLOCKWISE)
    )


def test_frames_in_either_layout_agree(i420):
    planar = Frame(3, 0.1, i420, layout="i420")
    bgr = Frame(3, 0.1, pixels.to_bgr(i420))
    assert (planar.height, planar.width) == (bgr.height, bgr.width) == (90, 160)
    assert np.array_equal(planar.image, bgr.image)
    assert np.array_equal(planar.region(5, 6, 70, 80), bgr.region(5, 6, 70, 80))
    assert (
        np.abs(planar.gray_region(5, 6, 70, 80).astype(int) - bgr.gray_region(5, 6, 70, 80)).mean()
        < 1.0
    )


def test_analysing_a_file_never_converts_whole_frames(demo_clip):
    """The detector, classifier, appearance and scene signatures read only what they need."""
    from fractions import Fraction

    from lightemo_video.pipeline.analyze import AnalyzeConfig, Stages, classify_frames
    from lightemo_video.pipeline.sources import Segment, VideoFileSource, probe_video
    from lightemo_video.pipeline.track import SceneCutDetector

    source = VideoFileSource(probe_video(demo_clip), 5, Segment(0, Fraction(0), Fraction(4)))
    scenes = SceneCutDetector()
    seen = faces = 0
    for frame, found in classify_frames(source, Stages(AnalyzeConfig(sample_fps=5))):
        scenes.is_cut(frame)
        assert frame.layout == "i420" and "image" not in vars(frame)
        seen, faces = seen + 1, faces + len(found)
    assert seen >= 15 and faces > 0


def test_bench_times_every_decoding_path(demo_clip):
    from lightemo_video.jobs.bench import decode_fps

    fps = decode_fps(demo_clip, repeats=1)
    assert set(fps) == {"pyav", "pyav_bgr", "opencv", "pyav_ready", "opencv_ready"}
    assert all(value > 0 for value in fps.values())


def test_small_gray_is_the_block_mean_in_either_layout(i420):
    planar = Frame(0, 0.0, i420, layout="i420").shrunk_gray(32, 18)
    bgr = Frame(0, 0.0, pixels.to_bgr(i420)).shrunk_gray(32, 18)
    assert planar.shape == bgr.shape == (18, 32)
    assert np.abs(planar.astype(int) - bgr).max() <= 2


@pytest.mark.parametrize("colour_range", ["tv", "pc"])
def test_a_gray_wall_reads_the_same_gray_in_limited_and_full_range_video(tmp_path, colour_range):
    """VP9 keeps full range in yuv420p: its luma must not be stretched as 16-235 is."""
    from fractions import Fraction

    from lightemo_video.pipeline.sources import Segment, VideoFileSource, probe_video

    from tests.media import ffmpeg

    clip = tmp_path / f"gray-{colour_range}.webm"
    scale = "full" if colour_range == "pc" else "tv"
    ffmpeg(
        "-y",
        "-f",
        "lavfi",
        "-i",
        "color=c=0x606060:s=64x64:d=0.4:r=5",
        "-vf",
        f"scale=out_range={scale},format=yuv420p",
        "-color_range",
        colour_range,
        "-c:v",
        "libvpx-vp9",
        "-lossless",
        "1",
        str(clip),
    )
    [frame, *_] = VideoFileSource(probe_video(clip), 0, Segment(0, Fraction(0), None))
    assert abs(float(frame.gray_region(0, 0, 64, 64).mean()) - 0x60) < 3
