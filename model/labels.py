"""The seven FER2013 classes, in the dataset's label order (Kaggle `emotion` 0..6)."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(EMOTIONS)}

# Classes the paper augments and oversamples (the four smallest in FER2013 train).
MINORITY_CLASSES: tuple[str, ...] = ("fear", "angry", "surprise", "disgust")
