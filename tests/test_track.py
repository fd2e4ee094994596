from __future__ import annotations

import numpy as np

from pipeline.records import FaceDetections
from pipeline.track import IouTracker, TrackerConfig, iou_matrix


def _frame(t: float, *boxes: tuple[float, float, float, float]) -> FaceDetections:
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    return FaceDetections(int(t * 10), t, xyxy, np.ones(len(xyxy), np.float32))


def test_iou_matrix():
    iou = iou_matrix(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0]], atol=1e-6)


def test_ids_stay_with_moving_faces_and_survive_a_missed_detection():
    tracker = IouTracker(TrackerConfig(max_age_s=0.5))
    a, b = (0, 0, 50, 50), (200, 0, 250, 50)
    first = tracker.update(_frame(0.0, a, b)).face_id.tolist()
    assert first == [1, 2]
    moved = tracker.update(_frame(0.1, (205, 2, 255, 52), (4, 2, 54, 52))).face_id.tolist()
    assert moved == [2, 1]  # order of detections changed, ids follow the faces
    assert tracker.update(_frame(0.2)).face_id.tolist() == []  # a frame without faces
    assert tracker.update(_frame(0.3, (6, 3, 56, 53))).face_id.tolist() == [1]


def test_long_absence_and_scene_cut_start_new_ids():
    tracker = IouTracker(TrackerConfig(max_age_s=0.5))
    box = (0, 0, 50, 50)
    assert tracker.update(_frame(0.0, box)).face_id.tolist() == [1]
    assert tracker.update(_frame(1.0, box)).face_id.tolist() == [2]
    assert tracker.update(_frame(1.1, box), scene_cut=True).face_id.tolist() == [3]


def test_trackers_do_not_share_state():
    one, two = IouTracker(), IouTracker()
    one.update(_frame(0.0, (0, 0, 10, 10), (50, 50, 60, 60)))
    assert two.update(_frame(0.0, (0, 0, 10, 10))).face_id.tolist() == [1]
