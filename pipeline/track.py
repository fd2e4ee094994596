"""Give each face a ``face_id`` that stays the same while it is on screen.

IoU between each live track's last box and the new boxes, matched one-to-one with the
Hungarian algorithm. A track survives ``max_age_s`` without a match (a missed detection
or two), and every track ends at a scene cut, so a new shot starts new ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from pipeline.records import FaceDetections


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings.

    Attributes:
        iou_threshold: minimum overlap to continue a track. Lower follows fast motion
            at low sample rates but risks swapping ids between nearby faces.
        max_age_s: how long a track waits for its face to come back. Longer bridges
            missed detections and brief occlusions; too long can hand a departed face's
            id to a newcomer at the same spot.
    """

    iou_threshold: float = 0.3
    max_age_s: float = 1.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (n, 4) and b (m, 4), xyxy; float32 (n, m)."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def match_boxes(a: np.ndarray, b: np.ndarray, iou_threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs (i, j) of boxes a[i], b[j] maximising total IoU, each >= threshold."""
    if len(a) == 0 or len(b) == 0:
        return []
    iou = iou_matrix(a, b)
    rows, cols = linear_sum_assignment(-iou)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if iou[i, j] >= iou_threshold]


@dataclass
class _Track:
    face_id: int
    box: np.ndarray
    last_seen_s: float


@dataclass
class IouTracker:
    """Per-video (or per-stream) tracker; all state lives in the instance.

    Call :meth:`update` once per analysed frame, in time order, even when the frame has
    no faces, so tracks age correctly. Ids start at ``first_id`` and only grow.
    """

    config: TrackerConfig = field(default_factory=TrackerConfig)
    first_id: int = 1
    _tracks: list[_Track] = field(default_factory=list, init=False)
    _next_id: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._next_id = self.first_id

    def update(self, faces: FaceDetections, scene_cut: bool = False) -> FaceDetections:
        """Return ``faces`` with ``face_id`` set.

        Args:
            faces: this frame's faces.
            scene_cut: True when this frame starts a new shot; every live track ends.
        """
        now = faces.timestamp_s
        if scene_cut:
            self._tracks = []
        self._tracks = [t for t in self._tracks if now - t.last_seen_s <= self.config.max_age_s]
        ids = np.zeros(len(faces), dtype=np.int64)
        previous = np.stack([t.box for t in self._tracks]) if self._tracks else np.zeros((0, 4))
        matched = set()
        for i, j in match_boxes(previous, faces.xyxy, self.config.iou_threshold):
            track = self._tracks[i]
            track.box, track.last_seen_s = faces.xyxy[j].copy(), now
            ids[j] = track.face_id
            matched.add(j)
        for j in range(len(faces)):
            if j not in matched:
                ids[j] = self._next_id
                self._tracks.append(_Track(self._next_id, faces.xyxy[j].copy(), now))
                self._next_id += 1
        return faces.with_ids(ids)


class SceneCutDetector:
    """Flags a new shot when a frame's gray histogram stops resembling the last one.

    Args:
        threshold: histogram correlation below which a cut is declared. Higher catches
            soft cuts but may split a shot on a fast camera pan or a flash.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.last_look: np.ndarray | None = None  # signature of the last frame seen

    def is_cut(self, image: np.ndarray) -> bool:
        """True if ``image`` (uint8 BGR (h, w, 3)) starts a new shot."""
        look = self.signature(image)
        cut = self.differ(self.last_look, look)
        self.last_look = look
        return cut

    def differ(self, before: np.ndarray | None, after: np.ndarray | None) -> bool:
        """True if two frames' signatures belong to different shots (False if one is missing)."""
        if before is None or after is None:
            return False
        return bool(cv2.compareHist(before, after, cv2.HISTCMP_CORREL) < self.threshold)

    @staticmethod
    def signature(image: np.ndarray) -> np.ndarray:
        """A frame's normalised 32-bin gray histogram (small enough to send between processes)."""
        small = cv2.resize(image, (64, 36), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        hist = cv2.calcHist([gray], [0], None, [32], [0, 256])
        cv2.normalize(hist, hist)
        return hist
