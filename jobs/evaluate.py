"""Evaluate a LightEmoNet model on a labelled FER2013 split: accuracy, macro-F1, per-class
scores, confusion matrix, size on disk, single-image latency and batched throughput.

Run as ``lightemo-video evaluate --data ../shared/datasets/fer2013/test`` (the shipped
default model, both its .keras and int8 .tflite files) or
``python -m lightemo_video.jobs.evaluate``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from lightemo_video.jobs.machine import describe, tensorflow_defaults
from lightemo_video.jobs.model_report import plot_confusion, write_model_report
from lightemo_video.model.data import FaceSet, load_faces, stratified_split
from lightemo_video.model.errors import DataError, ModelError
from lightemo_video.model.ferplus import DEFAULT_FERPLUS_DIR, ferplus_labels
from lightemo_video.model.labels import EMOTIONS, NUM_CLASSES
from lightemo_video.model.preprocess import preprocess_faces
from lightemo_video.model.runtime import (
    EmotionModel,
    FlipAveraged,
    card_file,
    has_tensorflow,
    open_model_file,
    resolve_model,
)
from lightemo_video.pipeline.outputs import write_json


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix
    (rows: true class, columns: predicted class, ``EMOTIONS`` order)."""
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    per_class = {}
    for k, name in enumerate(EMOTIONS):
        tp = cm[k, k]
        precision = tp / cm[:, k].sum() if cm[:, k].sum() else 0.0
        recall = tp / cm[k, :].sum() if cm[k, :].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(cm[k, :].sum()),
        }
    return {
        "accuracy": round(float(np.trace(cm) / cm.sum()), 4),
        "macro_f1": round(float(np.mean([c["f1"] for c in per_class.values()])), 4),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def latency(model: EmotionModel, faces: np.ndarray, runs: int = 1000) -> dict:
    """Single-image forward-pass latency in ms (mean, median, p95) over ``runs`` calls,
    after 20 warm-up calls; input already preprocessed, so no I/O or resizing is timed."""
    one = faces[:1]
    for _ in range(20):
        model.predict(one)
    times = np.empty(runs)
    for i in range(runs):
        x = faces[i % len(faces)][None]
        began = time.perf_counter()
        model.predict(x)
        times[i] = time.perf_counter() - began
    ms = times * 1000
    return {
        "runs": runs,
        "mean_ms": round(float(ms.mean()), 4),
        "median_ms": round(float(np.median(ms)), 4),
        "p95_ms": round(float(np.percentile(ms, 95)), 4),
    }


def throughput(model: EmotionModel, faces: np.ndarray, batch: int = 64) -> float:
    """Images per second when classifying ``faces`` in batches of ``batch``."""
    model.predict(faces[:batch])
    began = time.perf_counter()
    for i in range(0, len(faces), batch):
        model.predict(faces[i : i + batch])
    return round(len(faces) / (time.perf_counter() - began), 1)


def evaluate_file(model: EmotionModel, path: Path, test: FaceSet, latency_runs: int) -> dict:
    """All figures for one model file on one test set."""
    x = (test.images.astype(np.float32) / 255.0)[..., None]
    probs = np.concatenate([model.predict(x[i : i + 256]) for i in range(0, len(x), 256)])
    result = classification_metrics(test.labels, probs.argmax(axis=1))
    result.update(
        file=path.name,
        size_bytes=path.stat().st_size,
        latency=latency(model, x, latency_runs),
        throughput_images_per_s=throughput(model, x[:2048]),
    )
    return result


def evaluate(
    data: str | Path,
    model: str | None = None,
    out_dir: str | Path = "outputs/evaluation",
    latency_runs: int = 1000,
    write_card: bool = False,
    tta: str | None = None,
    validation: bool = False,
    labels: str | None = None,
    ferplus_dir: str | Path = DEFAULT_FERPLUS_DIR,
) -> dict:
    """Evaluate a shipped model (its .keras and int8 .tflite) or one model file.

    Writes ``metrics.json``, ``confusion_matrix.png`` and (for a model with a card)
    ``model_report.html`` with training curves to ``out_dir``; the top-level
    figures are those of the int8 file the pipeline runs (or of the file given).

    Args:
        data: a class-folder split (e.g. ``fer2013/test``) or ``fer2013.csv`` (PublicTest rows).
        model: shipped model name or a ``.keras``/``.tflite`` path; ``None``: the default.
        out_dir: where the metrics and the plot go.
        latency_runs: single-image forward passes to time.
        write_card: also store the figures in the model's card (beside its files).
        tta: test-time augmentation (``none``/``flip``); ``None``: as the model card says,
            which is how the pipeline runs the model.
        validation: score the validation slice of the training data (``data`` is then the
            train folder or ``fer2013.csv``) that the model was selected on, as its card's
            recipe drew it; this is where choices such as test-time augmentation are made
            without looking at the test split.
        labels: score against ``fer2013``'s own labels or the ``ferplus`` crowd votes
            (plurality; images without a usable vote are left out, see ``model.ferplus``);
            ``None``: the labels the model was trained for.
        ferplus_dir: FER+ votes, for ``labels="ferplus"``.
    """
    tensorflow_defaults()
    data = Path(data)
    files = _files_to_evaluate(model)
    card_path = card_file(next(iter(files.values())))
    if labels is None:
        trained = json.loads(card_path.read_text()).get("labels") if card_path.is_file() else None
        labels = "ferplus" if trained == "ferplus" else "fer2013"
    if validation:
        test = validation_slice(data, next(iter(files.values())))
    else:
        test = load_faces(data, split="test" if data.is_dir() else "PublicTest")
    if labels == "ferplus":
        test = ferplus_labels(test, ferplus_dir)
    elif labels != "fer2013":
        raise DataError("--labels", f"unknown labels '{labels}'; choose fer2013 or ferplus")
    formats = {}
    for fmt, path in files.items():
        runtime = open_model_file(path, num_threads=1, tta=tta, calibrated=False)
        formats[fmt] = evaluate_file(runtime, path, test, latency_runs)
        plain = runtime.model if isinstance(runtime, FlipAveraged) else runtime
        formats[fmt]["test_time_augmentation"] = "flip" if plain is not runtime else "none"
        if fmt == "keras":
            formats[fmt]["parameters"] = int(plain.model.count_params())
    primary = formats.get("tflite") or formats["keras"]
    metrics = {
        **primary,
        "size_bytes_by_format": {fmt: m["size_bytes"] for fmt, m in formats.items()},
        "parameters": formats.get("keras", {}).get("parameters"),
        "model": model or "default",
        "labels": labels,
        "data": str(data),
        "images": len(test),
        "machine": describe(),  # latency and throughput are this CPU's
        "formats": formats,
    }
    out_dir = Path(out_dir)
    write_json(out_dir / "metrics.json", metrics)
    plot_confusion(
        np.asarray(primary["confusion_matrix"]),
        out_dir / "confusion_matrix.png",
        title=f"{primary['file']}: accuracy {primary['accuracy']:.3f} on {data.name}",
    )
    key = ("validation" if validation else "publictest") + (
        "_ferplus" if labels == "ferplus" else ""
    )
    if write_card:
        if not card_path.is_file():
            raise ModelError(card_path, "no model card to write the figures into")
        _store_in_card(card_path, data, metrics, key)
    if card_path.is_file():
        write_model_report(card_path, out_dir / "metrics.json", out_dir / "model_report.html")
        trained = json.loads(card_path.read_text()).get("labels", "fer2013")
        scored_on = "ferplus" if trained == "ferplus" else "fer2013"  # fer2013+ferplus: FER2013's
        # the shipped report: its own labels
        if write_card and not validation and labels == scored_on:
            write_model_report(
                card_path, out_dir / "metrics.json", card_path.with_suffix(".report.html")
            )
    return metrics


def calibration_error(probs: np.ndarray, labels: np.ndarray) -> float:
    """Expected calibration error of a model's top probabilities against ``labels``."""
    return confidence_gap(probs.max(axis=1), probs.argmax(axis=1) == labels)


def confidence_gap(confidence: np.ndarray, right: np.ndarray, bins: int = 15) -> float:
    """The gap between confidence and accuracy, averaged over equal-width confidence bins
    weighted by their share of predictions (expected calibration error)."""
    which = np.clip((np.asarray(confidence) * bins).astype(int), 0, bins - 1)
    right = np.asarray(right, dtype=float)
    return float(
        sum(
            (which == b).mean() * abs(confidence[which == b].mean() - right[which == b].mean())
            for b in range(bins)
            if (which == b).any()
        )
    )


def log_loss(probs: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under ``probs`` scaled by ``temperature``."""
    from lightemo_video.model.runtime import scale_temperature

    scaled = scale_temperature(probs, temperature)
    return float(-np.log(np.clip(scaled[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature (0.05-10) that minimises the log-loss of ``labels``."""
    from scipy.optimize import minimize_scalar

    best = minimize_scalar(
        lambda t: log_loss(probs, labels, t), bounds=(0.05, 10.0), method="bounded"
    )
    return round(float(best.x), 4)


def calibrate(
    data: str | Path,
    model: str | None = None,
    ferplus_dir: str | Path = DEFAULT_FERPLUS_DIR,
    write_card: bool = True,
) -> dict:
    """Fit the temperature that makes a shipped model's confidence honest, on the
    validation slice it was selected on, scored against the labels it was trained for
    (FER+ plurality for FER+ models); run as the pipeline runs it (int8, its card's
    test-time augmentation). Stores ``calibration`` in the card when ``write_card``."""
    from lightemo_video.model.runtime import scale_temperature, test_time_augmentation

    path = resolve_model(model)
    card_path = card_file(path)
    faces = validation_slice(Path(data), path)
    trained = (
        json.loads(card_path.read_text()).get("labels", "fer2013")
        if card_path.is_file()
        else "fer2013"
    )
    if trained == "ferplus":
        faces = ferplus_labels(faces, ferplus_dir)
    tta = test_time_augmentation(path)
    probs = open_model_file(path, tta=tta, calibrated=False).predict(preprocess_faces(faces.images))

    t = fit_temperature(probs, faces.labels)
    result = {
        "temperature": t,
        "test_time_augmentation": tta,
        "labels": "ferplus" if trained == "ferplus" else "fer2013",
        "images": len(faces),
        "nll_before": round(log_loss(probs, faces.labels, 1.0), 4),
        "nll_after": round(log_loss(probs, faces.labels, t), 4),
        "ece_before": round(calibration_error(probs, faces.labels), 4),
        "ece_after": round(calibration_error(scale_temperature(probs, t), faces.labels), 4),
    }
    if write_card:
        card = json.loads(card_path.read_text())
        card["calibration"] = result
        write_json(card_path, card)
    return result


def _files_to_evaluate(model: str | None) -> dict[str, Path]:
    """The model files to score: one file given by path, or a shipped model's int8 file
    and, where it ships one and TensorFlow is installed, its ``.keras`` file."""
    if model is not None and Path(model).suffix in (".keras", ".tflite"):
        path = resolve_model(model)
        return {path.suffix[1:]: path}
    files = {"tflite": resolve_model(model, "tflite")}
    if has_tensorflow():
        try:
            files = {"keras": resolve_model(model, "keras"), **files}
        except ModelError:  # an install that ships only the int8 file
            pass
    return files


def validation_slice(data: Path, model_file: Path) -> FaceSet:
    """The stratified slice of the training data that a model was selected on, drawn as
    its model card's recipe drew it (same fraction and seed)."""
    card = card_file(model_file)
    if not card.is_file():
        raise ModelError(model_file, "no model card beside it: its validation slice is unknown")
    recipe = json.loads(card.read_text()).get("recipe")
    if not isinstance(recipe, dict) or not {"val_fraction", "seed"} <= recipe.keys():
        raise ModelError(card, "names no recipe: the model's validation slice is unknown")
    faces = load_faces(data, split="train" if data.is_dir() else "Training")
    _, val_idx = stratified_split(faces.labels, recipe["val_fraction"], seed=recipe["seed"])
    return faces.subset(val_idx)


def _store_in_card(card_path: Path, data: Path, metrics: dict, key: str) -> None:
    card = json.loads(card_path.read_text())
    summary = {
        fmt: {
            k: m[k]
            for k in (
                "accuracy",
                "macro_f1",
                "per_class",
                "size_bytes",
                "latency",
                "throughput_images_per_s",
                "test_time_augmentation",
            )
        }
        for fmt, m in metrics["formats"].items()
    }
    card.setdefault("metrics", {})[key] = {
        "data": str(data),
        "images": metrics["images"],
        "machine": metrics["machine"],
        **summary,
    }
    write_json(card_path, card)


if __name__ == "__main__":
    import sys

    from lightemo_video.cli import app

    app(["evaluate", *sys.argv[1:]])
