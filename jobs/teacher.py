"""A wide teacher for distillation: a ResNet-18-size network trained on the FER+ votes.

LightEmoNet's budget (<= 3 MB int8, about a millisecond per face) caps what it learns from
FER+ alone; a network twenty times its size learns more, and a small student learns
more from that network's probabilities than from the votes. Such a teacher takes days on
two CPU cores and minutes on a GPU, so this job runs anywhere but is written for a GPU
session with a fixed time budget:

    # once, where the dataset is: every train face, its FER2013 label and FER+ votes,
    # and which faces form the validation slice the shipped models are selected on
    python -m lightemo_video.jobs.teacher pack --out runs/teacher/faces.npz
    # where the GPU is (a time budget in minutes; the schedule is fitted to it)
    python -m lightemo_video.jobs.teacher train runs/teacher/faces.npz --minutes 6
    # back on the CPU: model files that outlive runs/ (.keras, int8 .tflite, card)
    python -m lightemo_video.jobs.teacher export runs/teacher model/weights/teachers/NAME

``train`` writes ``teacher.keras`` (float32, input: float (n, 48, 48, 1) in [0, 1], like
every LightEmoNet, so ``evaluate`` can score it), ``teacher-probs.npz`` (its flip-averaged
probabilities on every packed face, which ``Recipe.teacher`` names, so the student's CPU
never runs the teacher) and ``teacher.json`` (what was run and measured). The
student is then trained on the CPU (``jobs.recipes``); the shipped model never needs a GPU.
PublicTest is not packed: it is scored on the CPU, and PrivateTest is never used.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from lightemo_video.jobs.machine import describe, has_fast_bf16, tensorflow_defaults

tensorflow_defaults()

import cv2  # noqa: E402
import keras  # noqa: E402 - after the TensorFlow defaults, where it is the backend
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402
from lightemo_video.model.data import load_faces, stratified_split  # noqa: E402
from lightemo_video.model.errors import DataError, ModelError  # noqa: E402
from lightemo_video.model.ferplus import DEFAULT_FERPLUS_DIR, vote_distributions  # noqa: E402
from lightemo_video.model.labels import NUM_CLASSES  # noqa: E402
from lightemo_video.pipeline.outputs import atomic_path, write_bytes, write_json  # noqa: E402


def pack_faces(
    data: Path, ferplus_dir: Path, out: Path, val_fraction: float = 0.1, seed: int = 42
) -> Path:
    """Write the train faces with a usable FER+ vote, their vote distributions and the
    validation mask (the recipes' stratified slice: same fraction and seed) to ``out``.

    Faces are stored as their original image files' bytes (PNG-encoded when they came
    from a CSV), back to back, so the file stays small enough to send to a GPU machine
    (36 MB against 60 MB as compressed pixels)."""
    faces = load_faces(data, split="train" if Path(data).is_dir() else "Training")
    _, val_index = stratified_split(faces.labels, val_fraction, seed=seed)
    validation = np.zeros(len(faces), bool)
    validation[val_index] = True
    usable, votes = vote_distributions(faces, ferplus_dir)
    keep = np.flatnonzero(usable)
    encoded = [_encoded(faces.names[i], faces.images[i]) for i in keep]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        encoded=np.frombuffer(b"".join(encoded), np.uint8),
        offsets=np.cumsum([0, *map(len, encoded)]),
        votes=votes[keep],
        validation=validation[keep],
        names=np.asarray(faces.names)[keep],
        val_fraction=val_fraction,
        seed=seed,
    )
    return out


def packed_images(packed: np.lib.npyio.NpzFile) -> np.ndarray:
    """uint8 (n, 48, 48): the faces of a file written by :func:`pack_faces`."""
    if "images" in packed:
        return packed["images"]
    encoded, offsets = packed["encoded"], packed["offsets"]
    return np.stack(
        [
            cv2.imdecode(encoded[a:b], cv2.IMREAD_GRAYSCALE)
            for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        ]
    )


def _encoded(name: str, image: np.ndarray) -> bytes:
    path = Path(name)
    if path.suffix.lower() in (".jpg", ".jpeg", ".png") and path.is_file():
        return path.read_bytes()
    return cv2.imencode(".png", image)[1].tobytes()


def build_teacher(width: int = 64, input_size: int = 48) -> keras.Model:
    """ResNet-18 for 48x48 faces: a 3x3 stem without downsampling, four stages of two
    basic blocks (``width`` x 1, 2, 4, 8 filters; 48 -> 24 -> 12 -> 6 px), global average
    pooling, softmax. About 11M parameters at width 64."""

    def block(x, filters: int, stride: int):
        shortcut = x
        y = layers.Conv2D(filters, 3, stride, padding="same", use_bias=False)(x)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, stride, use_bias=False)(shortcut)
            shortcut = layers.BatchNormalization()(shortcut)
        return layers.ReLU()(layers.Add()([y, shortcut]))

    inputs = keras.Input((input_size, input_size, 1), name="face")
    x = layers.Conv2D(width, 3, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for stage, multiple in enumerate((1, 2, 4, 8)):
        x = block(x, width * multiple, 1 if stage == 0 else 2)
        x = block(x, width * multiple, 1)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"teacher_resnet18_w{width}")


def train_teacher(
    faces_file: Path,
    out: Path,
    minutes: float = 6.0,
    max_epochs: int = 150,
    width: int = 64,
    batch_size: int = 256,
    learning_rate: float = 0.1,
    mixup: float = 0.2,
    max_images: int | None = None,
    seed: int = 42,
    init_from: Path | None = None,
    precision: str = "auto",
) -> dict:
    """Train the teacher within ``minutes`` (the cosine schedule is fitted to the epochs
    that fit, measured on the first one and shortened if later ones run slower), keep the
    epoch with the best FER+ plurality accuracy on the validation slice, and write its
    files to ``out``.

    Runs on any Keras 3 backend (``KERAS_BACKEND``: tensorflow here, jax or torch on a
    GPU machine without TensorFlow); batches are drawn and mixed in numpy, augmented on
    the device by Keras layers. ``init_from`` (a ``teacher.keras`` of the same width)
    starts from a finished run's weights: a further cosine cycle, so that a teacher too
    slow for one sitting can be trained across several. ``precision`` ``auto`` trains in
    ``mixed_bfloat16`` where bf16 runs in hardware (a GPU, a CPU with AMX or AVX512-BF16)
    and in ``float32`` elsewhere, where bf16 is emulated and crawls."""
    began = time.perf_counter()
    packed = np.load(faces_file)
    images, votes, validation = packed_images(packed), packed["votes"], packed["validation"]
    if max_images is not None:
        images, votes, validation = images[:max_images], votes[:max_images], validation[:max_images]
    if not validation.any() or validation.all():
        raise DataError(faces_file, "needs faces both in and out of the validation slice")
    gpu = _has_gpu()
    if precision == "auto":
        precision = "mixed_bfloat16" if gpu or has_fast_bf16(describe()) else "float32"
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(precision)
    x = (images.astype(np.float32) / 255.0)[..., None]
    train = MixedBatches(x[~validation], votes[~validation], batch_size, mixup, seed)
    teacher = build_teacher(width)
    if init_from is not None:
        _load_weights(teacher, init_from)
    augment = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.04, fill_mode="nearest", seed=seed),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed),
            keras.layers.RandomZoom(0.1, fill_mode="nearest", seed=seed),
        ],
        name="augment",
    )
    inputs = keras.Input(teacher.input_shape[1:])
    trainer = keras.Model(inputs, teacher(augment(inputs)), name="trainer")  # saves as ``teacher``
    plan = {"epochs": max_epochs}  # refitted after the first epoch

    def rate(epoch: int) -> float:
        warmup = min(3, plan["epochs"])
        if epoch < warmup:
            return learning_rate * (epoch + 1) / warmup
        progress = (epoch - warmup) / max(plan["epochs"] - warmup, 1)
        return 0.5 * learning_rate * (1 + math.cos(math.pi * min(progress, 1.0)))

    best = {"accuracy": -1.0, "epoch": 0}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "teacher.keras"

    class Budget(keras.callbacks.Callback):
        """Fits the epochs to the time budget after the first one and refits them, only
        ever fewer, as later epochs are timed; stops there, and keeps the teacher of the
        epoch with the best validation accuracy."""

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.took: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.took.append(time.perf_counter() - self.started)
            # The first epoch includes compiling: 80% of it is a conservative first guess.
            per_epoch = self.took[0] * 0.8 if epoch == 0 else float(np.mean(self.took[1:]))
            left = minutes * 60 - (time.perf_counter() - began) - 45  # scoring and export
            fitted = epochs_that_fit(epoch + 1, per_epoch, left, plan["epochs"])
            if epoch == 0 or fitted < plan["epochs"]:
                print(
                    f"epoch {epoch + 1} took {self.took[-1]:.1f} s: training {fitted} epochs",
                    flush=True,
                )
            plan["epochs"] = fitted
            if logs["val_accuracy"] > best["accuracy"]:
                best.update(accuracy=float(logs["val_accuracy"]), epoch=epoch + 1)
                _save(teacher, path)
            if epoch + 1 >= plan["epochs"]:
                self.model.stop_training = True

    trainer.compile(
        optimizer=keras.optimizers.SGD(
            learning_rate, momentum=0.9, nesterov=True, weight_decay=5e-4
        ),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    history = trainer.fit(
        train,
        validation_data=(x[validation], votes[validation]),
        epochs=max_epochs,
        verbose=2,
        callbacks=[keras.callbacks.LearningRateScheduler(rate), Budget()],
    ).history
    keras.mixed_precision.set_global_policy("float32")  # bf16 layers crawl on CPUs without bf16
    teacher = build_teacher(width)
    _load_weights(teacher, path)
    _save(teacher, path)
    probs = _flip_averaged(teacher, x)
    val_accuracy = float((probs[validation].argmax(1) == votes[validation].argmax(1)).mean())
    with atomic_path(out / "teacher-probs.npz") as tmp:
        np.savez_compressed(tmp, probs=probs, names=packed["names"][: len(x)])
    report = {
        "architecture": teacher.name,
        "parameters": int(teacher.count_params()),
        "labels": "ferplus",
        "test_time_augmentation": "flip",  # as its probabilities were taken
        "backend": keras.backend.backend(),
        "device": "GPU" if gpu else "CPU",
        "precision": precision,
        "machine": describe(),
        "epochs_run": len(history["loss"]),
        "best_epoch": best["epoch"],
        "best_val_accuracy": round(best["accuracy"], 4),
        "val_accuracy_flip": round(val_accuracy, 4),
        "train_images": len(train.x),
        "validation_images": int(validation.sum()),
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "mixup": mixup,
        "init_from": None if init_from is None else str(init_from),
        **_recipe(packed),
        "seconds": round(time.perf_counter() - began, 1),
        "history": {k: [round(float(v), 4) for v in vs] for k, vs in history.items()},
    }
    write_json(out / "teacher.json", report)
    return report


def export_teacher(run: Path, to: Path) -> Path:
    """Turn a finished run into model files that outlive ``runs/``: ``<to>.keras``,
    ``<to>.int8.tflite`` (dynamic-range int8, like the shipped models) and ``<to>.json``,
    its card, so that ``evaluate``, ``bench`` and ``train --teacher`` take it by path and
    a later sitting can go on from it (``--init-from``). Needs TensorFlow (the int8 file);
    returns the card's path."""
    from lightemo_video.model.export import int8_tflite

    run, to = Path(run), Path(to)
    if not (run / "teacher.keras").is_file() or not (run / "teacher.json").is_file():
        raise ModelError(run, "not a finished teacher run: needs teacher.keras and teacher.json")
    teacher = keras.models.load_model(run / "teacher.keras", compile=False)
    to.parent.mkdir(parents=True, exist_ok=True)
    keras_path = write_bytes(to.parent / f"{to.name}.keras", (run / "teacher.keras").read_bytes())
    tflite = int8_tflite(teacher)
    tflite_path = write_bytes(to.parent / f"{to.name}.int8.tflite", tflite)
    card = {
        **json.loads((run / "teacher.json").read_text()),
        "name": to.name,
        "labels": "ferplus",
        "test_time_augmentation": "flip",
        "files": {"keras": keras_path.name, "tflite": tflite_path.name},
        "int8_bytes": len(tflite),
    }
    return write_json(to.parent / f"{to.name}.json", card)


def _save(model: keras.Model, path: Path) -> Path:
    """Save whole or not at all: a run stopped mid-save keeps the previous file."""
    with atomic_path(path) as tmp:
        model.save(tmp)
    return Path(path)


def epochs_that_fit(done: int, seconds_per_epoch: float, seconds_left: float, planned: int) -> int:
    """How many epochs a run should have in all: those done and those that still fit in
    the time left, never more than planned before (the cosine schedule only shortens)."""
    more = seconds_left // max(seconds_per_epoch, 1e-3)
    return int(max(done, min(planned, done + more)))


def _recipe(packed: np.lib.npyio.NpzFile) -> dict:
    """How the pack drew its validation slice, in a model card's words, so that
    ``evaluate --validation`` scores the teacher on the faces it was selected on."""
    if "seed" not in packed:
        return {}  # packed before packs recorded it
    return {"recipe": {"val_fraction": float(packed["val_fraction"]), "seed": int(packed["seed"])}}


def _load_weights(teacher: keras.Model, path: Path) -> None:
    if not Path(path).is_file():
        raise ModelError(path, "no such teacher file to start from")
    start = keras.models.load_model(path)
    if start.name != teacher.name:
        raise ModelError(path, f"is a {start.name}, not a {teacher.name}: pass its --width")
    teacher.set_weights(start.get_weights())


def _has_gpu() -> bool:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.devices()[0].platform == "gpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


class MixedBatches(keras.utils.PyDataset):
    """Shuffled batches of faces and vote distributions, each mixed with a shuffled copy
    of itself (mixup: weight ``Beta(mixup, mixup)``, the larger share first)."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, batch_size: int, mixup: float, seed: int
    ) -> None:
        super().__init__()
        self.x, self.y, self.batch_size, self.mixup = x, y, batch_size, mixup
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self) -> int:
        return max(len(self.x) // self.batch_size, 1)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        pick = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        xb, yb = self.x[pick], self.y[pick]
        if self.mixup > 0:
            lam = self.rng.beta(self.mixup, self.mixup, len(pick)).astype(np.float32)
            lam = np.maximum(lam, 1 - lam)
            other = self.rng.permutation(len(pick))
            xb = lam[:, None, None, None] * xb + (1 - lam[:, None, None, None]) * xb[other]
            yb = lam[:, None] * yb + (1 - lam[:, None]) * yb[other]
        return xb, yb

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.x))


def _flip_averaged(model, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """float32 (n, 7): the mean of the model's probabilities on each face and its mirror.
    (``model.runtime.FlipAveraged`` needs TensorFlow to load a file; this runs on any
    backend, on the model in memory.)"""
    out = []
    for i in range(0, len(x), batch):
        chunk = x[i : i + batch]
        out.append(
            (model.predict(chunk, verbose=0) + model.predict(chunk[:, :, ::-1], verbose=0)) / 2
        )
    return np.concatenate(out).astype(np.float32)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="Pack the faces, or train the wide teacher on them."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    pack = commands.add_parser("pack", help="write the train faces and FER+ votes to one .npz")
    pack.add_argument("--data", type=Path, default=Path("../shared/datasets/fer2013"))
    pack.add_argument("--ferplus-dir", type=Path, default=DEFAULT_FERPLUS_DIR)
    pack.add_argument("--out", type=Path, default=Path("runs/teacher/faces.npz"))
    train = commands.add_parser("train", help="train the teacher within a time budget")
    train.add_argument("faces", type=Path)
    train.add_argument("--out", type=Path, default=Path("runs/teacher"))
    train.add_argument("--minutes", type=float, default=6.0)
    train.add_argument("--max-epochs", type=int, default=150)
    train.add_argument("--width", type=int, default=64)
    train.add_argument("--batch-size", type=int, default=256)
    train.add_argument("--learning-rate", type=float, default=0.1)
    train.add_argument("--mixup", type=float, default=0.2)
    train.add_argument("--max-images", type=int, default=None, help="smoke runs")
    train.add_argument("--init-from", type=Path, default=None, help="a teacher.keras to go on from")
    train.add_argument(
        "--precision",
        choices=("auto", "float32", "mixed_bfloat16"),
        default="auto",
        help="auto: bf16 where the hardware runs it (GPU, AMX, AVX512-BF16)",
    )
    export = commands.add_parser("export", help="copy a finished run to model files")
    export.add_argument("run", type=Path, help="the run's folder (teacher.keras, teacher.json)")
    export.add_argument("to", type=Path, help="path and name, e.g. model/weights/teachers/T")
    args = parser.parse_args()
    if args.command == "pack":
        print(pack_faces(args.data, args.ferplus_dir, args.out))
    elif args.command == "export":
        print(export_teacher(args.run, args.to))
    else:
        report = train_teacher(
            args.faces,
            args.out,
            args.minutes,
            args.max_epochs,
            args.width,
            args.batch_size,
            args.learning_rate,
            args.mixup,
            args.max_images,
            init_from=args.init_from,
            precision=args.precision,
        )
        print(json.dumps({k: v for k, v in report.items() if k != "history"}))


if __name__ == "__main__":
    main()
