"""Train LightEmoNet on FER2013 as the paper describes (or another named recipe).

Resumable: Keras' BackupAndRestore keeps the last finished epoch in ``RUN_DIR/backup``;
running the same command again continues from there. Run as
``lightemo-video train --data ../shared/datasets/fer2013/train`` or
``python -m lightemo_video.jobs.train --data ...``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from lightemo_video.jobs.machine import describe, has_fast_bf16, tensorflow_defaults
from lightemo_video.jobs.recipes import Recipe
from lightemo_video.model.augment import (
    augment_faces,
    cut_faces,
    epoch_indices,
    minority_mask,
    mix_faces,
    oversample_targets,
)
from lightemo_video.model.data import FaceSet, class_weights, load_faces, stratified_split
from lightemo_video.model.distill import teacher_targets
from lightemo_video.model.errors import DataError
from lightemo_video.model.ferplus import DEFAULT_FERPLUS_DIR, blend_ferplus, ferplus_labels
from lightemo_video.model.labels import EMOTIONS, NUM_CLASSES
from lightemo_video.pipeline.memory import keep_freed_memory
from lightemo_video.pipeline.outputs import atomic_path, write_bytes, write_json

log = logging.getLogger(__name__)

LABELS = ("fer2013", "ferplus", "fer2013+ferplus")
"""What a recipe's ``labels`` may say (see ``jobs.recipes.Recipe``)."""


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced and measured."""

    keras_path: Path
    tflite_path: Path
    card_path: Path
    epochs_run: int
    best_val_accuracy: float
    wall_time_s: float


def build_architecture(name: str):
    """The uncompiled Keras model for an architecture key."""
    from lightemo_video.model.architecture import ARCHITECTURES
    from lightemo_video.model.architecture import build_architecture as build

    if name not in ARCHITECTURES:
        raise DataError(name, f"unknown architecture; known: {', '.join(ARCHITECTURES)}")
    return build(name)


def repo_path(path: str | Path) -> Path:
    """``path`` as given, or inside this repository when a recipe names a file there."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        return Path(__file__).resolve().parents[1] / path
    return path


def teacher_files(recipe: Recipe) -> list[Path]:
    """The recipe's teacher files (none, one, or an ensemble's), found as ``repo_path`` does."""
    if not recipe.teacher:
        return []
    named = [recipe.teacher] if isinstance(recipe.teacher, str) else recipe.teacher
    return [repo_path(name) for name in named]


def start_from(model, path: Path, seed: int = 0) -> None:
    """Copy the weights of a trained model into ``model``, layer by layer where the names
    agree: all of them for the same architecture, the shared blocks for a variant (the
    rest keep their fresh weights), widened where the variant has more filters
    (``model.widen``)."""
    import keras
    from lightemo_video.model.widen import grow_into

    path = repo_path(path)
    if not path.is_file():
        raise DataError(path, "no such model to start from (--init-from)")
    trained = keras.models.load_model(path, compile=False)
    copied = grow_into(model, trained, np.random.default_rng(seed))
    layers = [layer for layer in model.layers if layer.weights]
    if not copied:
        raise DataError(path, "its layers do not match the recipe's architecture")
    log.info("starting from the weights of %s (%d of %d layers)", path, len(copied), len(layers))


def make_sequence(faces: FaceSet, weights: np.ndarray, recipe: Recipe, resumed_after: int = 0):
    """A Keras PyDataset yielding (x, targets, sample_weight), a new draw every epoch
    (targets: the faces' label distributions if they have them, else one-hot labels):
    minority classes oversampled toward their targets (if the recipe says so) and the
    recipe's classes augmented on the fly. A run resumed after ``resumed_after`` epochs
    draws afresh instead of repeating its first epochs' order and augmentations."""
    import keras

    rng = np.random.default_rng([recipe.seed, resumed_after] if resumed_after else recipe.seed)
    eye = np.eye(NUM_CLASSES, dtype=np.float32)

    class Augmented(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.on_epoch_end()

        def on_epoch_end(self) -> None:
            if recipe.oversample:
                self.order = epoch_indices(faces.labels, rng)
            else:
                self.order = rng.permutation(len(faces))

        def __len__(self) -> int:
            return int(np.ceil(len(self.order) / recipe.batch_size))

        def __getitem__(self, i: int):
            idx = self.order[i * recipe.batch_size : (i + 1) * recipe.batch_size]
            images, labels = faces.images[idx].copy(), faces.labels[idx]
            targets = eye[labels] if faces.targets is None else faces.targets[idx]
            mask = (
                minority_mask(labels) if recipe.augment == "minority" else np.ones(len(idx), bool)
            )
            if mask.any():
                images[mask] = augment_faces(images[mask], rng, recipe.shift, recipe.erase)
            x = (images.astype(np.float32) / 255.0)[..., None]
            face_weights = weights[labels].astype(np.float32)
            x, targets, face_weights = mix_faces(x, targets, face_weights, rng, recipe.mixup)
            return cut_faces(x, targets, face_weights, rng, recipe.cutmix)

    return Augmented()


def _epoch_timer_class():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Adds ``epoch_seconds`` to each epoch's logs (and so to history.csv)."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if logs is not None:
                logs["epoch_seconds"] = round(time.perf_counter() - self.began, 1)

    return EpochTimer


def loss_weights(labels: np.ndarray, scheme: str) -> np.ndarray:
    """Per-class loss weights (7,) for a recipe's ``class_weighting``."""
    balanced = class_weights(labels)
    if scheme == "balanced":
        return balanced
    if scheme == "sqrt":
        return np.sqrt(balanced)
    if scheme == "none":
        return np.ones_like(balanced)
    raise DataError(scheme, "unknown class weighting; known: balanced, sqrt, none")


def train(
    data: str | Path,
    recipe: Recipe,
    run_dir: str | Path,
    out_dir: str | Path,
    model_name: str,
    max_images: int | None = None,
    verbose: int = 2,
    export_only: bool = False,
    ferplus_dir: str | Path = DEFAULT_FERPLUS_DIR,
) -> TrainResult:
    """Train, keep the best epoch by validation accuracy, export .keras + int8 .tflite + card.

    Args:
        data: FER2013 train folder (class subfolders) or ``fer2013.csv`` (Training rows).
        recipe: how to train (see ``jobs.recipes``).
        run_dir: checkpoints, backups and the per-epoch log; reuse it to resume.
        out_dir: where the finished model files and model card go.
        model_name: file stem of the outputs (``<name>.keras``, ``<name>.int8.tflite``,
            ``<name>.json``).
        max_images: use a stratified sample of this many images (smoke runs).
        verbose: Keras fit verbosity.
        export_only: skip training and export the best checkpoint in ``run_dir`` as it
            is (a run stopped before its end; rerunning without it resumes training).
        ferplus_dir: FER+ votes, for recipes with ``labels="ferplus"``.
    """
    tensorflow_defaults()
    import keras
    from lightemo_video.model.export import as_float32, int8_tflite

    if recipe.labels not in LABELS:  # before loading 28k images
        raise DataError(recipe.labels, f"unknown labels; known: {', '.join(LABELS)}")
    teachers = teacher_files(recipe)
    if teachers and recipe.labels == "fer2013+ferplus":
        raise DataError(recipe.teacher, "a teacher blends into FER2013 or FER+ labels, not both")
    for teacher in teachers:
        if not teacher.is_file():
            raise DataError(teacher, "no such teacher model or probabilities file")
    machine = describe()
    if not keep_freed_memory():
        log.info("could not tune malloc (not glibc): training steps may spend time in page faults")
    if recipe.precision == "mixed_bfloat16" and not has_fast_bf16(machine):
        log.warning(
            "%s has no bf16 hardware (AMX/AVX512-BF16): mixed_bfloat16 is emulated and runs "
            "several times slower than --precision float32",
            machine["cpu"],
        )
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    done = len(_read_history(run_dir / "history.csv"))  # epochs behind a resumed run
    keras.utils.set_random_seed(recipe.seed + done)  # its dropout draws afresh too
    keras.mixed_precision.set_global_policy(recipe.precision)
    run_dir.mkdir(parents=True, exist_ok=True)

    faces = load_faces(data, split="train" if Path(data).is_dir() else "Training")
    if max_images is not None and max_images < len(faces):
        _, keep = stratified_split(faces.labels, max_images / len(faces), seed=recipe.seed)
        faces = faces.subset(keep)
    train_idx, val_idx = stratified_split(faces.labels, recipe.val_fraction, seed=recipe.seed)
    train_set, val_set = faces.subset(train_idx), faces.subset(val_idx)
    if recipe.labels == "ferplus":  # relabel after the split: the same validation images
        train_set, val_set = (
            ferplus_labels(train_set, ferplus_dir),
            ferplus_labels(val_set, ferplus_dir),
        )
    elif recipe.labels == "fer2013+ferplus":
        # validation keeps FER2013's labels: selection is on them
        train_set = blend_ferplus(train_set, ferplus_dir, recipe.ferplus_share)
    if teachers:
        shown = ", ".join(map(str, teachers))
        log.info("teacher %s: its probabilities on %d faces", shown, len(train_set))
        train_set = teacher_targets(train_set, teachers, recipe.teacher_share)
    weights = loss_weights(train_set.labels, recipe.class_weighting)
    targets = oversample_targets(train_set.labels) if recipe.oversample else train_set.counts()
    log.info("train %d, validation %d images", len(train_set), len(val_set))
    for name, n, w, t in zip(EMOTIONS, train_set.counts(), weights, targets, strict=True):
        log.info("class %-8s n=%5d weight=%.3f images/epoch=%d", name, n, w, t)

    model = build_architecture(recipe.architecture)
    if recipe.init_from and not (run_dir / "backup").exists():  # a resumed run has its own
        start_from(model, Path(recipe.init_from), seed=recipe.seed)
    sequence = make_sequence(train_set, weights, recipe, resumed_after=done)
    learning_rate = recipe.learning_rate
    if recipe.schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            recipe.learning_rate, decay_steps=recipe.epochs * len(sequence)
        )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
    )
    best_path = run_dir / "best.keras"
    # A resumed run keeps best.keras unless a later epoch beats every epoch logged so far.
    logged = [
        row["val_accuracy"]
        for row in _read_history(run_dir / "history.csv")
        if "val_accuracy" in row
    ]
    best_so_far = max(logged) if logged and best_path.exists() else None
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=recipe.lr_patience, verbose=1
    )
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        *([plateau] if recipe.schedule == "plateau" else []),
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=recipe.stop_patience, restore_best_weights=True
        ),
        keras.callbacks.ModelCheckpoint(
            str(best_path),
            monitor="val_accuracy",
            save_best_only=True,
            initial_value_threshold=best_so_far,
        ),
        _epoch_timer_class()(),  # before CSVLogger, so each row records its epoch's seconds
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
    ]
    x_val = (val_set.images.astype(np.float32) / 255.0)[..., None]
    started = time.perf_counter()
    if export_only:
        if not best_path.exists():
            raise DataError(run_dir, "no checkpoint (best.keras) to export; train first")
    else:
        model.fit(
            sequence,
            validation_data=(x_val, _targets(val_set)),
            epochs=recipe.epochs,
            callbacks=callbacks,
            verbose=verbose,
        )
    wall = time.perf_counter() - started
    history = _read_history(run_dir / "history.csv")
    best_model = keras.models.load_model(best_path, compile=False) if best_path.exists() else model
    final = as_float32(best_model, lambda: build_architecture(recipe.architecture))

    out_dir.mkdir(parents=True, exist_ok=True)
    keras_path = out_dir / f"{model_name}.keras"
    with atomic_path(keras_path) as tmp:
        final.save(tmp)
    tflite_path = write_bytes(out_dir / f"{model_name}.int8.tflite", int8_tflite(final))
    best_val = max((row["val_accuracy"] for row in history), default=float("nan"))
    card = {
        "name": model_name,
        "architecture": recipe.architecture,
        "parameters": int(final.count_params()),
        "recipe": recipe.to_dict(),
        "labels": recipe.labels,
        "test_time_augmentation": recipe.test_time_augmentation,
        "data": {
            "source": str(data),
            "train_images": len(train_set),
            "validation_images": len(val_set),
            "class_counts": dict(zip(EMOTIONS, map(int, train_set.counts()), strict=True)),
            "class_weights": dict(zip(EMOTIONS, map(float, weights.round(4)), strict=True)),
            "images_per_epoch": dict(zip(EMOTIONS, map(int, targets), strict=True)),
        },
        "training": {
            "epochs_run": len(history),
            "best_epoch": 1 + int(np.argmax([row["val_accuracy"] for row in history]))
            if history
            else None,
            "best_val_accuracy": round(float(best_val), 4),
            "complete": not export_only,
            "wall_time_s_this_invocation": round(wall, 1),
            "epoch_seconds_total": round(sum(row.get("epoch_seconds", 0.0) for row in history), 1)
            or None,
            "history": history,
            "machine": machine,  # epoch times are this CPU's
        },
        "files": {"keras": keras_path.name, "tflite": tflite_path.name},
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "metrics": {},
    }
    card_path = out_dir / f"{model_name}.json"
    write_json(card_path, card)
    return TrainResult(keras_path, tflite_path, card_path, len(history), float(best_val), wall)


def _targets(faces: FaceSet) -> np.ndarray:
    """Training targets: the label distributions, or one-hot labels."""
    return (
        faces.targets
        if faces.targets is not None
        else np.eye(NUM_CLASSES, dtype=np.float32)[faces.labels]
    )


def _read_history(path: Path) -> list[dict]:
    import csv

    if not path.exists():
        return []
    with path.open() as handle:
        rows = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]
    # A resumed run may log an epoch twice; keep the last record of each epoch.
    by_epoch = {int(row["epoch"]): row for row in rows}
    return [by_epoch[e] for e in sorted(by_epoch)]


if __name__ == "__main__":
    import sys

    from lightemo_video.cli import app

    app(["train", *sys.argv[1:]])
