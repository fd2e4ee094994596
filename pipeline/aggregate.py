"""From per-frame faces to what people read: rows, per-second timelines, per-face
summaries and emotion segments ("face 3 happy 00:12.0-00:19.5")."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from model.labels import EMOTIONS
from pipeline import schema
from pipeline.records import FaceDetections

PROBS = list(EMOTIONS)


def detection_rows(video_id: str, frames: Iterable[FaceDetections]) -> pa.Table:
    """One row per (analysed frame, face) in the ``schema.DETECTIONS`` layout.

    Every record must carry ``probs`` and ``face_id``.
    """
    frames = [f for f in frames if len(f)]
    if not frames:
        return schema.DETECTIONS.empty_table()
    xyxy = np.concatenate([f.xyxy for f in frames]).astype(np.float32)
    probs = np.concatenate([f.probs for f in frames]).astype(np.float32)
    counts = [len(f) for f in frames]
    labels = probs.argmax(axis=1)
    columns = {
        "video_id": [video_id] * len(probs),
        "frame_index": np.repeat([f.frame_index for f in frames], counts).astype(np.int64),
        "timestamp_s": np.repeat([f.timestamp_s for f in frames], counts).astype(np.float64),
        "face_id": np.concatenate([f.face_id for f in frames]).astype(np.int64),
        "x": xyxy[:, 0],
        "y": xyxy[:, 1],
        "w": xyxy[:, 2] - xyxy[:, 0],
        "h": xyxy[:, 3] - xyxy[:, 1],
        "det_score": np.concatenate([f.score for f in frames]).astype(np.float32),
        **{name: probs[:, k] for k, name in enumerate(EMOTIONS)},
        "emotion": np.asarray(EMOTIONS)[labels],
        "confidence": probs.max(axis=1),
    }
    return pa.table(columns, schema=schema.DETECTIONS)


def timeline(detections: pd.DataFrame) -> pd.DataFrame:
    """One row per (face, whole second): mean probabilities, dominant emotion, frames."""
    if detections.empty:
        return schema.TIMELINE.empty_table().to_pandas()
    df = detections.assign(second=np.floor(detections["timestamp_s"]).astype(np.int64))
    grouped = df.groupby(["video_id", "face_id", "second"], sort=True)
    out = grouped[PROBS].mean().astype(np.float32)
    out["frames"] = grouped.size().astype(np.int64)
    out = out.reset_index()
    return _with_dominant(out)[schema.TIMELINE.names]


def faces(detections: pd.DataFrame) -> pd.DataFrame:
    """One row per face track: when it was seen, its dominant emotion, emotion shares."""
    if detections.empty:
        return schema.FACES.empty_table().to_pandas()
    grouped = detections.groupby(["video_id", "face_id"], sort=True)
    out = grouped[PROBS].mean().astype(np.float32)
    out = _with_dominant(out.reset_index()).drop(columns=PROBS + ["confidence"])
    stats = grouped.agg(
        first_seen_s=("timestamp_s", "min"),
        last_seen_s=("timestamp_s", "max"),
        frames=("timestamp_s", "size"),
        mean_confidence=("confidence", "mean"),
    ).reset_index()
    shares = (
        pd.crosstab([detections["video_id"], detections["face_id"]], detections["emotion"], normalize="index")
        .reindex(columns=PROBS, fill_value=0.0)
        .astype(np.float32)
        .add_prefix("share_")
        .reset_index()
    )
    out = out.merge(stats, on=["video_id", "face_id"]).merge(shares, on=["video_id", "face_id"])
    out["frames"] = out["frames"].astype(np.int64)
    out["mean_confidence"] = out["mean_confidence"].astype(np.float32)
    return out[schema.FACES.names]


def segments(detections: pd.DataFrame, smooth_s: float = 1.0, gap_s: float = 1.0) -> pd.DataFrame:
    """Runs of one dominant emotion per face, after smoothing probabilities over time.

    Args:
        detections: rows in the ``schema.DETECTIONS`` layout.
        smooth_s: width of the centred moving average applied to each face's
            probabilities; wider hides flicker but blurs short expressions.
        gap_s: a face unseen for longer than this starts a new segment.
    """
    parts = []
    for (video_id, face_id), face in detections.sort_values("timestamp_s").groupby(
        ["video_id", "face_id"], sort=True
    ):
        t = face["timestamp_s"].to_numpy()
        probs = moving_average(t, face[PROBS].to_numpy(np.float64), smooth_s / 2)
        labels = probs.argmax(axis=1)
        step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
        breaks = np.flatnonzero((np.diff(labels) != 0) | (np.diff(t) > gap_s)) + 1
        for run in np.split(np.arange(len(t)), breaks):
            start, end = t[run[0]], t[run[-1]] + step
            parts.append(
                {
                    "video_id": video_id,
                    "face_id": int(face_id),
                    "emotion": EMOTIONS[labels[run[0]]],
                    "start_s": float(start),
                    "end_s": float(end),
                    "duration_s": float(end - start),
                    "frames": len(run),
                    "mean_confidence": float(probs[run, labels[run[0]]].mean()),
                }
            )
    if not parts:
        return schema.SEGMENTS.empty_table().to_pandas()
    return pa.Table.from_pylist(parts, schema=schema.SEGMENTS).to_pandas()


def moving_average(t: np.ndarray, values: np.ndarray, half_width: float) -> np.ndarray:
    """Mean of ``values`` rows whose time lies within ``half_width`` of each row's time."""
    cumulative = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    lo = np.searchsorted(t, t - half_width, side="left")
    hi = np.searchsorted(t, t + half_width, side="right")
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]


def _with_dominant(df: pd.DataFrame) -> pd.DataFrame:
    probs = df[PROBS].to_numpy()
    df["emotion"] = np.asarray(EMOTIONS)[probs.argmax(axis=1)]
    df["confidence"] = probs.max(axis=1).astype(np.float32)
    return df
