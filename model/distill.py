"""Soft targets from a trained teacher, for training a smaller student (distillation).

A small network learns more from a good model's full probability vector (which faces look
a bit fearful as well as sad) than from FER2013's single, often noisy, label. The teacher
runs once, with flip averaging, on each clean training face before training starts: the
on-the-fly augmentations are mild enough for that distribution to stand for every view,
and the student's epochs then cost no teacher work. A teacher too large to run on the
CPU in good time (``jobs.teacher``, trained on a GPU) is given as the probabilities it
wrote for every face instead. Several teachers are averaged: an ensemble whose members
err differently is a better teacher than any one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from lightemo_video.model.data import FaceSet
from lightemo_video.model.errors import DataError
from lightemo_video.model.runtime import open_model_file


def teacher_targets(
    faces: FaceSet, teacher: str | Path | Sequence[str | Path], share: float, batch: int = 512
) -> FaceSet:
    """The same faces and labels, trained toward ``(1 - share)`` of their label plus
    ``share`` of the teacher's flip-averaged probabilities.

    ``teacher`` is a model file, run here, or a ``.npz`` of probabilities that a teacher
    wrote (``probs`` (n, 7) and the image ``names`` they belong to, as ``jobs.teacher``
    writes them), looked up by class folder and file name; or several of these, whose
    probabilities are averaged."""
    if not 0.0 < share <= 1.0:
        raise DataError(share, "teacher share must be in (0, 1]")
    teachers = [teacher] if isinstance(teacher, str | Path) else list(teacher)
    if not teachers:
        raise DataError("teacher", "no teacher given")
    probs = np.mean([_probabilities(faces, one, batch) for one in teachers], axis=0)
    return faces.blended(probs.astype(np.float32), share)


def _probabilities(faces: FaceSet, teacher: str | Path, batch: int) -> np.ndarray:
    """float32 (n, 7): one teacher's flip-averaged probabilities on ``faces``."""
    if Path(teacher).suffix == ".npz":
        return stored_probabilities(faces, teacher)
    model = open_model_file(teacher, tta="flip", calibrated=False)  # as it learnt them
    return np.concatenate(
        [
            model.predict((faces.images[i : i + batch].astype(np.float32) / 255.0)[..., None])
            for i in range(0, len(faces), batch)
        ]
    ).astype(np.float32)


def stored_probabilities(faces: FaceSet, file: str | Path) -> np.ndarray:
    """float32 (n, 7): the stored probabilities of each face, matched by class folder and
    file name (FER2013 reuses a few file names across classes; the folder above them on
    the teacher's machine does not matter)."""
    with np.load(file) as stored:
        probs, names = stored["probs"], stored["names"]
    row = {_image_key(str(name)): i for i, name in enumerate(names)}
    missing = [name for name in faces.names if _image_key(name) not in row]
    if missing:
        raise DataError(
            file,
            f"no teacher probabilities for {len(missing)} of {len(faces)} faces "
            f"(e.g. {_image_key(missing[0])}); were they packed from this dataset?",
        )
    return probs[[row[_image_key(name)] for name in faces.names]].astype(np.float32)


def _image_key(name: str) -> str:
    """``class/file.jpg`` of an image path; ``fer2013.csv:LINE`` of a CSV row."""
    path = Path(name)
    return path.name if ".csv:" in path.name else "/".join(path.parts[-2:])
