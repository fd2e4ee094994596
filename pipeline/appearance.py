"""A cheap appearance signature per face, so a face that comes back can take its old id.

Face descriptors (dlib's ResNet) cost ~95 ms a crop on our CPUs and did not separate the
crowd clip's small, moving faces; what tells people apart there, and in most footage, is
hair and clothing. So a face's look is three colour histograms: hair (above the box),
face (the box) and chest (below the chin). Each is 12 hue x 2 saturation bins for
coloured pixels plus 4 brightness bins for grey ones, normalised to sum 1, counted on
every few pixels (about 24 a side): about 0.15 ms per face, done in the task that has
the pixels (the driver's tracker only sees records). Split in three regions the crowd
clip's people lie further apart than as one head region (hair and face pooled).
"""

from __future__ import annotations

import cv2
import numpy as np
from lightemo_video.pipeline.records import Frame

HUE_BINS, SAT_BINS, GREY_BINS = 12, 2, 4
REGION_BINS = HUE_BINS * SAT_BINS + GREY_BINS
REGIONS = 3  # hair, face, chest (clothes)
APPEARANCE_DIM = REGIONS * REGION_BINS
_MIN_SAT, _MIN_VAL = 48, 40  # below either a pixel is grey: its hue is noise
_SIDE = 24  # crops are sampled at about this many pixels a side


def region_boxes(xyxy: np.ndarray) -> list[tuple[float, float, float, float]]:
    """The hair, face and chest regions (xyxy) of one face box xyxy (4,).

    Hair: a band a little wider than the box, from 0.4 box heights above it to just
    inside its top. Face: the box without its edges. Chest: twice the box's width, from
    half a height to one and a half below its chin.
    """
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    w, h = x2 - x1, y2 - y1
    return [
        (x1 - 0.2 * w, y1 - 0.4 * h, x2 + 0.2 * w, y1 + 0.1 * h),
        (x1 + 0.1 * w, y1 + 0.1 * h, x2 - 0.1 * w, y2),
        (x1 - 0.5 * w, y2 + 0.5 * h, x2 + 0.5 * w, y2 + 1.5 * h),
    ]


def region_histogram(frame: Frame, box: tuple[float, float, float, float]) -> np.ndarray:
    """Normalised colour histogram float32 (REGION_BINS,) of ``box`` (xyxy) in ``frame``;
    zeros when the box lies (almost) outside the frame."""
    h, w = frame.height, frame.width
    x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
    x2, y2 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return np.zeros(REGION_BINS, np.float32)
    step = max(1, max(y2 - y1, x2 - x1) // _SIDE)  # every step-th pixel: cost stays flat
    crop = np.ascontiguousarray(frame.region(x1, y1, x2, y2)[::step, ::step])
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    colour = (sat >= _MIN_SAT) & (val >= _MIN_VAL)
    colour_bin = (hue * HUE_BINS // 180) * SAT_BINS + np.minimum(
        (sat - _MIN_SAT) * SAT_BINS // (256 - _MIN_SAT), SAT_BINS - 1
    )
    grey_bin = HUE_BINS * SAT_BINS + val * GREY_BINS // 256
    counts = np.bincount(np.where(colour, colour_bin, grey_bin), minlength=REGION_BINS)
    return (counts / counts.sum()).astype(np.float32)


def appearance_vectors(frame: Frame, xyxy: np.ndarray) -> np.ndarray:
    """Appearance signatures of the faces ``xyxy`` (n, 4) in ``frame``:
    float32 (n, APPEARANCE_DIM), one normalised histogram per region, side by side."""
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    out = np.zeros((len(boxes), APPEARANCE_DIM), np.float32)
    for i, box in enumerate(boxes):
        for k, region in enumerate(region_boxes(box)):
            out[i, k * REGION_BINS : (k + 1) * REGION_BINS] = region_histogram(frame, region)
    return out


def appearance_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Hellinger distance in [0, 1] between two signatures (APPEARANCE_DIM,), averaged
    over the regions both saw (1 when they share none: nothing says they are alike)."""
    a = np.asarray(a, np.float64).reshape(REGIONS, REGION_BINS)
    b = np.asarray(b, np.float64).reshape(REGIONS, REGION_BINS)
    seen = (a.sum(axis=1) > 0) & (b.sum(axis=1) > 0)
    if not seen.any():
        return 1.0
    overlap = np.sqrt(a[seen] * b[seen]).sum(axis=1)
    return float(np.sqrt(np.clip(1.0 - overlap, 0.0, 1.0)).mean())


def mean_signature(signatures: np.ndarray) -> np.ndarray:
    """The mean of appearance signatures float32 (k, APPEARANCE_DIM), each region
    renormalised to sum 1 (a region a box saw none of, outside the frame, counts for nothing)."""
    regions = np.asarray(signatures, np.float64).sum(axis=0).reshape(REGIONS, REGION_BINS)
    totals = regions.sum(axis=1, keepdims=True)
    return (regions / np.where(totals > 0, totals, 1.0)).reshape(-1).astype(np.float32)
