"""From per-frame faces to what people read: rows, per-second timelines, per-face
summaries and emotion segments ("face 3 happy 00:12.0-00:19.5")."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
from lightemo_video.model.labels import EMOTIONS
from lightemo_video.pipeline import schema
from lightemo_video.pipeline.records import FaceDetections

PROBS = list(EMOTIONS)
SMOOTHED = [f"smoothed_{name}" for name in EMOTIONS]


def detection_rows(
    video_id: str, frames: Iterable[FaceDetections], smoothed: np.ndarray | None = None
) -> pa.Table:
    """One row per (analysed frame, face) in the ``schema.DETECTIONS`` layout.

    Every record must carry ``probs`` and ``face_id``. ``smoothed`` (rows, 7) fills the
    ``smoothed_*`` columns; without it they repeat the raw probabilities (smoothing of a
    whole track happens once the video is complete, see ``pipeline.smoothing``).
    """
    frames = [f for f in frames if len(f)]
    if not frames:
        return schema.DETECTIONS.empty_table()
    xyxy = np.concatenate([f.xyxy for f in frames]).astype(np.float32)
    probs = np.concatenate([f.probs for f in frames]).astype(np.float32)
    smooth = probs if smoothed is None else np.asarray(smoothed, dtype=np.float32)
    counts = [len(f) for f in frames]
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
        "emotion": np.asarray(EMOTIONS)[probs.argmax(axis=1)],
        "confidence": probs.max(axis=1),
        **{name: smooth[:, k] for k, name in enumerate(SMOOTHED)},
        "smoothed_emotion": np.asarray(EMOTIONS)[smooth.argmax(axis=1)],
        "smoothed_confidence": smooth.max(axis=1),
    }
    return pa.table(columns, schema=schema.DETECTIONS)


def smoothed_view(detections: pd.DataFrame) -> pd.DataFrame:
    """What every summary is computed from: the smoothed probabilities and label under the
    plain names (``happy``..., ``emotion``), and as ``confidence`` the classifier's own
    (calibrated) probability of that label on the frame. Smoothed posteriors pile up
    evidence frame after frame and approach 1, which would overstate how sure it is.
    Files written before smoothing existed are used as they are."""
    if "smoothed_emotion" not in detections.columns:
        return detections
    label = detections["smoothed_emotion"].map(EMOTIONS.index).to_numpy()
    raw = detections[PROBS].to_numpy()[np.arange(len(detections)), label] if len(detections) else []
    view = detections.drop(columns=[*PROBS, "emotion", "confidence", "smoothed_confidence"])
    view = view.rename(
        columns={**dict(zip(SMOOTHED, PROBS, strict=True)), "smoothed_emotion": "emotion"}
    )
    return view.assign(confidence=np.asarray(raw, dtype=np.float32))


def timeline(detections: pd.DataFrame) -> pd.DataFrame:
    """One row per (face, whole second): mean smoothed probabilities, the dominant
    emotion (:func:`dominant`) and its mean probability, analysed frames."""
    if detections.empty:
        return schema.TIMELINE.empty_table().to_pandas()
    rows = smoothed_view(detections)
    rows = rows.assign(second=np.floor(rows["timestamp_s"]).astype(np.int64))
    keys = ["video_id", "face_id", "second"]
    out = rows.groupby(keys, sort=True)[PROBS].mean().astype(np.float32)
    out["frames"] = rows.groupby(keys, sort=True).size().astype(np.int64)
    out = out.reset_index().merge(dominant(rows, keys), on=keys)
    return out[schema.TIMELINE.names]


def timeline_since(
    previous: pd.DataFrame | None, detections: pd.DataFrame, since_s: float
) -> pd.DataFrame:
    """``timeline(detections)``, given ``previous``: the timeline of the same rows but those
    at ``since_s`` or later. Only the seconds from ``since_s`` on are recomputed, so a
    live camera's summary costs what its newest part holds, not its whole history."""
    if previous is None:
        return timeline(detections)
    second = np.floor(since_s)
    fresh = timeline(detections[detections["timestamp_s"] >= second])
    kept = previous[previous["second"] < second]
    out = pd.concat([kept, fresh], ignore_index=True) if len(kept) else fresh
    return out.sort_values(["video_id", "face_id", "second"], kind="stable", ignore_index=True)


def faces(detections: pd.DataFrame) -> pd.DataFrame:
    """One row per face track: when it was seen, its dominant emotion (:func:`dominant`),
    the share of its analysed frames per (smoothed) emotion, and where its picture is
    (:func:`thumbnails`)."""
    if detections.empty:
        return schema.FACES.empty_table().to_pandas()
    rows = smoothed_view(detections)
    keys = ["video_id", "face_id"]
    grouped = rows.groupby(keys, sort=True)
    stats = grouped.agg(
        first_seen_s=("timestamp_s", "min"),
        last_seen_s=("timestamp_s", "max"),
        frames=("timestamp_s", "size"),
        mean_confidence=("confidence", "mean"),
    ).reset_index()
    shares = (
        pd.crosstab([rows["video_id"], rows["face_id"]], rows["emotion"], normalize="index")
        .reindex(columns=PROBS, fill_value=0.0)
        .astype(np.float32)
        .add_prefix("share_")
        .reset_index()
    )
    out = stats.merge(dominant(rows, keys).drop(columns="confidence"), on=keys).merge(
        shares, on=keys
    )
    out = out.merge(thumbnails(rows, keys), on=keys)
    out["frames"] = out["frames"].astype(np.int64)
    out["mean_confidence"] = out["mean_confidence"].astype(np.float32)
    return out[schema.FACES.names]


def thumbnails(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group of rows, the frame and box of its best picture: the largest, most
    confident detection (``det_score`` x box area), as ``thumb_frame_index``, ``thumb_x``,
    ``thumb_y``, ``thumb_w``, ``thumb_h``; the earliest such frame on ties."""
    quality = rows["det_score"].astype(np.float64) * rows["w"] * rows["h"]
    best = rows.assign(quality=quality).sort_values(
        [*keys, "quality", "frame_index"], ascending=[*[True] * len(keys), False, True]
    )
    best = best.drop_duplicates(keys)
    out = best[[*keys, "frame_index", "x", "y", "w", "h"]].rename(
        columns={
            "frame_index": "thumb_frame_index",
            "x": "thumb_x",
            "y": "thumb_y",
            "w": "thumb_w",
            "h": "thumb_h",
        }
    )
    out["thumb_frame_index"] = out["thumb_frame_index"].astype(np.int64)
    for column in ("thumb_x", "thumb_y", "thumb_w", "thumb_h"):
        out[column] = out[column].astype(np.float32)
    return out.reset_index(drop=True)


def dominant(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The dominant emotion of each group of rows: the (smoothed) emotion held in the most
    analysed frames, ties going to the higher mean probability; ``confidence`` is the mean
    ``confidence`` of the frames that hold it. The one definition behind faces, timeline,
    reports and the console summary (segments hold one emotion by construction)."""
    held = rows.groupby([*keys, "emotion"], sort=True)
    counts = (
        held.size()
        .rename("n")
        .reset_index()
        .merge(held["confidence"].mean().reset_index(), on=[*keys, "emotion"])
    )
    means = rows.groupby(keys, sort=True)[PROBS].mean().reset_index()
    means = means.melt(id_vars=keys, value_vars=PROBS, var_name="emotion", value_name="mean")
    best = counts.merge(means, on=[*keys, "emotion"])
    best = best.sort_values([*keys, "n", "mean"], ascending=[True] * len(keys) + [False, False])
    best = best.drop_duplicates(keys)
    best["confidence"] = best["confidence"].astype(np.float32)
    return best[[*keys, "emotion", "confidence"]].reset_index(drop=True)


def segments(detections: pd.DataFrame, gap_s: float = 1.0) -> pd.DataFrame:
    """Runs of one (smoothed) emotion per face, in face then time order.

    A run ends one frame step (the face's median) after its last analysed frame.
    Computed with array operations: a camera's day holds about a million rows.

    Args:
        detections: rows in the ``schema.DETECTIONS`` layout.
        gap_s: a face unseen for longer than this starts a new segment.
    """
    rows = smoothed_view(detections)
    if rows.empty:
        return schema.SEGMENTS.empty_table().to_pandas()
    face = rows.groupby(["video_id", "face_id"], sort=True, dropna=False).ngroup().to_numpy()
    order = np.lexsort((rows["timestamp_s"].to_numpy(), face))  # by face, then time
    face = face[order]
    t = rows["timestamp_s"].to_numpy(np.float64)[order]
    labels = np.ascontiguousarray(rows[PROBS].to_numpy(np.float32)).argmax(axis=1)[order]
    confidence = rows["confidence"].to_numpy(np.float64)[order]
    starts = np.flatnonzero(
        np.r_[True, (face[1:] != face[:-1]) | (labels[1:] != labels[:-1]) | (np.diff(t) > gap_s)]
    )
    last = np.r_[starts[1:], len(t)] - 1
    frames = last - starts + 1
    step = np.zeros(face.max() + 1)
    for f, times in enumerate(np.split(t, np.flatnonzero(face[1:] != face[:-1]) + 1)):
        step[f] = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    end = t[last] + step[face[starts]]
    out = pd.DataFrame(
        {
            "video_id": rows["video_id"].to_numpy()[order[starts]],
            "face_id": rows["face_id"].to_numpy(np.int64)[order[starts]],
            "emotion": np.asarray(EMOTIONS, dtype=object)[labels[starts]],
            "start_s": t[starts],
            "end_s": end,
            "duration_s": end - t[starts],
            "frames": frames,
            "mean_confidence": np.add.reduceat(confidence, starts) / frames,
        }
    )
    return pa.Table.from_pandas(out, schema=schema.SEGMENTS, preserve_index=False).to_pandas()
