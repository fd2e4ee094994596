"""LightEmoNet preprocessing, shared by training, evaluation and the video pipeline.

The model only ever sees what :func:`preprocess_faces` produces, so a face crop from a
video frame and a FER2013 training image go through exactly the same steps:
grayscale, bilinear resize to 48x48, scale to [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

INPUT_SIZE = 48


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return a 2-D uint8 grayscale view of a BGR, BGRA or grayscale image.

    Args:
        image: (h, w), (h, w, 1), (h, w, 3) BGR or (h, w, 4) BGRA, uint8.
    """
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"image must be (h, w) or (h, w, 1|3|4), but got shape {image.shape}")


def preprocess_faces(faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Turn face crops into the model's input batch.

    Args:
        faces: a sequence of crops (any size, gray or BGR, uint8) or an array
            (n, h, w) of grayscale crops.

    Returns:
        float32 array (n, 48, 48, 1) with values in [0, 1].
    """
    out = np.empty((len(faces), INPUT_SIZE, INPUT_SIZE, 1), dtype=np.float32)
    for i, face in enumerate(faces):
        gray = to_gray(np.asarray(face))
        if gray.shape != (INPUT_SIZE, INPUT_SIZE):
            gray = cv2.resize(gray, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        out[i, :, :, 0] = gray
    out /= 255.0
    return out


def crop_boxes(
    height: int, width: int, xyxy: np.ndarray, margin: float = 0.1
) -> list[tuple[int, int, int, int]]:
    """Pixel bounds (x1, y1, x2, y2) of each box widened by ``margin`` of its size on
    every side and clipped to a ``height`` x ``width`` frame, at least 1x1.

    A small margin makes detector crops look like FER2013's, which show a little
    forehead and chin around the face.

    Args:
        height, width: the frame's size in pixels.
        xyxy: (n, 4) float boxes in pixels, x1 y1 x2 y2.
        margin: fraction of the box width/height added on each side.
    """
    bounds = []
    for x1, y1, x2, y2 in np.asarray(xyxy, dtype=np.float32).reshape(-1, 4):
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        a = int(np.clip(np.floor(x1 - mx), 0, width - 1))
        b = int(np.clip(np.floor(y1 - my), 0, height - 1))
        c = int(np.clip(np.ceil(x2 + mx), a + 1, width))
        d = int(np.clip(np.ceil(y2 + my), b + 1, height))
        bounds.append((a, b, c, d))
    return bounds
