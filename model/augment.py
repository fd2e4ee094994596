"""Targeted augmentation: only the minority classes are oversampled and distorted.

The paper augments fear, angry, surprise and disgust on the fly (flip p=0.5, rotation
+-15 deg, zoom 0.85-1.15, brightness +-10%) and oversamples them toward per-epoch targets
(its Table 1). The table itself is not reproduced in the text we have, so the targets
below are our reading of it on the full 28,709-image train set; :func:`oversample_targets`
scales them to whatever train split is used. The other classes are shown as they are.
"""

from __future__ import annotations

import cv2
import numpy as np
from lightemo_video.model.labels import CLASS_INDEX, MINORITY_CLASSES, NUM_CLASSES

FULL_TRAIN_SIZE = 28_709
PAPER_TARGETS: dict[str, int] = {"fear": 5_000, "angry": 5_000, "surprise": 4_500, "disgust": 2_000}


def oversample_targets(labels: np.ndarray) -> np.ndarray:
    """Per-class images per epoch, int64 (7,): the paper's targets scaled to ``labels``.

    Majority classes keep their own count; a minority class never drops below it.
    """
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    targets = counts.copy()
    scale = len(labels) / FULL_TRAIN_SIZE
    for name, target in PAPER_TARGETS.items():
        c = CLASS_INDEX[name]
        if counts[c]:
            targets[c] = max(counts[c], round(target * scale))
    return targets


def epoch_indices(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shuffled indices for one epoch: every image once, plus minority images redrawn
    (with replacement) until each minority class reaches its target. int64 (m,)."""
    targets = oversample_targets(labels)
    extra = []
    for c, target in enumerate(targets):
        idx = np.flatnonzero(labels == c)
        if target > len(idx):
            extra.append(rng.choice(idx, size=target - len(idx), replace=True))
    order = np.concatenate([np.arange(len(labels)), *extra])
    rng.shuffle(order)
    return order


def minority_mask(labels: np.ndarray) -> np.ndarray:
    """bool (n,): True where the label is one of the augmented minority classes."""
    return np.isin(labels, [CLASS_INDEX[name] for name in MINORITY_CLASSES])


def augment_faces(
    images: np.ndarray, rng: np.random.Generator, shift: float = 0.0, erase: float = 0.0
) -> np.ndarray:
    """Randomly flip, rotate (+-15 deg), zoom (0.85-1.15) and brighten (+-10%) each face.

    Args:
        images: uint8 (n, 48, 48).
        rng: source of randomness (seeded by the caller for reproducible runs).
        shift: largest random translation as a fraction of the size (0: none, the paper).
        erase: probability of blanking one random rectangle (2-20% of the face) with
            noise, which teaches the model to cope with occlusions (0: never, the paper).

    Returns:
        a new uint8 (n, 48, 48) array.
    """
    n = len(images)
    out = np.empty_like(images)
    flips = rng.random(n) < 0.5
    angles = rng.uniform(-15.0, 15.0, n)
    zooms = rng.uniform(0.85, 1.15, n)
    gains = rng.uniform(0.9, 1.1, n)
    moves = rng.uniform(-shift, shift, (n, 2)) * images.shape[1]
    erased = rng.random(n) < erase
    for i, image in enumerate(images):
        h, w = image.shape
        matrix = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angles[i], zooms[i])
        matrix[:, 2] += moves[i]
        warped = cv2.warpAffine(
            image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        if flips[i]:
            warped = warped[:, ::-1]
        warped = np.clip(warped.astype(np.float32) * gains[i], 0, 255).astype(np.uint8)
        if erased[i]:
            area = rng.uniform(0.02, 0.2) * h * w
            eh = int(np.clip(np.sqrt(area * rng.uniform(0.5, 2.0)), 1, h))
            ew = int(np.clip(area / eh, 1, w))
            y, x = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
            warped[y : y + eh, x : x + ew] = rng.integers(0, 256, (eh, ew), dtype=np.uint8)
        out[i] = warped
    return out


def mix_faces(
    x: np.ndarray, targets: np.ndarray, weights: np.ndarray, rng: np.random.Generator, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mixup: blend each face of a batch with another one, and its targets and loss weight
    alike, so the model learns the space between expressions that crowd votes describe
    (Zhang et al. 2018). Each face keeps the larger share (Beta(alpha, alpha), folded to
    >= 0.5), so its own expression stays the one the batch is mostly about.

    Args:
        x: float32 (n, 48, 48, 1) faces in [0, 1].
        targets: float32 (n, 7) label distributions.
        weights: float32 (n,) per-face loss weights.
        rng: source of randomness.
        alpha: Beta parameter; 0 leaves the batch as it is.
    """
    if alpha <= 0 or len(x) < 2:
        return x, targets, weights
    share = _own_share(rng, alpha, len(x))
    partner = rng.permutation(len(x))
    mixed_x = share[:, None, None, None] * x + (1.0 - share[:, None, None, None]) * x[partner]
    return (mixed_x.astype(np.float32), *_blend(targets, weights, share, partner))


def cut_faces(
    x: np.ndarray, targets: np.ndarray, weights: np.ndarray, rng: np.random.Generator, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CutMix: paste a rectangle of another face into each face, and blend targets and
    loss weights by the area each face keeps (Yun et al. 2019): a mouth from one face
    under the eyes of another, where mixup would overlay whole faces. Each face keeps at
    least half its area (Beta(alpha, alpha), folded to >= 0.5). Arguments as
    ``mix_faces``."""
    if alpha <= 0 or len(x) < 2:
        return x, targets, weights
    n, height, width = x.shape[:3]
    cut = np.sqrt(1.0 - _own_share(rng, alpha, n))
    h, w = np.round(cut * height).astype(int), np.round(cut * width).astype(int)
    top = rng.integers(0, height - h + 1)
    left = rng.integers(0, width - w + 1)
    partner = rng.permutation(n)
    mixed_x = x.astype(np.float32)  # a copy
    for i in range(n):
        rows, cols = slice(top[i], top[i] + h[i]), slice(left[i], left[i] + w[i])
        mixed_x[i, rows, cols] = x[partner[i], rows, cols]
    share = (1.0 - h * w / (height * width)).astype(np.float32)
    return (mixed_x, *_blend(targets, weights, share, partner))


def _own_share(rng: np.random.Generator, alpha: float, n: int) -> np.ndarray:
    share = rng.beta(alpha, alpha, n).astype(np.float32)
    return np.maximum(share, 1.0 - share)


def _blend(
    targets: np.ndarray, weights: np.ndarray, share: np.ndarray, partner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    mixed_t = share[:, None] * targets + (1.0 - share[:, None]) * targets[partner]
    mixed_w = share * weights + (1.0 - share) * weights[partner]
    return mixed_t.astype(np.float32), mixed_w.astype(np.float32)
