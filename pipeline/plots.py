"""The timeline plot: one panel per face with its emotion probabilities over time, so a
glance shows who felt what when. Each emotion has one colour (:data:`EMOTION_COLORS`) used in
every plot, video overlay and table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from lightemo_video.model.labels import EMOTIONS
from lightemo_video.pipeline import aggregate
from lightemo_video.pipeline.export import clock
from lightemo_video.pipeline.outputs import TIMELINE_PNG, atomic_path, read_rows

if TYPE_CHECKING:
    from matplotlib.figure import Figure

EMOTION_COLORS: dict[str, str] = {
    "angry": "#d62728",
    "disgust": "#6b8e23",
    "fear": "#9467bd",
    "happy": "#f5c518",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#a0a0a0",
}
"""One colour per emotion (``EMOTIONS`` order), shared by plots, overlays and tables."""

MAX_PANELS = 12
"""Faces plotted in ``timeline.png``; more panels would be too small to read."""

GAP_S = 1.0
"""A face unseen for longer than this leaves a gap in its plot and starts a new segment."""

PLOT_POINTS = 2400
"""Most time points drawn per face (twice the plot's width in pixels): a longer series,
such as a camera's day, is averaged over equal spans of time first, which looks the same
and draws in a fraction of the time."""


def plot_timeline(video_dir: Path, detections: pd.DataFrame | None = None) -> Path:
    """Write ``timeline.png``: one panel per face with its emotion probabilities over time
    (per analysed frame, smoothed per track, see ``pipeline.smoothing``) as stacked areas and a
    thin band of its dominant-emotion segments, on one shared time axis, so a glance shows who
    felt what when. The faces seen longest come first (at most :data:`MAX_PANELS`).

    ``detections`` are the folder's per-frame rows when the caller already holds them (the
    monitor keeps a camera's rows in memory), so they are not read from disk again.

    Raises:
        InputError: ``video_dir`` is not a successfully analysed video folder.
    """
    from matplotlib.patches import Patch

    video_dir = Path(video_dir)
    run, detections = read_rows(video_dir, detections)
    duration = float(run.get("duration_s") or 1.0)
    order = _faces_by_importance(detections)
    shown = order[:MAX_PANELS]
    title = f"{run.get('video_id', video_dir.name)}: {duration:.1f} s, {len(order)} faces"
    if len(order) > len(shown):
        title += f" (showing the {len(shown)} seen longest)"

    if not shown:
        fig = figure(12, 2.4)
        fig.text(0.5, 0.62, "no faces found", ha="center", va="center", fontsize=26, color="#444")
        fig.text(0.5, 0.3, title, ha="center", va="center", fontsize=12, color="#666")
        return save_png(fig, video_dir / TIMELINE_PNG)

    fig = figure(12, 0.9 + 1.45 * len(shown), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(shown), 1, sharex=True))
    for ax, face_id in zip(axes, shown, strict=True):
        face = detections[detections["face_id"] == face_id].sort_values("timestamp_s")
        seen = face["timestamp_s"].to_numpy()
        x, y = _smoothed_series(
            seen, aggregate.smoothed_view(face)[list(EMOTIONS)].to_numpy(np.float64)
        )
        ax.stackplot(x, y.T, colors=[EMOTION_COLORS[e] for e in EMOTIONS], linewidth=0)
        for emotion, spans in _band(x, y).items():
            ax.broken_barh(spans, (1.04, 0.12), facecolors=EMOTION_COLORS[emotion])
        ax.set_ylim(0, 1.18)
        ax.set_yticks([0, 0.5, 1])
        ax.set_ylabel(f"face {face_id}", fontsize=10, fontweight="bold")
        ax.set_title(
            f"seen {clock(seen[0])}-{clock(seen[-1])} in {len(seen)} analysed frames; "
            "top band: dominant emotion",
            loc="right",
            fontsize=8,
            color="#555",
        )
        ax.grid(axis="x", color="#ddd", linewidth=0.6)
        ax.set_axisbelow(True)
    axes[-1].set_xlim(0, duration)
    axes[-1].set_xlabel("time (s)")
    handles = [Patch(color=EMOTION_COLORS[e], label=e) for e in EMOTIONS]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(EMOTIONS), frameon=False)
    fig.suptitle(title, fontsize=12, parse_math=False)  # a $ in a file name is no formula
    return save_png(fig, video_dir / TIMELINE_PNG)


def _faces_by_importance(detections: pd.DataFrame) -> list[int]:
    """Face ids, most analysed frames first, then largest mean box area."""
    if detections.empty:
        return []
    stats = detections.assign(area=detections["w"] * detections["h"]).groupby("face_id")
    ranked = pd.DataFrame({"frames": stats.size(), "area": stats["area"].mean()})
    ranked = ranked.sort_values(["frames", "area"], ascending=False, kind="stable")
    return [int(i) for i in ranked.index]


def _smoothed_series(t: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One face's smoothed probabilities (those ``aggregate.segments`` reads), each run
    held for one frame step after its last analysed frame, with a NaN row (a gap in the
    plot) wherever the face went unseen; averaged over equal spans of time when there are
    more than :data:`PLOT_POINTS` frames.

    Args:
        t: (n,) float timestamps in seconds, ascending.
        probs: (n, 7) float probabilities per analysed frame.

    Returns:
        x (m,) float seconds and y (m, 7) float, m <= 3 * min(n, PLOT_POINTS).
    """
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.1
    gap = GAP_S
    if len(t) > PLOT_POINTS:
        span = (t[-1] - t[0]) / PLOT_POINTS
        bins = np.minimum((t - t[0]) // span, PLOT_POINTS - 1)
        first = np.flatnonzero(np.r_[True, np.diff(bins) > 0])
        probs = np.add.reduceat(probs, first) / np.diff(np.r_[first, len(t)])[:, None]
        t = t[first]
        step, gap = max(step, span), max(GAP_S, 2 * span)  # a gap is one the picture shows
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for run in np.split(np.arange(len(t)), np.flatnonzero(np.diff(t) > gap) + 1):
        xs += [t[run], [t[run[-1]] + step, np.nan]]
        ys += [probs[run], probs[run[-1:]], np.full((1, probs.shape[1]), np.nan)]
    return np.concatenate(xs), np.concatenate(ys)


def _band(x: np.ndarray, y: np.ndarray) -> dict[str, list[tuple[float, float]]]:
    """The dominant-emotion band over a series from :func:`_smoothed_series`: each drawn
    step takes its emotion with the highest probability (the smoothed label, the one
    segments hold), and neighbouring steps of one emotion join into one span.

    Returns:
        emotion -> [(start_s, width_s), ...].
    """
    drawn = np.flatnonzero(~np.isnan(y[:-1, 0]) & ~np.isnan(y[1:, 0]))  # steps x[i] -> x[i+1]
    if len(drawn) == 0:
        return {}
    labels = y[drawn].argmax(axis=1)
    first = np.flatnonzero(np.r_[True, (np.diff(labels) != 0) | (np.diff(drawn) != 1)])
    last = np.r_[first[1:], len(drawn)] - 1
    starts, ends = x[drawn[first]], x[drawn[last] + 1]
    band: dict[str, list[tuple[float, float]]] = {}
    for label, start, end in zip(labels[first], starts, ends, strict=True):
        band.setdefault(EMOTIONS[label], []).append((float(start), float(end - start)))
    return band


def figure(width_in: float, height_in: float, layout: str | None = None) -> Figure:
    """A matplotlib Figure on its own Agg canvas: no pyplot, no global backend change."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def prepare_plotting() -> None:
    """Load matplotlib and draw one small figure now, so that a live camera's first plot
    does not hold up its analysis loop while matplotlib loads (seconds on a busy CPU)."""
    figure(1.0, 1.0).canvas.draw()


def save_png(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", facecolor="white")
    return path
