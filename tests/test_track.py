from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from lightemo_video.pipeline.appearance import REGION_BINS, REGIONS
from lightemo_video.pipeline.records import FaceDetections
from lightemo_video.pipeline.track import (
    BoxFilter,
    ConfirmedFaces,
    FaceTracker,
    TrackerConfig,
    iou_matrix,
)

IMMEDIATE = TrackerConfig(
    confirm_frames=1, confirm_s=0.0, max_age_s=0.5
)  # every box is a face at once


def _frame(
    t: float, *boxes: tuple[float, float, float, float], score: float = 1.0
) -> FaceDetections:
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    return FaceDetections(round(t * 10), t, xyxy, np.full(len(xyxy), score, np.float32))


def _box(x: float, side: float = 50) -> tuple[float, float, float, float]:
    return (x, 0, x + side, side)


def test_iou_matrix():
    iou = iou_matrix(
        np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    )
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0]], atol=1e-6)


def test_ids_stay_with_moving_faces_and_survive_a_missed_detection():
    tracker = FaceTracker(IMMEDIATE)
    first = tracker.update(_frame(0.0, _box(0), _box(200))).face_id.tolist()
    assert first == [1, 2]
    moved = tracker.update(_frame(0.1, (205, 2, 255, 52), (4, 2, 54, 52))).face_id.tolist()
    assert moved == [2, 1]  # order of detections changed, ids follow the faces
    assert tracker.update(_frame(0.2)).face_id.tolist() == []  # a frame without faces
    assert tracker.update(_frame(0.3, (6, 3, 56, 53))).face_id.tolist() == [1]


def test_long_absence_and_scene_cut_start_new_ids():
    tracker = FaceTracker(IMMEDIATE)
    assert tracker.update(_frame(0.0, _box(0))).face_id.tolist() == [1]
    assert tracker.update(_frame(1.0, _box(0))).face_id.tolist() == [2]
    assert tracker.update(_frame(1.1, _box(0)), scene_cut=True).face_id.tolist() == [3]


def test_trackers_do_not_share_state():
    one, two = FaceTracker(IMMEDIATE), FaceTracker(IMMEDIATE)
    one.update(_frame(0.0, (0, 0, 10, 10), (50, 50, 60, 60)))
    assert two.update(_frame(0.0, (0, 0, 10, 10))).face_id.tolist() == [1]


def test_the_predicted_box_follows_a_walking_face_through_an_occlusion():
    """20 px per frame, hidden for 3 frames: where it reappears it no longer overlaps its last
    box at all, only the box predicted from its motion."""
    tracker = FaceTracker(IMMEDIATE)
    ids = [tracker.update(_frame(k / 10, _box(20 * k))).face_id.tolist() for k in range(6)]
    for k in range(6, 9):
        tracker.update(_frame(k / 10))
    assert iou_matrix(np.array([_box(20 * 9)]), np.array([_box(20 * 5)]))[0, 0] == 0
    assert ids + [tracker.update(_frame(0.9, _box(180))).face_id.tolist()] == [[1]] * 7


def test_weak_boxes_are_marked_only_near_a_face_of_the_previous_frame():
    from lightemo_video.pipeline.track import FollowedBoxes

    config = TrackerConfig()
    faces = FaceDetections(
        0,
        0.0,
        np.array([_box(0), _box(5), _box(300)], np.float32),
        np.array([0.9, 0.4, 0.4], np.float32),
    )
    started_here = FollowedBoxes(config, min_score=0.6)  # a task starting mid-video
    assert started_here.mark(faces).tolist() == [True, True, True]  # knows no past: all
    from_start = FollowedBoxes(config, min_score=0.6)
    assert from_start.mark(faces.select(np.array([0]))).tolist() == [True]  # the face alone
    turned = FaceDetections(1, 0.1, faces.xyxy + 3, np.array([0.4, 0.4, 0.4], np.float32))
    assert from_start.mark(turned).tolist() == [True, True, False]  # the far box is not
    assert from_start.mark(FaceDetections.empty(2, 0.2)).tolist() == []
    assert from_start.mark(turned).tolist() == [False, False, False]  # nothing to follow


def test_a_face_back_weakly_after_a_short_outage_keeps_its_rows():
    """Time off the clock for the tracks is off it for the weak boxes' chains too."""
    config = TrackerConfig(confirm_frames=1, confirm_s=0.0)
    tracker = FaceTracker(config, min_score=0.6)
    assert tracker.update(_frame(0.0, _box(0), score=0.9)).face_id.tolist() == [1]
    tracker.pause(4.0)
    assert tracker.track(_frame(4.1, _box(2), score=0.4)).face_id.tolist() == [1]
    unpaused = FaceTracker(config, min_score=0.6)
    unpaused.update(_frame(0.0, _box(0), score=0.9))
    assert unpaused.track(_frame(4.1, _box(2), score=0.4)).face_id.tolist() == [0]


def test_box_filter_estimates_velocity_in_pixels_per_second():
    motion = BoxFilter(np.array(_box(0), np.float64))
    for k in range(1, 20):
        motion.predict(0.04)  # 25 fps
        motion.correct(np.array(_box(4 * k), np.float64))
    assert abs(motion.x[4] - 100) < 5  # 4 px / 0.04 s
    motion.predict(0.5)
    assert abs(motion.box[0] - (4 * 19 + 50)) < 5


def test_weak_boxes_continue_a_face_as_rows_but_never_start_one():
    config = TrackerConfig(confirm_frames=1, confirm_s=0.0, max_age_s=0.3)
    tracker = FaceTracker(config, min_score=0.6)
    assert tracker.update(_frame(0.0, _box(0), score=0.9)).face_id.tolist() == [1]
    turned = [
        tracker.track(_frame(k / 10, _box(4 * k), score=0.4)).face_id.tolist() for k in range(1, 6)
    ]
    # the face turns away for 0.5 s: its weak boxes are its rows up to max_age_s after
    # the last confident one, then keep the track alive only
    assert turned == [[1], [1], [1], [0], [0]]
    assert tracker.update(_frame(0.6, _box(24), score=0.9)).face_id.tolist() == [1]
    lone = FaceTracker(config, min_score=0.6)
    assert [
        lone.track(_frame(k / 10, _box(300), score=0.5)).face_id.tolist() for k in range(5)
    ] == [[0]] * 5
    too_weak = FaceTracker(config, min_score=0.6)  # below weak_score: not even looked at
    too_weak.update(_frame(0.0, _box(0), score=0.9))
    for k in range(1, 6):
        too_weak.update(_frame(k / 10, _box(0), score=config.weak_score - 0.01))
    assert too_weak.update(_frame(0.6, _box(0), score=0.9)).face_id.tolist() == [2]


def test_weak_boxes_fill_a_new_face_once_it_confirms_but_do_not_confirm_it():
    """A face the detector finds confidently every other frame: its weak frames become its
    rows once three confident ones confirm it; two confident frames and weak ones never do."""
    scores = [0.9, 0.4, 0.9, 0.4, 0.9, 0.4]
    frames = [_frame(k / 10, _box(3 * k), score=s) for k, s in enumerate(scores)]
    buffer = ConfirmedFaces(FaceTracker(TrackerConfig(), min_score=0.6))
    rows = [(r.frame_index, int(i)) for f in frames for r in buffer.push(f) for i in r.face_id]
    rows += [(r.frame_index, int(i)) for r in buffer.flush() for i in r.face_id]
    assert rows == [(k, 1) for k in range(6)]
    scores = [0.9, 0.4, 0.9, 0.4, 0.4, 0.4, 0.4]
    frames = [_frame(k / 10, _box(3 * k), score=s) for k, s in enumerate(scores)]
    buffer = ConfirmedFaces(FaceTracker(TrackerConfig(), min_score=0.6))
    released = [r for f in frames for r in buffer.push(f)] + buffer.flush()
    assert sum(len(r) for r in released) == 0


def test_a_new_face_seen_only_weakly_after_its_first_box_does_not_hold_back_rows():
    """One confident box, then weak ones for a minute (a poster, a turned head): the track
    never confirms, and ends once no confident box has come for ``tentative_age_s``,
    so the other face's rows keep flowing (a live camera writes them as it goes)."""
    config = TrackerConfig()
    buffer = ConfirmedFaces(FaceTracker(config, min_score=0.6))
    most_held, rows = 0, []
    for k in range(600):
        scores = np.array([0.9, 0.9 if k == 0 else 0.4], np.float32)
        boxes = np.array([_box(0), _box(300)], np.float32)
        rows += [
            (r.frame_index, int(i))
            for r in buffer.push(FaceDetections(k, k / 10, boxes, scores))
            for i in r.face_id
        ]
        most_held = max(most_held, len(buffer._held))
    assert most_held <= 1 + round(10 * (config.confirm_s + config.tentative_age_s)) + 1
    assert rows == [(k, 1) for k in range(len(rows))] and len(rows) >= 590


def _confirmed_rows(frames: list[FaceDetections], config: TrackerConfig) -> list[tuple[int, int]]:
    """(frame_index, face_id) of every row batch tracking gives, in order."""
    buffer = ConfirmedFaces(FaceTracker(config))
    released = [r for f in frames for r in buffer.push(f)] + buffer.flush()
    assert [r.frame_index for r in released] == [
        f.frame_index for f in frames
    ]  # each frame once, in order
    return [(r.frame_index, int(i)) for r in released for i in r.face_id]


def test_a_face_is_confirmed_with_its_first_frames_and_false_faces_leave_nothing():
    """A real face from frame 0; one-frame and two-frame false faces at frames 1 and 4-5."""
    frames = [
        _frame(
            k / 10, _box(0), *([_box(300)] if k == 1 else []), *([_box(600)] if k in (4, 5) else [])
        )
        for k in range(10)
    ]
    rows = _confirmed_rows(frames, TrackerConfig())
    assert rows == [(k, 1) for k in range(10)]
    live = FaceTracker(TrackerConfig())
    assert [live.update(f).face_id.tolist() for f in frames[:4]] == [
        [],
        [],
        [1],
        [1],
    ]  # from confirmation on


def test_ids_are_consecutive_in_order_of_confirmation():
    frames = [
        _frame(k / 10, *([_box(0)] if k < 2 else []), *([_box(300)] if k >= 1 else []))
        for k in range(6)
    ]
    frames += [_frame(0.6 + k / 10, _box(300), _box(600)) for k in range(4)]
    rows = _confirmed_rows(frames, TrackerConfig())
    assert sorted({i for _, i in rows}) == [1, 2]  # the two-frame face at x=0 took no id
    assert {i for f, i in rows if f < 6} == {1} and (6, 2) in rows


def test_confirmation_needs_time_as_well_as_frames():
    """At 25 analysed frames per second, 3 frames span 0.08 s: not yet a face."""
    config = TrackerConfig(confirm_frames=3, confirm_s=0.2)
    fast = [
        FaceDetections(k, k * 0.04, np.array([_box(0)], np.float32), np.ones(1, np.float32))
        for k in range(7)
    ]
    assert _confirmed_rows(fast[:5], config) == []
    assert _confirmed_rows(fast, config) == [(k, 1) for k in range(7)]


def test_a_track_that_never_confirms_is_released_without_its_rows_at_the_end():
    buffer = ConfirmedFaces(FaceTracker(TrackerConfig()))
    assert buffer.push(_frame(0.0, _box(0))) == []  # held: undecided
    assert buffer.push(_frame(0.1, _box(0))) == []
    flushed = buffer.flush()
    assert [len(r) for r in flushed] == [0, 0] and [r.frame_index for r in flushed] == [0, 1]


# -- re-identification by appearance ---------------------------------------------------------


def _look(*bins: int) -> np.ndarray:
    """A signature whose every region (hair, face, chest) is the colour bins ``bins``."""
    regions = np.zeros((REGIONS, REGION_BINS), np.float32)
    regions[:, list(bins)] = 1 / len(bins)
    return regions.reshape(-1)


RED, BLUE = _look(0, 1), _look(12, 13)


def _seen(t: float, *faces: tuple[tuple[float, float, float, float], np.ndarray]) -> FaceDetections:
    """A frame whose faces carry appearance signatures."""
    record = _frame(t, *(box for box, _ in faces))
    looks = np.stack([look for _, look in faces]) if faces else np.zeros((0, REGIONS * REGION_BINS))
    return record.with_appearance(looks)


def _visit(tracker: FaceTracker, start: float, *faces, frames: int = 3) -> list[list[int]]:
    """``faces`` (box, look) seen for ``frames`` frames 0.1 s apart; the ids per frame."""
    return [tracker.update(_seen(start + k / 10, *faces)).face_id.tolist() for k in range(frames)]


@pytest.mark.parametrize(
    ("away_s", "look", "config", "returning_id"),
    [
        (2.0, RED, IMMEDIATE, 1),  # left and came back elsewhere: the same person
        (30.0, RED, IMMEDIATE, 1),
        (2.0, BLUE, IMMEDIATE, 2),  # someone else
        (61.0, RED, IMMEDIATE, 2),  # beyond the gallery window
        (2.0, RED, replace(IMMEDIATE, reid_window_s=0.0), 2),  # re-identification off
    ],
)
def test_a_face_that_returns_takes_its_old_id_only_if_it_looks_alike(
    away_s, look, config, returning_id
):
    tracker = FaceTracker(config)
    assert _visit(tracker, 0.0, (_box(0), RED)) == [[1]] * 3
    back = _visit(tracker, 0.2 + away_s, (_box(400), look))
    assert back == [[returning_id]] * 3


def test_two_people_seen_together_never_share_an_id():
    """Twins (identical looks) on screen together keep two ids; when both have gone and one
    comes back it could be either, so it gets a new id; a returning look-alike takes an
    old id at most once."""
    tracker = FaceTracker(IMMEDIATE)
    assert _visit(tracker, 0.0, (_box(0), RED), (_box(300), RED)) == [[1, 2]] * 3
    assert _visit(tracker, 5.0, (_box(150), RED)) == [[3]] * 3  # ambiguous: 1 or 2
    tracker = FaceTracker(IMMEDIATE)
    _visit(tracker, 0.0, (_box(0), RED))
    assert _visit(tracker, 5.0, (_box(100), RED), (_box(300), RED)) == [[1, 2]] * 3


def test_a_lost_face_seen_again_elsewhere_takes_its_id_before_its_track_ends():
    """Occluded, then found where its motion did not predict (no overlap) within
    ``max_age_s``: the lost track hands over its id and ends, so no frame has it twice."""
    tracker = FaceTracker(replace(IMMEDIATE, max_age_s=2.0))
    _visit(tracker, 0.0, (_box(0), RED))
    assert _visit(tracker, 0.6, (_box(400), RED), frames=5) == [[1]] * 5
    assert tracker.update(_seen(1.1, (_box(0), BLUE), (_box(400), RED))).face_id.tolist() == [2, 1]


def test_the_gallery_outlives_the_tracks_and_a_pause():
    """A camera back after a long outage ends every track; its faces stay recognisable."""
    tracker = FaceTracker(IMMEDIATE)
    _visit(tracker, 0.0, (_box(0), RED))
    tracker.end_tracks()
    tracker.pause(100.0)  # an outage off the clock does not age the gallery either
    assert _visit(tracker, 100.5, (_box(0), RED)) == [[1]] * 3


def test_a_returning_face_gets_its_old_id_from_its_first_held_frame():
    tracking = ConfirmedFaces(FaceTracker())  # 3 frames over 0.2 s to confirm
    out = [r for k in range(4) for r in tracking.push(_seen(k / 10, (_box(0), RED)))]
    out += [r for k in range(4) for r in tracking.push(_seen(3.0 + k / 10, (_box(300), RED)))]
    out += tracking.flush()
    assert [r.face_id.tolist() for r in out if len(r)] == [[1]] * 8
