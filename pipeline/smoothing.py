"""Temporal smoothing of each face track's emotion probabilities.

A classifier looks at one frame at a time, so its label flickers on a face whose
expression has not changed. People hold an expression for seconds; smoothing uses that.
Methods (parameters in seconds, so they hold at any ``--sample-fps``):

- ``hmm`` (default, chosen on the video benchmark): a hidden Markov model whose state is the
  face's emotion and stays put with probability ``exp(-dt / dwell_s)`` between frames
  ``dt`` apart, else moves to an emotion drawn from the model's class prior. Each frame's
  probabilities, divided by that prior, are its evidence (a classifier's probability
  holds the prior once; multiplied frame after frame it would count once per frame and
  drown rarer expressions). Batch runs use forward-backward posteriors (they look
  ahead); live cameras use the forward pass alone (causal).
- ``ema``: exponential moving average with time constant ``dwell_s`` (causal).
- ``window``: mean over a centred window ``dwell_s`` wide (batch only; live falls back to ``ema``).
- ``none``: the raw per-frame probabilities.

Example:
    >>> smoothed = smooth_track(t, probs, Smoothing("hmm", dwell_s=2.0))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lightemo_video.model.errors import LightEmoError
from lightemo_video.model.labels import EMOTIONS

METHODS = ("hmm", "ema", "window", "none")
PROBS = list(EMOTIONS)
SMOOTHED = [f"smoothed_{name}" for name in EMOTIONS]  # the detections columns it fills


@dataclass(frozen=True)
class Smoothing:
    """How each track's probabilities are smoothed.

    Attributes:
        method: one of ``METHODS``.
        dwell_s: how long an expression is expected to last. Longer hides flicker and
            brief false expressions, but also brief real ones.
    """

    method: str = "hmm"
    dwell_s: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise LightEmoError(
                "--smoothing", f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}"
            )
        if self.dwell_s <= 0:
            raise LightEmoError("--smoothing", f"dwell time must be positive, got {self.dwell_s}")


def smooth_track(
    t: np.ndarray,
    probs: np.ndarray,
    smoothing: Smoothing,
    causal: bool = False,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """Smoothed probabilities (n, 7) of one track seen at times ``t`` (n,), ascending.

    ``prior``: the model's class prior (``model.runtime.class_prior``); None is uniform.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if smoothing.method == "none" or len(t) < 2:
        return probs
    if smoothing.method == "window" and not causal:
        return _centred_mean(t, probs, smoothing.dwell_s / 2)
    stay = np.exp(-np.diff(t, prepend=t[0]) / smoothing.dwell_s)  # stay[0] is unused
    if smoothing.method in ("ema", "window"):
        return _ema(probs, stay)
    prior = _uniform() if prior is None else np.asarray(prior, np.float64)
    forward = _forward(probs, stay, prior)
    return forward if causal else _posterior(probs, stay, forward, prior)


def smooth_detections(
    rows: pd.DataFrame, smoothing: Smoothing, prior: np.ndarray | None = None
) -> pd.DataFrame:
    """``rows`` (detections layout) with the ``smoothed_*`` columns computed per face track
    (``prior``: see :func:`smooth_track`)."""
    rows = rows.sort_values(["video_id", "face_id", "timestamp_s"], kind="stable")
    smoothed = np.empty((len(rows), len(PROBS)), dtype=np.float64)
    keys = rows[["video_id", "face_id"]].to_numpy()
    t = rows["timestamp_s"].to_numpy()
    probs = rows[PROBS].to_numpy(np.float64)
    starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)]) if len(rows) else []
    for a, b in zip(starts, [*starts[1:], len(rows)], strict=True):
        smoothed[a:b] = smooth_track(t[a:b], probs[a:b], smoothing, prior=prior)
    rows = with_smoothed(rows, smoothed)
    return rows.sort_values(["frame_index", "face_id"], kind="stable").reset_index(drop=True)


def with_smoothed(rows: pd.DataFrame, smoothed: np.ndarray) -> pd.DataFrame:
    """``rows`` with ``smoothed_*``, ``smoothed_emotion`` and ``smoothed_confidence`` set."""
    rows = rows.copy()
    rows[SMOOTHED] = smoothed.astype(np.float32)
    rows["smoothed_emotion"] = np.asarray(EMOTIONS)[smoothed.argmax(axis=1)] if len(rows) else []
    rows["smoothed_confidence"] = smoothed.max(axis=1).astype(np.float32) if len(rows) else []
    return rows


class LiveSmoother:
    """Causal smoothing for live cameras: one running state per face id (``prior``: see
    :func:`smooth_track`)."""

    def __init__(self, smoothing: Smoothing, prior: np.ndarray | None = None) -> None:
        self.smoothing = smoothing
        self.prior = _uniform() if prior is None else np.asarray(prior, np.float64)
        self._state: dict[int, tuple[float, np.ndarray]] = {}  # face id -> (last t, smoothed)

    def update(self, face_ids: np.ndarray, t: float, probs: np.ndarray) -> np.ndarray:
        """Smoothed probabilities (n, 7) for this frame's faces."""
        out = np.asarray(probs, dtype=np.float64).copy()
        if self.smoothing.method == "none":
            return out
        for k, face in enumerate(face_ids):
            previous = self._state.get(int(face))
            if previous is not None:
                stay = np.exp(-(t - previous[0]) / self.smoothing.dwell_s)
                if self.smoothing.method == "hmm":
                    evidence = out[k] / self.prior
                    out[k] = _normalise(evidence * (stay * previous[1] + (1 - stay) * self.prior))
                else:
                    out[k] = stay * previous[1] + (1 - stay) * out[k]
            self._state[int(face)] = (t, out[k])
        return out

    def forget_before(self, t: float) -> None:
        """Drop the state of faces unseen since ``t`` (bounded memory on long streams)."""
        self._state = {f: s for f, s in self._state.items() if s[0] >= t}


def _ema(probs: np.ndarray, stay: np.ndarray) -> np.ndarray:
    out = probs.copy()
    for i in range(1, len(out)):
        out[i] = stay[i] * out[i - 1] + (1 - stay[i]) * probs[i]
    return out


def _forward(probs: np.ndarray, stay: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Filtered state probabilities: P(emotion at t | frames up to t)."""
    evidence = probs / prior
    alpha = np.empty_like(probs)
    alpha[0] = _normalise(probs[0])
    for i in range(1, len(probs)):
        alpha[i] = _normalise(evidence[i] * (stay[i] * alpha[i - 1] + (1 - stay[i]) * prior))
    return alpha


def _posterior(
    probs: np.ndarray, stay: np.ndarray, alpha: np.ndarray, prior: np.ndarray
) -> np.ndarray:
    """Forward-backward: P(emotion at t | every frame of the track)."""
    evidence = probs / prior
    beta = np.ones_like(probs)
    for i in range(len(probs) - 2, -1, -1):
        message = evidence[i + 1] * beta[i + 1]
        beta[i] = _normalise(stay[i + 1] * message + (1 - stay[i + 1]) * (message * prior).sum())
    return _normalise(alpha * beta)


def _centred_mean(t: np.ndarray, values: np.ndarray, half_width: float) -> np.ndarray:
    cumulative = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    lo = np.searchsorted(t, t - half_width, side="left")
    hi = np.searchsorted(t, t + half_width, side="right")
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]


def _uniform() -> np.ndarray:
    return np.full(len(PROBS), 1.0 / len(PROBS))


def _normalise(p: np.ndarray) -> np.ndarray:
    total = p.sum(axis=-1, keepdims=True)
    return p / np.where(total > 0, total, 1.0)
