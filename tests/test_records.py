from __future__ import annotations

import numpy as np
import pytest
from lightemo_video.pipeline.records import FaceDetections


def _faces(n: int = 2) -> FaceDetections:
    return FaceDetections(
        3, 0.3, np.arange(n * 4, dtype=np.float32).reshape(n, 4), np.ones(n, np.float32)
    )


@pytest.mark.parametrize(
    "xyxy, score, message",
    [
        (np.zeros((2, 3), np.float32), np.ones(2, np.float32), r"xyxy must have shape \(2, 4\)"),
        (np.zeros(4, np.float32), np.ones(1, np.float32), r"xyxy must be a 2D np.ndarray"),
        (
            np.zeros((2, 4), np.float32),
            [1.0, 1.0],
            r"score must be a 1D np.ndarray with shape \(2,\), but got list",
        ),
    ],
)
def test_shapes_are_checked(xyxy, score, message):
    with pytest.raises(ValueError, match=message):
        FaceDetections(0, 0.0, xyxy, score)


def test_stages_return_new_records():
    faces = _faces()
    tracked = faces.with_ids(np.array([7, 8]))
    assert faces.face_id is None and tracked.face_id.tolist() == [7, 8]
    with pytest.raises(ValueError, match="probs must have shape"):
        faces.with_probs(np.zeros((2, 5)))
    kept = tracked.select(np.array([False, True]))
    assert len(kept) == 1 and kept.face_id.tolist() == [8]
    assert faces.equals(_faces()) and not faces.equals(tracked)
    assert len(FaceDetections.empty(0, 0.0)) == 0
