"""Pixels as decoded (I420, YUV 4:2:0) turned into what a stage needs, and no more.

Converting a whole 720p frame to BGR costs about as much as decoding it, yet the stages
need only a small copy (the detector's input, the scene signature), face regions (the
classifier's gray crops, appearance histograms) and, rarely, the whole picture (annotated
video, thumbnails). Converting just those keeps a file's frames about as cheap as decoding.

An I420 array is FFmpeg's and OpenCV's layout: shape (h * 3 / 2, w), the Y plane (h, w)
followed by the U and V planes (h / 2, w / 2) each; h and w are even. Colours follow
OpenCV's ``COLOR_YUV2BGR_I420`` (BT.601, limited range), and a region converted alone has
exactly the pixels of the same region of the whole converted frame (chroma is shared by
2x2 blocks and regions are widened to whole blocks first).
"""

from __future__ import annotations

import cv2
import numpy as np

# Limited-range luma (16-235) to full-range gray: BGR2GRAY of the converted BGR frame up
# to rounding, except where a saturated colour clips a BGR channel.
Y_TO_GRAY = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def planes(i420: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y (h, w), U and V (h / 2, w / 2) planes of an I420 array."""
    h, w = i420.shape[0] * 2 // 3, i420.shape[1]
    chroma = i420[h:].reshape(-1)
    quarter = (h // 2) * (w // 2)
    return (
        i420[:h],
        chroma[:quarter].reshape(h // 2, w // 2),
        chroma[quarter : 2 * quarter].reshape(h // 2, w // 2),
    )


def join_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """An I420 array (contiguous) from its planes."""
    h, w = y.shape
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)


def rotate(i420: np.ndarray, turn: int) -> np.ndarray:
    """The I420 array turned by an OpenCV ``cv2.ROTATE_*`` code, plane by plane."""
    return join_planes(*(cv2.rotate(np.ascontiguousarray(p), turn) for p in planes(i420)))


def to_bgr(i420: np.ndarray) -> np.ndarray:
    """The whole frame, uint8 (h, w, 3) BGR."""
    return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)


def region_bgr(i420: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    """BGR pixels of rows ``y1:y2`` and columns ``x1:x2`` (inside the frame), converted
    alone: widened to whole 2x2 chroma blocks, converted, trimmed back."""
    y, u, v = planes(i420)
    ax1, ay1 = x1 - x1 % 2, y1 - y1 % 2
    ax2, ay2 = x2 + x2 % 2, y2 + y2 % 2
    block = join_planes(
        y[ay1:ay2, ax1:ax2],
        u[ay1 // 2 : ay2 // 2, ax1 // 2 : ax2 // 2],
        v[ay1 // 2 : ay2 // 2, ax1 // 2 : ax2 // 2],
    )
    return to_bgr(block)[y1 - ay1 : y2 - ay1, x1 - ax1 : x2 - ax1]


def region_gray(i420: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    """Gray pixels (full range) of rows ``y1:y2`` and columns ``x1:x2``, from luma alone."""
    return cv2.LUT(np.ascontiguousarray(i420[y1:y2, x1:x2]), Y_TO_GRAY)


def shrink(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Downscales uint8 ``image`` (h, w) or (h, w, c) to ``width`` x ``height`` with
    little aliasing, fast.

    Bilinear alone aliases at the 6-10x shrink from 720p/1080p to a detector's input,
    losing small faces; ``INTER_AREA`` at such odd ratios costs ~3 ms per 720p frame.
    Bilinear to twice the size, then ``INTER_AREA``'s fast exact 2x2 average, costs ~0.3 ms.
    """
    if image.shape[1] > 2 * width and image.shape[0] > 2 * height:
        image = cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def shrunk_bgr(i420: np.ndarray, width: int, height: int) -> np.ndarray:
    """A small BGR copy of the frame (``width`` x ``height``), as :func:`shrink` makes
    it from the converted frame, but converting only at twice the small size: each plane
    is resized bilinearly to that size, converted, then 2x2-averaged. About a third of
    the cost of converting first; pixels differ by about 1 level on average."""
    y, u, v = planes(i420)
    if not (y.shape[1] > 2 * width and y.shape[0] > 2 * height):
        return shrink(to_bgr(i420), width, height)
    double = join_planes(
        cv2.resize(y, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR),
        cv2.resize(u, (width, height), interpolation=cv2.INTER_LINEAR),
        cv2.resize(v, (width, height), interpolation=cv2.INTER_LINEAR),
    )
    return cv2.resize(to_bgr(double), (width, height), interpolation=cv2.INTER_AREA)
