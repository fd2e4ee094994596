"""Soft targets from a trained teacher, for training a smaller student (distillation).

A small network learns more from a good model's full probability vector (which faces look
a bit fearful as well as sad) than from FER2013's single, often noisy, label. The teacher
runs once, with flip averaging, on each clean training face before training starts: the
on-the-fly augmentations are mild enough for that distribution to stand for every view,
and the student's epochs then cost no teacher work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from lightemo_video.model.data import FaceSet
from lightemo_video.model.errors import DataError
from lightemo_video.model.runtime import open_model_file


def teacher_targets(faces: FaceSet, teacher: str | Path, share: float, batch: int = 512) -> FaceSet:
    """The same faces and labels, trained toward ``(1 - share)`` of their label plus
    ``share`` of the teacher's flip-averaged probabilities."""
    if not 0.0 < share <= 1.0:
        raise DataError(share, "teacher share must be in (0, 1]")
    model = open_model_file(teacher, tta="flip")
    probs = np.concatenate(
        [
            model.predict((faces.images[i : i + batch].astype(np.float32) / 255.0)[..., None])
            for i in range(0, len(faces), batch)
        ]
    )
    return faces.blended(probs, share)
