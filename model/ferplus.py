"""FER+ crowd labels (Barsoum et al., 2016) for the FER2013 images.

FER+ had ten people tag every FER2013 image; their votes are much cleaner labels than
FER2013's own (which FER+ changes for about 37% of the images). We map them onto the same
seven classes and keep both the vote distribution (soft training targets) and the
plurality vote (the label that accuracy is measured against). Handled explicitly:
``contempt`` (not a FER2013 class), ``unknown`` and ``NF`` (not a face) votes are left out
of the distribution; an image where one of them got more votes than every emotion (a tie
keeps it), or that FER+ excluded or that has no FER+ row, is dropped. A tie between
emotions goes to the one listed first in ``EMOTIONS``, in training and scoring alike.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
from lightemo_video.model.data import FaceSet
from lightemo_video.model.errors import DataError
from lightemo_video.model.labels import EMOTIONS

DEFAULT_FERPLUS_DIR = Path("../shared/datasets/ferplus")
"""Where this project keeps FER+ beside the repository."""

VOTES_FILE = "fer2013new.csv"
"""FER+'s vote table: one row per ``fer2013.csv`` row, in the same order."""

MAPPING_FILE = "fer2013_to_ferplus.csv"
"""Which FER+ row belongs to each image of the class-folder layout."""

FERPLUS_COLUMNS = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}
"""FER+ vote column of each of our classes (``EMOTIONS`` order)."""

OTHER_COLUMNS = ("contempt", "unknown", "NF")
"""Votes that are not one of the seven classes."""


def ferplus_labels(faces: FaceSet, ferplus_dir: str | Path) -> FaceSet:
    """The same faces with FER+ labels: ``labels`` the plurality vote, ``targets`` the
    vote distribution over the seven classes; images without a usable vote are dropped.

    Args:
        faces: loaded by ``model.data.load_faces`` from the FER2013 class folders or from
            ``fer2013.csv`` (the names say which image or row each face is).
        ferplus_dir: folder with ``fer2013new.csv`` and, for the folder layout,
            ``fer2013_to_ferplus.csv``.
    """
    usable, distributions = vote_distributions(faces, ferplus_dir)
    keep = np.flatnonzero(usable)
    kept = faces.subset(keep)
    return FaceSet(
        kept.images,
        distributions[keep].argmax(axis=1).astype(np.int64),
        kept.names,
        targets=distributions[keep],
    )


def blend_ferplus(faces: FaceSet, ferplus_dir: str | Path, share: float) -> FaceSet:
    """The same faces and FER2013 labels, trained toward ``(1 - share)`` of their own
    label plus ``share`` of the FER+ vote distribution: smoothing that follows what people
    saw in the face instead of spreading mass evenly. Faces without a usable vote keep a
    one-hot target.
    """
    if not 0.0 <= share < 0.5:
        raise DataError(share, "FER+ share must be in [0, 0.5) so that the FER2013 label leads")
    usable, distributions = vote_distributions(faces, ferplus_dir)
    return faces.blended(distributions, share, where=usable)


def vote_distributions(faces: FaceSet, ferplus_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Which faces have a usable FER+ vote (bool (n,)) and their vote distributions over
    the seven classes (float32 (n, 7); zeros where unusable)."""
    ferplus_dir = Path(ferplus_dir)
    votes = _read_votes(ferplus_dir / VOTES_FILE)
    rows = _ferplus_rows(faces, ferplus_dir)
    usable = np.zeros(len(faces), dtype=bool)
    distributions = np.zeros((len(faces), len(EMOTIONS)), dtype=np.float32)
    for i, row in enumerate(rows):
        if row is None or row not in votes:
            continue
        counts = votes[row]
        emotions = counts[: len(EMOTIONS)]
        if emotions.sum() == 0 or counts.max() > emotions.max():  # mostly contempt/unknown/NF
            continue
        usable[i] = True
        distributions[i] = emotions / emotions.sum()
    if not usable.any():
        raise DataError(ferplus_dir, "no image of this split has a usable FER+ vote")
    return usable, distributions


def _read_votes(path: Path) -> dict[int, np.ndarray]:
    """FER+ row -> votes (seven classes in ``EMOTIONS`` order, then the others)."""
    if not path.is_file():
        raise DataError(path, "FER+ vote file not found")
    columns = [FERPLUS_COLUMNS[e] for e in EMOTIONS] + list(OTHER_COLUMNS)
    votes = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(columns) - set(reader.fieldnames or ())
        if missing:
            raise DataError(path, f"missing FER+ column(s) {', '.join(sorted(missing))}")
        for row, record in enumerate(reader):
            if not (record.get("Image name") or "").strip():
                continue  # excluded by FER+
            try:
                votes[row] = np.array([float(record[c]) for c in columns], dtype=np.float32)
            except ValueError:
                raise DataError(f"{path}:{row + 2}", "vote counts must be numbers") from None
    return votes


def _ferplus_rows(faces: FaceSet, ferplus_dir: Path) -> list[int | None]:
    """The FER+ row of each face: from the CSV row number, or via the mapping file for
    images in class folders (matched on ``split/class/file``)."""
    lines = [re.search(r"\.csv:(\d+)$", n) for n in faces.names]  # fer2013.csv:LINE
    if all(lines):
        return [int(m.group(1)) - 2 for m in lines]  # FER+ rows follow fer2013.csv's rows
    mapping_path = ferplus_dir / MAPPING_FILE
    if not mapping_path.is_file():
        raise DataError(mapping_path, "FER+ image mapping not found")
    with mapping_path.open(newline="") as handle:
        mapping = {
            r["fer2013_path"]: int(r["ferplus_row"])
            for r in csv.DictReader(handle)
            if r.get("ferplus_row")
        }
    return [mapping.get("/".join(Path(n).parts[-3:])) for n in faces.names]
