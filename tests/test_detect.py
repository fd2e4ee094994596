"""Face detectors on real photos from ../shared (skipped when absent) and on synthetic frames."""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack as DoesNotRaise
from pathlib import Path

import cv2
import numpy as np
import pytest
from lightemo_video.model.errors import LightEmoError
from lightemo_video.pipeline.detect import (
    DEFAULT_DETECTOR,
    DETECTORS,
    BlazeFaceConfig,
    BlazeFaceDetector,
    make_detector,
    score_threshold,
    ssd_anchor_centres,
    weighted_nms,
)
from lightemo_video.pipeline.records import FaceDetections, Frame

SAMPLE_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "sample_images"
# Face region of imageio_astronaut.png (512x512), drawn by hand, xyxy px.
ASTRONAUT_FACE = np.array([170, 60, 280, 185], dtype=np.float32)


def raises(message: str):
    return pytest.raises(LightEmoError, match=message)


def photo(name: str) -> Frame:
    """A ../shared/sample_images photo as a Frame, or a skip when ../shared is absent."""
    path = SAMPLE_IMAGES / name
    if not path.is_file():
        pytest.skip(f"{path} not present (../shared is optional)")
    return Frame(0, 0.0, cv2.imread(str(path)))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    wh = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None)
    inter = wh[0] * wh[1]
    return float(inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter))


@pytest.fixture(scope="module", params=list(DETECTORS))
def any_detector(request: pytest.FixtureRequest):
    return make_detector(request.param)


@pytest.fixture(scope="module")
def default_detector():
    return make_detector()


def test_import_does_not_load_tensorflow() -> None:
    code = "import sys, pipeline.detect; sys.exit('tensorflow' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_default_finds_the_astronaut_face(default_detector) -> None:
    faces = default_detector.detect(photo("imageio_astronaut.png"))
    assert len(faces) == 1
    assert iou(faces.xyxy[0], ASTRONAUT_FACE) > 0.5


@pytest.mark.parametrize(
    ("name", "count"),
    [("imageio_coffee.png", 0), ("face_recognition_two_people.jpg", 2)],
)
def test_default_counts_faces(default_detector, name: str, count: int) -> None:
    assert len(default_detector.detect(photo(name))) == count


@pytest.mark.parametrize(
    "name",
    [
        "imageio_astronaut.png",
        "face_recognition_two_people.jpg",
        "face_classification_test_image.jpg",
    ],
)
def test_output_types_and_boxes_inside_frame(any_detector, name: str) -> None:
    frame = photo(name)
    faces = any_detector.detect(frame)
    h, w = frame.image.shape[:2]
    assert len(faces) >= 1
    assert faces.xyxy.dtype == np.float32 and faces.xyxy.shape == (len(faces), 4)
    assert faces.score.dtype == np.float32 and faces.score.shape == (len(faces),)
    assert np.all((faces.score >= 0) & (faces.score <= 1))
    assert np.all(faces.xyxy >= 0) and np.all(faces.xyxy[:, [0, 2]] <= w)
    assert np.all(faces.xyxy[:, [1, 3]] <= h)
    assert np.all(faces.xyxy[:, 2:] > faces.xyxy[:, :2])
    assert faces.probs is None and faces.face_id is None


def test_black_frame_gives_empty_detections(any_detector) -> None:
    frame = Frame(7, 0.25, np.zeros((360, 640, 3), dtype=np.uint8))
    faces = any_detector.detect(frame)
    assert faces.equals(FaceDetections.empty(7, 0.25))


@pytest.mark.parametrize(
    ("config", "count"),
    [({}, 1), ({"min_score": 0.999}, 0), ({"min_face": 0.3}, 0)],  # the face is ~0.2 wide
)
def test_score_and_size_filters(config: dict, count: int) -> None:
    faces = BlazeFaceDetector(BlazeFaceConfig(**config)).detect(photo("imageio_astronaut.png"))
    assert len(faces) == count


@pytest.mark.parametrize(
    ("name", "config", "expectation"),
    [
        ("haar", {"max_side": 320}, DoesNotRaise()),
        ("blazeface-full", {"min_score": 0.7}, DoesNotRaise()),
        ("yolo", {}, raises("unknown detector 'yolo'; choose one of haar, blazeface")),
        ("haar", {"nms_iou": 0.5}, raises("bad option for detector 'haar'")),
        ("blazeface", {"min_score": 1.5}, raises(r"min_score: must be in \[0, 1\], got 1.5")),
    ],
)
def test_make_detector(name: str, config: dict, expectation) -> None:
    with expectation:
        assert hasattr(make_detector(name, **config), "detect")


def test_default_is_registered() -> None:
    assert DEFAULT_DETECTOR in DETECTORS


@pytest.mark.parametrize(
    ("size", "grids", "count"), [(128, ((8, 2), (16, 6)), 896), (192, ((4, 1),), 2304)]
)
def test_anchor_layout_matches_blazeface(size: int, grids: tuple, count: int) -> None:
    anchors = ssd_anchor_centres(size, grids)
    assert anchors.shape == (count, 2) and anchors.dtype == np.float32
    first_stride, per_cell = grids[0]
    assert np.allclose(anchors[:per_cell], first_stride / 2 / size)  # first cell's centre, repeated


def test_weighted_nms_merges_overlaps_and_keeps_separate_boxes() -> None:
    xyxy = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], dtype=np.float32)
    score = np.array([0.6, 0.9, 0.8], dtype=np.float32)
    boxes, scores = weighted_nms(xyxy, score, iou=0.3)
    assert scores.tolist() == pytest.approx([0.9, 0.8])
    assert boxes[0].tolist() == pytest.approx([1.2, 0, 11.2, 10])  # (0.9*2 + 0.6*0) / 1.5
    assert boxes[1].tolist() == [50, 50, 60, 60]


def test_weak_boxes_come_apart_and_leave_confident_boxes_unchanged() -> None:
    """Crowd frames: asking for weak boxes (tracking only) must not move a confident box,
    as merging both in one NMS would."""
    from lightemo_video.pipeline.sources import VideoFileSource, probe_video
    from lightemo_video.pipeline.track import iou_matrix

    from tests.conftest import shared_path

    crowd = probe_video(shared_path("sample_videos", "facenet_pytorch_video.mp4"))
    frames = list(VideoFileSource(crowd, 2))
    plain, with_weak = make_detector(), make_detector(weak_score=0.3)
    weak_seen = 0
    for frame in frames:
        confident, both = plain.detect(frame), with_weak.detect(frame)
        strong = both.score >= score_threshold()
        assert both.select(strong).equals(confident)
        weak = both.select(~strong)
        assert np.all(weak.score >= 0.3)
        if len(weak) and len(confident):
            assert iou_matrix(weak.xyxy, confident.xyxy).max() <= plain.config.nms_iou
        weak_seen += len(weak)
    assert weak_seen >= len(frames)  # a crowd has turned and blurred faces


def test_score_threshold_is_the_detector_preset() -> None:
    names = ("haar", "blazeface", "blazeface-full")
    assert [score_threshold(name) for name in names] == [0.3, 0.8, 0.6]


def test_a_detector_gives_the_same_faces_whatever_frames_it_saw_before() -> None:
    """A Ray worker reuses its detector across videos: a wide bright frame must leave
    nothing in the bars of the next, tall one."""
    from tests.conftest import DEMO_CLIP

    capture = cv2.VideoCapture(str(DEMO_CLIP))
    ok, image = capture.read()
    capture.release()
    assert ok
    tall = Frame(0, 0.0, np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)))
    fresh = make_detector().detect(tall)
    reused = make_detector()
    reused.detect(Frame(0, 0.0, np.full((1080, 1920, 3), 255, np.uint8)))
    again = reused.detect(tall)
    assert len(fresh) >= 1
    np.testing.assert_array_equal(again.xyxy, fresh.xyxy)
    np.testing.assert_array_equal(again.score, fresh.score)
