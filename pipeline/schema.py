"""The declared Parquet schemas of every output table (documented in the README)."""

from __future__ import annotations

import pyarrow as pa
from lightemo_video.model.labels import EMOTIONS

_PROBS = [pa.field(name, pa.float32()) for name in EMOTIONS]

DETECTIONS = pa.schema(
    [
        pa.field("video_id", pa.string()),
        pa.field("frame_index", pa.int64()),
        pa.field("timestamp_s", pa.float64()),
        pa.field("face_id", pa.int64()),
        pa.field("x", pa.float32()),
        pa.field("y", pa.float32()),
        pa.field("w", pa.float32()),
        pa.field("h", pa.float32()),
        pa.field("det_score", pa.float32()),
        *_PROBS,
        pa.field("emotion", pa.string()),
        pa.field("confidence", pa.float32()),
        *[pa.field(f"smoothed_{name}", pa.float32()) for name in EMOTIONS],
        pa.field("smoothed_emotion", pa.string()),
        pa.field("smoothed_confidence", pa.float32()),
    ]
)

TIMELINE = pa.schema(
    [
        pa.field("video_id", pa.string()),
        pa.field("face_id", pa.int64()),
        pa.field("second", pa.int64()),
        *_PROBS,
        pa.field("emotion", pa.string()),
        pa.field("confidence", pa.float32()),
        pa.field("frames", pa.int64()),
    ]
)

FACES = pa.schema(
    [
        pa.field("video_id", pa.string()),
        pa.field("face_id", pa.int64()),
        pa.field("first_seen_s", pa.float64()),
        pa.field("last_seen_s", pa.float64()),
        pa.field("frames", pa.int64()),
        pa.field("emotion", pa.string()),
        *[pa.field(f"share_{name}", pa.float32()) for name in EMOTIONS],
        pa.field("mean_confidence", pa.float32()),
        # the face's picture: its largest, most confident box (det_score x area)
        pa.field("thumb_frame_index", pa.int64()),
        pa.field("thumb_x", pa.float32()),
        pa.field("thumb_y", pa.float32()),
        pa.field("thumb_w", pa.float32()),
        pa.field("thumb_h", pa.float32()),
    ]
)

SEGMENTS = pa.schema(
    [
        pa.field("video_id", pa.string()),
        pa.field("face_id", pa.int64()),
        pa.field("emotion", pa.string()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("duration_s", pa.float64()),
        pa.field("frames", pa.int64()),
        pa.field("mean_confidence", pa.float32()),
    ]
)

# Live cameras (``lightemo-video monitor``): the detections layout plus the wall-clock time
# each frame was read. ``video_id`` holds the stream id, ``timestamp_s`` counts seconds
# since the monitor started for that camera, ``frame_index`` counts received frames.
LIVE_DETECTIONS = pa.schema([*DETECTIONS, pa.field("captured_at", pa.timestamp("us", tz="UTC"))])
