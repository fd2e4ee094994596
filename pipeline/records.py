"""The one record that travels between stages: the faces found in one frame."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Literal

import cv2
import numpy as np
from lightemo_video.model.labels import NUM_CLASSES
from lightemo_video.pipeline import pixels


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded (and sampled) frame.

    Pixels stay as decoded and each stage asks for what it needs (``shrunk``, ``region``,
    ``gray_region``, or the whole ``image``), converted on demand: a file's frames arrive
    as I420 planes, and converting all of a frame to BGR cost more than decoding it.

    Attributes:
        frame_index: index in decoded order, 0-based, counting every frame of the source.
        timestamp_s: seconds since the start of the video or stream.
        pixels: uint8 (h, w, 3) BGR, or (h * 3 / 2, w) I420 when ``layout`` is "i420".
        layout: "bgr" or "i420" (see ``pipeline.pixels``).
    """

    frame_index: int
    timestamp_s: float
    pixels: np.ndarray
    layout: Literal["bgr", "i420"] = field(default="bgr", kw_only=True)

    @property
    def height(self) -> int:
        return self.pixels.shape[0] * 2 // 3 if self.layout == "i420" else self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @functools.cached_property
    def image(self) -> np.ndarray:
        """The whole frame, uint8 (h, w, 3) BGR."""
        return pixels.to_bgr(self.pixels) if self.layout == "i420" else self.pixels

    def region(self, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
        """BGR pixels of rows ``y1:y2``, columns ``x1:x2`` (inside the frame): exactly
        ``image[y1:y2, x1:x2]``, without converting the rest."""
        if self.layout == "i420" and "image" not in self.__dict__:
            return pixels.region_bgr(self.pixels, x1, y1, x2, y2)
        return self.image[y1:y2, x1:x2]

    def gray_region(self, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
        """Gray pixels (h, w) of rows ``y1:y2``, columns ``x1:x2`` (inside the frame)."""
        if self.layout == "i420":
            return pixels.region_gray(self.pixels, x1, y1, x2, y2)
        return cv2.cvtColor(np.ascontiguousarray(self.pixels[y1:y2, x1:x2]), cv2.COLOR_BGR2GRAY)

    def shrunk_gray(self, width: int, height: int) -> np.ndarray:
        """A small gray copy of the whole frame, ``width`` x ``height``, each pixel the
        mean of its block (``INTER_AREA``): a steady summary of the picture."""
        if self.layout == "i420":
            luma = self.pixels[: self.height]
            return cv2.LUT(
                cv2.resize(luma, (width, height), interpolation=cv2.INTER_AREA), pixels.Y_TO_GRAY
            )
        small = cv2.resize(self.pixels, (width, height), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)

    def shrunk(self, width: int, height: int) -> np.ndarray:
        """A small BGR copy of the whole frame, ``width`` x ``height`` (aspect not kept)."""
        if self.layout == "i420":
            return pixels.shrunk_bgr(self.pixels, width, height)
        return pixels.shrink(self.pixels, width, height)


@dataclass(frozen=True, eq=False)
class FaceDetections:
    """Faces in one analysed frame, as columns.

    Attributes:
        frame_index: index of the frame in its video or stream (0-based, decoded order).
        timestamp_s: time of the frame since the start of the video/stream, seconds.
        xyxy: float32 (n, 4) boxes in pixels, x1 y1 x2 y2.
        score: float32 (n,) detector confidence in [0, 1].
        probs: float32 (n, 7) emotion probabilities in ``EMOTIONS`` order, or None
            before classification.
        face_id: int64 (n,) track ids, or None before tracking.
        appearance: float32 (n, d) appearance signatures (``pipeline.appearance``), or
            None; computed where the pixels are, so a tracker without them can re-identify.

    Stages never modify a record: they return a new one (``dataclasses.replace``).
    """

    frame_index: int
    timestamp_s: float
    xyxy: np.ndarray
    score: np.ndarray
    probs: np.ndarray | None = None
    face_id: np.ndarray | None = None
    appearance: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.score) if np.ndim(self.score) == 1 else -1
        _check(self.xyxy, "xyxy", (n, 4))
        _check(self.score, "score", (n,))
        if self.probs is not None:
            _check(self.probs, "probs", (n, NUM_CLASSES))
        if self.face_id is not None:
            _check(self.face_id, "face_id", (n,))
        if self.appearance is not None:
            _check(self.appearance, "appearance", (n, -1))

    def __len__(self) -> int:
        return len(self.score)

    @classmethod
    def empty(cls, frame_index: int, timestamp_s: float) -> FaceDetections:
        """A frame with no faces."""
        return cls(
            frame_index,
            timestamp_s,
            np.zeros((0, 4), dtype=np.float32),
            np.zeros((0,), dtype=np.float32),
        )

    def with_probs(self, probs: np.ndarray) -> FaceDetections:
        """A copy carrying emotion probabilities float32 (n, 7)."""
        return replace(self, probs=np.asarray(probs, dtype=np.float32))

    def with_ids(self, face_id: np.ndarray) -> FaceDetections:
        """A copy carrying track ids int64 (n,)."""
        return replace(self, face_id=np.asarray(face_id, dtype=np.int64))

    def with_appearance(self, appearance: np.ndarray) -> FaceDetections:
        """A copy carrying appearance signatures float32 (n, d)."""
        return replace(self, appearance=np.asarray(appearance, dtype=np.float32))

    def select(self, keep: np.ndarray) -> FaceDetections:
        """A copy with only the faces where ``keep`` (bool (n,) or int index) holds."""
        return replace(
            self,
            xyxy=self.xyxy[keep],
            score=self.score[keep],
            probs=None if self.probs is None else self.probs[keep],
            face_id=None if self.face_id is None else self.face_id[keep],
            appearance=None if self.appearance is None else self.appearance[keep],
        )

    def equals(self, other: FaceDetections) -> bool:
        """Field-by-field equality (the generated ``==`` would compare arrays ambiguously)."""
        return (
            self.frame_index == other.frame_index
            and self.timestamp_s == other.timestamp_s
            and all(
                (a is None and b is None)
                or (a is not None and b is not None and np.array_equal(a, b))
                for a, b in (
                    (self.xyxy, other.xyxy),
                    (self.score, other.score),
                    (self.probs, other.probs),
                    (self.face_id, other.face_id),
                    (self.appearance, other.appearance),
                )
            )
        )


def _check(array: np.ndarray, name: str, shape: tuple[int, ...]) -> None:
    if not isinstance(array, np.ndarray) or array.ndim != len(shape):
        got = getattr(array, "shape", type(array).__name__)
        raise ValueError(
            f"{name} must be a {len(shape)}D np.ndarray with shape {_fmt(shape)}, but got {got}"
        )
    if any(want not in (-1, got) for want, got in zip(shape, array.shape, strict=True)):
        raise ValueError(f"{name} must have shape {_fmt(shape)}, but got shape {array.shape}")


def _fmt(shape: tuple[int, ...]) -> str:
    parts = ["_" if s == -1 else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
