"""Emotion classification stage: crop detected faces and run LightEmoNet in batches."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from lightemo_video.model.preprocess import crop_boxes, preprocess_faces
from lightemo_video.model.runtime import load_model
from lightemo_video.pipeline.records import FaceDetections, Frame


class EmotionClassifier:
    """Adds 7 emotion probabilities to every detected face.

    Faces from several frames go through the model in one batch, which is several times
    faster per face than one call per frame.

    Args:
        model: shipped model name or ``.tflite``/``.keras`` path (``None``: default model).
        margin: share of the box size added around each face before cropping; FER2013
            faces include a little forehead and chin.
        num_threads: model threads; keep 1 when one process per core runs the pipeline.
        tta: test-time augmentation (``none``/``flip``); ``None``: as the model card says.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        margin: float = 0.1,
        num_threads: int = 1,
        tta: str | None = None,
    ):
        self.model = load_model(model, num_threads=num_threads, tta=tta)
        self.margin = margin

    def classify(
        self, frames: Sequence[Frame], faces: Sequence[FaceDetections]
    ) -> list[FaceDetections]:
        """Return ``faces`` (one record per frame, same order) with ``probs`` set."""
        crops = [
            squared(frame.gray_region(*bounds), bounds, frame.width, frame.height)
            for frame, found in zip(frames, faces, strict=True)
            for bounds in crop_boxes(frame.height, frame.width, found.xyxy, self.margin)
        ]
        probs = (
            self.model.predict(preprocess_faces(crops)) if crops else np.zeros((0, 7), np.float32)
        )
        bounds = np.cumsum([0, *(len(f) for f in faces)])
        return [
            f.with_probs(probs[a:b]) for f, a, b in zip(faces, bounds[:-1], bounds[1:], strict=True)
        ]


def squared(
    crop: np.ndarray, bounds: tuple[int, int, int, int], width: int, height: int
) -> np.ndarray:
    """A face cut short by the frame's edge, made square again by repeating the edge
    (the detectors' boxes are square), so the 48x48 face is not squeezed sideways."""
    x1, y1, x2, y2 = bounds
    w, h = x2 - x1, y2 - y1
    if w == h:
        return crop
    short = abs(w - h)
    if w < h and (x1 == 0 or x2 == width):  # cut at the left or right edge
        left = short if x1 == 0 and x2 != width else (short // 2 if x1 == 0 else 0)
        return cv2.copyMakeBorder(crop, 0, 0, left, short - left, cv2.BORDER_REPLICATE)
    if h < w and (y1 == 0 or y2 == height):  # cut at the top or bottom edge
        top = short if y1 == 0 and y2 != height else (short // 2 if y1 == 0 else 0)
        return cv2.copyMakeBorder(crop, top, short - top, 0, 0, cv2.BORDER_REPLICATE)
    return crop
