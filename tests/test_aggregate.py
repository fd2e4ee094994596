from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightemo_video.model.labels import EMOTIONS
from lightemo_video.pipeline import aggregate, schema
from lightemo_video.pipeline.records import FaceDetections


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
            FaceDetections(
                i,
                t,
                np.array(boxes, np.float32),
                np.ones(len(ids), np.float32),
                np.array(probs),
                np.array(ids),
            )
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


def test_segments_are_runs_of_the_smoothed_emotion():
    segments = aggregate.segments(_detections())
    face1 = segments[segments.face_id == 1]
    assert face1["emotion"].tolist() == ["happy", "sad"]
    assert face1["start_s"].tolist() == pytest.approx([0.0, 2.0])
    assert face1["end_s"].tolist() == pytest.approx([2.0, 3.0])


def test_a_gap_splits_a_segment():
    df = _detections()
    df = df[(df.timestamp_s < 0.45) | (df.timestamp_s > 1.45)]  # face unseen 0.5-1.4 s
    runs = aggregate.segments(df[df.face_id == 1], gap_s=0.5)
    assert runs["emotion"].tolist() == ["happy", "happy", "sad"]
    assert runs["start_s"].tolist() == pytest.approx([0.0, 1.5, 2.0])


def test_every_summary_reads_the_smoothed_emotion_with_one_dominant_definition():
    """Raw rows flicker to 'fear' on every fifth frame; smoothed rows say 'happy'
    throughout. Faces, timeline and segments follow the smoothed columns, and a face's
    emotion is the one it holds in most frames (the largest share)."""
    from lightemo_video.pipeline.smoothing import Smoothing, smooth_detections

    frames = [
        FaceDetections(
            i,
            i / 10,
            np.array([[0, 0, 10, 10]], np.float32),
            np.ones(1, np.float32),
            np.array([_probs("fear" if i % 5 == 0 else "happy", 0.6)]),
            np.array([1]),
        )
        for i in range(40)
    ]
    raw = aggregate.detection_rows("clip", frames).to_pandas()
    assert (raw["smoothed_emotion"] == raw["emotion"]).all()  # before smoothing: a copy
    assert (raw["emotion"] == "fear").sum() == 8
    rows = smooth_detections(raw, Smoothing("hmm", dwell_s=2.0))
    assert list(rows.columns) == schema.DETECTIONS.names
    assert (rows["emotion"] == "fear").sum() == 8  # raw values kept under their names
    assert set(rows["smoothed_emotion"]) == {"happy"}
    faces = aggregate.faces(rows)
    assert faces.loc[0, "emotion"] == "happy" and faces.loc[0, "share_fear"] == 0
    shares = faces[[f"share_{e}" for e in EMOTIONS]].to_numpy()
    assert EMOTIONS[int(shares.argmax())] == faces.loc[0, "emotion"]
    assert set(aggregate.timeline(rows)["emotion"]) == {"happy"}
    assert aggregate.segments(rows)["emotion"].tolist() == ["happy"]
    # confidence stays the classifier's own: 0.6 on happy frames, 0.08 where it said fear
    assert aggregate.faces(rows).loc[0, "mean_confidence"] == pytest.approx(
        (32 * 0.6 + 8 * 0.4 / 6) / 40
    )
    raw_segments = aggregate.segments(
        raw.drop(columns=[c for c in raw if c.startswith("smoothed_")])
    )
    assert len(raw_segments) == 16  # files without smoothed columns: the raw flicker


def test_dominant_emotion_is_the_most_held_then_the_most_probable():
    rows = pd.DataFrame(
        {
            "face_id": [1, 1, 1, 2, 2],
            "emotion": ["sad", "sad", "happy", "happy", "sad"],
            **{e: [0.0] * 5 for e in EMOTIONS},
        }
    )
    rows.loc[[0, 1], "sad"] = 0.4
    rows.loc[2, "happy"] = 0.95
    rows.loc[3, "happy"] = 0.5
    rows.loc[4, "sad"] = 0.9
    rows["confidence"] = [0.4, 0.4, 0.95, 0.5, 0.9]
    best = aggregate.dominant(rows, ["face_id"]).set_index("face_id")
    assert best.loc[1, "emotion"] == "sad"  # two frames beat one more confident frame
    assert best.loc[1, "confidence"] == pytest.approx(0.4)  # of the frames that hold it
    assert best.loc[2, "emotion"] == "sad"  # a tie goes to the higher mean probability
    assert best.loc[2, "confidence"] == pytest.approx(0.9)


def test_a_faces_thumbnail_is_its_largest_most_confident_box():
    """Face 1 grows to 40 px at frame 3 but is barely detected there; frame 2's 30 px box,
    confidently found, is its picture (score x area: 0.9 x 900 > 0.3 x 1600)."""
    sizes, scores = [10, 20, 30, 40, 20], [0.9, 0.9, 0.9, 0.3, 0.9]
    frames = [
        FaceDetections(
            i,
            i / 10,
            np.array([[5, 6, 5 + s, 6 + s]], np.float32),
            np.array([p], np.float32),
            _probs("happy")[None],
            np.array([1]),
        )
        for i, (s, p) in enumerate(zip(sizes, scores, strict=True))
    ]
    faces = aggregate.faces(aggregate.detection_rows("clip", frames).to_pandas())
    assert list(faces.columns) == schema.FACES.names
    thumb = faces.iloc[0][["thumb_frame_index", "thumb_x", "thumb_y", "thumb_w", "thumb_h"]]
    assert thumb.tolist() == [2, 5, 6, 30, 30]


def _camera_rows(frames: int = 900, seed: int = 0) -> pd.DataFrame:
    """Three faces coming and going at 5 fps, emotions held a few seconds."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(frames):
        ids = np.flatnonzero(rng.random(3) < 0.8) + 1
        probs = np.array(
            [_probs(EMOTIONS[(i // 15 + 2 * f) % 7], 0.5 + 0.4 * rng.random()) for f in ids]
        )
        boxes = np.array([[10.0 * f, 0, 40, 40] for f in ids], np.float32).reshape(-1, 4)
        records.append(
            FaceDetections(
                i,
                i / 5,
                boxes,
                np.ones(len(ids), np.float32),
                probs.reshape(-1, 7),
                ids.astype(np.int64),
            )
        )
    return aggregate.detection_rows("cam", records).to_pandas()


@pytest.mark.parametrize("cut_s", [0.2, 37.4, 100.0, 179.8])
def test_a_timeline_extended_from_a_cut_equals_the_whole_one(cut_s):
    """A live camera recomputes only the seconds its newest part touches."""
    rows = _camera_rows()
    before = aggregate.timeline(rows[rows["timestamp_s"] < cut_s])
    pd.testing.assert_frame_equal(
        aggregate.timeline_since(before, rows, cut_s), aggregate.timeline(rows)
    )


def test_segments_do_not_depend_on_row_order():
    rows = _camera_rows()
    other = _camera_rows(seed=1).assign(video_id="another")
    shuffled = pd.concat([other, rows]).sample(frac=1.0, random_state=1)
    segments = aggregate.segments(rows)
    both = pd.concat([aggregate.segments(other), segments], ignore_index=True)
    pd.testing.assert_frame_equal(aggregate.segments(shuffled), both)
    assert segments.groupby("face_id")["start_s"].is_monotonic_increasing.all()
    assert (segments["frames"].sum(), segments["face_id"].tolist()) == (
        len(rows),
        sorted(segments["face_id"]),
    )
