from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.labels import EMOTIONS
from pipeline import aggregate, schema
from pipeline.records import FaceDetections


def _probs(label: str, p: float = 0.9) -> np.ndarray:
    row = np.full(7, (1 - p) / 6, np.float32)
    row[EMOTIONS.index(label)] = p
    return row


def _detections() -> pd.DataFrame:
    """Face 1: happy 0.0-1.9 s then sad 2.0-2.9 s (10 fps); face 2: one neutral frame at 0.5 s."""
    frames = []
    for i in range(30):
        t = i / 10
        boxes, probs, ids = [[0, 0, 10, 10]], [_probs("happy" if t < 2 else "sad")], [1]
        if i == 5:
            boxes.append([50, 50, 60, 60]), probs.append(_probs("neutral", 0.6)), ids.append(2)
        frames.append(
            FaceDetections(i, t, np.array(boxes, np.float32), np.ones(len(ids), np.float32),
                           np.array(probs), np.array(ids))
        )
    return aggregate.detection_rows("clip", frames).to_pandas()


def test_detection_rows_follow_the_schema():
    table = aggregate.detection_rows("clip", [FaceDetections.empty(0, 0.0)])
    assert table.schema.equals(schema.DETECTIONS) and table.num_rows == 0
    df = _detections()
    assert len(df) == 31
    assert df.loc[0, ["x", "y", "w", "h"]].tolist() == [0, 0, 10, 10]
    assert df.loc[0, "emotion"] == "happy" and df.loc[0, "confidence"] == pytest.approx(0.9)


def test_timeline_one_row_per_face_second():
    timeline = aggregate.timeline(_detections())
    assert list(timeline.columns) == schema.TIMELINE.names
    face1 = timeline[timeline.face_id == 1]
    assert face1["second"].tolist() == [0, 1, 2]
    assert face1["emotion"].tolist() == ["happy", "happy", "sad"]
    assert face1["frames"].tolist() == [10, 10, 10]


def test_faces_summary_shares():
    faces = aggregate.faces(_detections()).set_index("face_id")
    assert faces.loc[1, "emotion"] == "happy"
    assert faces.loc[1, "share_happy"] == pytest.approx(20 / 30)
    assert faces.loc[1, "share_sad"] == pytest.approx(10 / 30)
    assert faces.loc[2, "frames"] == 1 and faces.loc[2, "first_seen_s"] == pytest.approx(0.5)


def test_segments_are_smoothed_runs():
    segments = aggregate.segments(_detections(), smooth_s=0.5)
    face1 = segments[segments.face_id == 1]
    assert face1["emotion"].tolist() == ["happy", "sad"]
    assert face1["start_s"].tolist() == pytest.approx([0.0, 2.0])
    assert face1["end_s"].tolist() == pytest.approx([2.0, 3.0])


def test_a_gap_splits_a_segment():
    df = _detections()
    df = df[(df.timestamp_s < 0.45) | (df.timestamp_s > 1.45)]  # face unseen 0.5-1.4 s
    runs = aggregate.segments(df[df.face_id == 1], smooth_s=0.2, gap_s=0.5)
    assert runs["emotion"].tolist() == ["happy", "happy", "sad"]
    assert runs["start_s"].tolist() == pytest.approx([0.0, 1.5, 2.0])
