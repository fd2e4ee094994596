"""FER2013 loaders for the two layouts users have, plus class weights.

* image folders: ``<split>/<class>/*.jpg`` (e.g. ``fer2013/train``), or a root holding
  ``train/`` and ``test/`` split folders;
* Kaggle's ``fer2013.csv`` with columns ``emotion,pixels,Usage``.

Every malformed input raises :class:`model.errors.DataError` naming the file or row.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from lightemo_video.model.errors import DataError
from lightemo_video.model.labels import CLASS_INDEX, EMOTIONS, NUM_CLASSES
from lightemo_video.model.preprocess import INPUT_SIZE

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
CSV_USAGES = ("Training", "PublicTest", "PrivateTest")


@dataclass(frozen=True, eq=False)
class FaceSet:
    """A labelled set of 48x48 grayscale faces.

    Attributes:
        images: uint8 (n, 48, 48).
        labels: int64 (n,) indices into ``EMOTIONS``.
        names: n strings saying where each image came from (path or ``file:line``).
        targets: float32 (n, 7) label distributions to train on (e.g. FER+ crowd votes),
            or ``None``: one-hot ``labels``.
    """

    images: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]
    targets: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.images.shape != (n, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(
                f"images must have shape ({n}, {INPUT_SIZE}, {INPUT_SIZE}), "
                f"but got shape {self.images.shape}"
            )
        if len(self.names) != n:
            raise ValueError(f"names must have {n} entries, but got {len(self.names)}")
        if self.targets is not None and self.targets.shape != (n, NUM_CLASSES):
            raise ValueError(
                f"targets must have shape ({n}, {NUM_CLASSES}), but got shape {self.targets.shape}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> np.ndarray:
        """Images per class, int64 (7,)."""
        return np.bincount(self.labels, minlength=NUM_CLASSES)

    def blended(
        self, distributions: np.ndarray, share: float, where: np.ndarray | None = None
    ) -> FaceSet:
        """The same faces and labels, trained toward ``(1 - share)`` of their own target
        (``targets``, else the one-hot label) plus ``share`` of ``distributions`` (float
        (n, 7)); faces outside the boolean mask ``where`` (default: all) keep their own."""
        where = np.ones(len(self), bool) if where is None else where
        own = (
            self.targets
            if self.targets is not None
            else np.eye(NUM_CLASSES, dtype=np.float32)[self.labels]
        )
        targets = own.astype(np.float32, copy=True)
        targets[where] = (1.0 - share) * targets[where] + share * distributions[where]
        return FaceSet(self.images, self.labels, self.names, targets=targets)

    def subset(self, index: np.ndarray) -> FaceSet:
        """The images at ``index`` (int array), in that order."""
        return FaceSet(
            self.images[index],
            self.labels[index],
            tuple(self.names[i] for i in index),
            None if self.targets is None else self.targets[index],
        )


def load_faces(path: str | Path, split: str | None = None) -> FaceSet:
    """Load a FER2013 split from a class-folder tree or a Kaggle CSV.

    Args:
        path: a folder of class folders, a root with ``train``/``test`` folders (then
            ``split`` picks one), or a ``fer2013.csv`` file.
        split: for a root folder ``"train"`` or ``"test"``; for a CSV one of
            ``Training``, ``PublicTest``, ``PrivateTest`` (``None``: every row).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DataError(path, "expected a folder of class folders or a fer2013 .csv file")
        return load_csv(path, usage=split)
    if split is not None and (path / split).is_dir():
        path = path / split
    return load_folder(path)


def load_folder(folder: str | Path) -> FaceSet:
    """Load ``folder/<class>/*.jpg``; class folder names must be FER2013 emotions."""
    folder = Path(folder)
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if not subdirs:
        raise DataError(
            folder, f"no class folders found; expected subfolders named {', '.join(EMOTIONS)}"
        )
    unknown = [p.name for p in subdirs if p.name.lower() not in CLASS_INDEX]
    if unknown:
        raise DataError(
            folder / unknown[0],
            f"unknown class folder '{unknown[0]}'; class folders must be named "
            f"{', '.join(EMOTIONS)}",
        )
    images, labels, names = [], [], []
    for sub in subdirs:
        label = CLASS_INDEX[sub.name.lower()]
        for file in sorted(sub.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            images.append(_read_face(file))
            labels.append(label)
            names.append(str(file))
    if not images:
        raise DataError(folder, "the class folders hold no images (.jpg, .jpeg, .png, .bmp)")
    return FaceSet(np.stack(images), np.asarray(labels, dtype=np.int64), tuple(names))


def _read_face(file: Path) -> np.ndarray:
    image = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DataError(file, "unreadable image (not a valid JPEG/PNG/BMP)")
    if image.shape != (INPUT_SIZE, INPUT_SIZE):
        image = cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    return image


def load_csv(file: str | Path, usage: str | None = None) -> FaceSet:
    """Load Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``), optionally one usage."""
    file = Path(file)
    if usage is not None and usage not in CSV_USAGES:
        raise DataError(file, f"unknown usage '{usage}'; choose one of {', '.join(CSV_USAGES)}")
    images, labels, names = [], [], []
    with file.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"emotion", "pixels"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(
                file,
                f"missing column(s) {', '.join(sorted(missing))}; expected emotion,pixels,Usage",
            )
        for row in reader:
            where = f"{file}:{reader.line_num}"
            _check_fields(row, reader.fieldnames, where)
            row_usage = (row.get("Usage") or "").strip()
            if usage is not None and row_usage != usage:
                continue
            labels.append(_parse_label(row["emotion"], where))
            images.append(_parse_pixels(row["pixels"], where))
            names.append(where)
    if not images:
        raise DataError(file, "no rows" + (f" with Usage {usage}" if usage else ""))
    return FaceSet(np.stack(images), np.asarray(labels, dtype=np.int64), tuple(names))


def _check_fields(row: dict, fieldnames: list[str], where: str) -> None:
    """A row cut short (DictReader fills the missing fields with None) or with extra
    fields is an error, whichever field it lacks: silently taking it as, say, a row
    without a Usage would train on it, or drop it, unnoticed."""
    extra = row.get(None)
    missing = [name for name in fieldnames if row.get(name) is None]
    if missing or extra:
        count = len(fieldnames) - len(missing) + len(extra or ())
        lacks = f"; missing {', '.join(missing)}" if missing else ""
        raise DataError(
            where,
            f"row has {count} fields, expected {len(fieldnames)} ({','.join(fieldnames)}){lacks}",
        )


def _parse_label(text: str | None, where: str) -> int:
    try:
        label = int((text or "").strip())
    except ValueError:
        raise DataError(where, f"emotion '{text}' is not an integer 0-6") from None
    if not 0 <= label < NUM_CLASSES:
        raise DataError(
            where, f"unknown emotion label {label}; expected 0-6 ({', '.join(EMOTIONS)})"
        )
    return label


def _parse_pixels(text: str | None, where: str) -> np.ndarray:
    parts = (text or "").split()
    if len(parts) != INPUT_SIZE * INPUT_SIZE:
        raise DataError(
            where, f"pixels has {len(parts)} values; expected {INPUT_SIZE * INPUT_SIZE}"
        )
    try:
        values = np.asarray([int(p) for p in parts], dtype=np.int64)
    except ValueError:
        raise DataError(where, "pixels must be space-separated integers 0-255") from None
    if values.min() < 0 or values.max() > 255:
        raise DataError(where, "pixel values must be in 0-255")
    return values.astype(np.uint8).reshape(INPUT_SIZE, INPUT_SIZE)


def class_weights(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Balanced loss weights w_c = N / (K * n_c), float64 (K,); 0 for an absent class."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.zeros(num_classes)
    present = counts > 0
    weights[present] = len(labels) / (num_classes * counts[present])
    return weights


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, validation), taking ``fraction`` of every class.

    Returns two sorted int64 index arrays.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), but got {fraction}")
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        val.append(idx[: max(1, round(len(idx) * fraction))])
    val_idx = np.sort(np.concatenate(val))
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return train_idx, val_idx
