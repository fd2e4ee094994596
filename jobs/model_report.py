"""The model report: an HTML page per model card with its facts, training curves and,
given an evaluation, per-class scores and the confusion matrix, to judge a model before
shipping it. Built from the same page pieces as the video reports."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from lightemo_video.model.labels import EMOTIONS
from lightemo_video.pipeline.outputs import atomic_path, read_json, write_text
from lightemo_video.pipeline.plots import figure
from lightemo_video.pipeline.report import (
    emotion_chip,
    escape_html,
    html_page,
    html_table,
    img_tag,
    kv_table,
)


def write_model_report(card_path: Path, metrics_path: Path | None, out: Path) -> Path:
    """Write an HTML page for a model card: its facts, training curves (loss and accuracy
    per epoch, train vs validation) and, given an evaluation's ``metrics.json``, the
    per-class scores and confusion matrix, to judge a model before shipping it.

    Raises:
        InputError: the card or metrics file is missing or not JSON.
    """
    import tempfile

    card = read_json(Path(card_path))
    name = str(card.get("name", Path(card_path).stem))
    history = (card.get("training") or {}).get("history") or []
    facts = {k: card[k] for k in ("name", "parameters", "recipe", "data", "files") if k in card}
    parts = [f"<h1>Model {escape_html(name)}</h1>", kv_table(facts), "<h2>Training</h2>"]
    if history:
        parts.append(img_tag(_training_curves(history), f"training curves of {name}"))
    else:
        parts.append("<p>No training history in this card.</p>")
    for split, summary in (card.get("metrics") or {}).items():
        parts += [f"<h2>Card metrics: {escape_html(split)}</h2>", kv_table(summary)]
    if metrics_path is not None:
        metrics = read_json(Path(metrics_path))
        rows = [
            f"<tr><td>{emotion_chip(c)}</td><td class=num>{s['precision']:.3f}</td>"
            f"<td class=num>{s['recall']:.3f}</td><td class=num>{s['f1']:.3f}</td>"
            f"<td class=num>{s['support']}</td></tr>"
            for c, s in metrics.get("per_class", {}).items()
        ]
        parts += [
            f"<h2>Evaluation: {escape_html(metrics.get('file', name))} on "
            f"{escape_html(metrics.get('images', '?'))} "
            f"images of {escape_html(metrics.get('data', '?'))}</h2>",
            f"<p>accuracy {metrics.get('accuracy', float('nan')):.4f}, "
            f"macro-F1 {metrics.get('macro_f1', float('nan')):.4f}</p>",
            html_table(["class", "precision", "recall", "F1", "support"], rows),
        ]
        if "confusion_matrix" in metrics:
            with tempfile.TemporaryDirectory() as scratch:
                png = plot_confusion(
                    np.asarray(metrics["confusion_matrix"]),
                    Path(scratch) / "confusion.png",
                    title=f"{metrics.get('file', name)}: rows true class, columns predicted",
                )
                parts.append(img_tag(png.read_bytes(), "confusion matrix"))
    return write_text(Path(out), html_page(f"{name}: model report", parts))


def _training_curves(history: list[dict]) -> bytes:
    """PNG of loss and accuracy per epoch, train vs validation, best validation epoch marked."""
    fig = figure(12, 4, layout="constrained")
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, label, style in ((metric, "train", "-"), (f"val_{metric}", "validation", "--")):
            ax.plot(
                epochs,
                [h.get(key, np.nan) for h in history],
                style,
                marker="o",
                markersize=3,
                label=label,
            )
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(color="#ddd", linewidth=0.6)
        ax.legend(frameon=False)
    val = np.array([h.get("val_accuracy", np.nan) for h in history], dtype=float)
    if not np.isnan(val).all():
        best = int(np.nanargmax(val))
        axes[1].axvline(epochs[best], color="#999", linewidth=0.8)
        axes[1].annotate(
            f"best {val[best]:.3f}",
            (epochs[best], val[best]),
            textcoords="offset points",
            xytext=(-64, -14),
            fontsize=8,
        )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


def plot_confusion(cm: np.ndarray, path: Path, title: str) -> Path:
    """Row-normalised confusion matrix with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(cm)):
        for j in range(len(cm)):
            ax.text(
                j,
                i,
                f"{share[i, j]:.2f}\n{cm[i, j]}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
