"""The annotated video: every input frame, upright and at its own presentation time, with
each face's box, id, emotion and confidence drawn on it, so people can check the numbers
against the picture."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from lightemo_video.model.errors import InputError
from lightemo_video.pipeline import aggregate, storage
from lightemo_video.pipeline.outputs import (
    ANNOTATED,
    DETECTIONS,
    atomic_path,
    read_ok_run,
    read_table,
)
from lightemo_video.pipeline.plots import EMOTION_COLORS
from lightemo_video.pipeline.sources import VideoFileSource, probe_video
from lightemo_video.pipeline.storage import Location

HOLD_S = 0.5
"""How long ``annotated.mp4`` keeps showing a face's last box between analysed frames."""


def annotate_video(video_dir: Path, source: Location | None = None) -> Path:
    """Write ``annotated.mp4``: every frame of the input, upright, with each face's box,
    id, emotion and confidence, so people can check the numbers against the picture.

    Frames that were not analysed show the boxes of the latest analysed frame for faces
    seen within :data:`HOLD_S`. Each output frame keeps its input presentation time
    (variable frame rates stay in sync with the tables); H.264 yuv420p, which browsers
    and ordinary players open.

    Args:
        video_dir: an analysed video folder (``OUT/<video_id>``).
        source: the input video (a path or URL); ``None`` uses the input recorded in
            ``run.json``.

    Raises:
        InputError: not an analysed folder, or the input video is missing or unreadable.
    """
    import av

    video_dir = Path(video_dir)
    run = read_ok_run(video_dir)
    source = storage.location(source or run.get("input", ""))
    if not storage.readable(source):
        raise InputError(source, "input video not found; pass the video's new path as the source")
    info = probe_video(source)
    detections = aggregate.smoothed_view(read_table(video_dir, DETECTIONS))
    by_frame = {int(i): rows for i, rows in detections.groupby("frame_index")}
    target = video_dir / ANNOTATED
    with atomic_path(target) as tmp, av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=max(1, round(info.fps)))
        # libx264 needs even sizes for yuv420p: odd ones lose their last row or column.
        stream.width, stream.height = info.width // 2 * 2, info.height // 2 * 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        stream.options = {"preset": "veryfast", "crf": "23"}
        shown: dict = {}  # face_id -> (time seen, its detections row)
        for frame in VideoFileSource(info, sample_fps=0, threads=os.cpu_count() or 1):
            rows = by_frame.get(frame.frame_index)
            if rows is not None:  # analysed: its faces replace the old ones
                shown = {r.face_id: (frame.timestamp_s, r) for r in rows.itertuples()}
            image = np.ascontiguousarray(frame.image[: stream.height, : stream.width])
            labels: list[tuple[int, int, int, int]] = []  # label boxes drawn on this frame
            for seen, row in sorted(shown.values(), key=lambda sr: (sr[1].y, sr[1].x)):
                if frame.timestamp_s - seen <= HOLD_S:
                    labels.append(_draw_face(image, row, labels))
            picture = av.VideoFrame.from_ndarray(image, format="bgr24")
            picture.pts = round(Fraction(frame.timestamp_s) / info.time_base)
            picture.time_base = info.time_base
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    return target


def _draw_face(
    frame: np.ndarray, row: tuple, taken: list[tuple[int, int, int, int]] = ()
) -> tuple[int, int, int, int]:
    """Draw one face's box and ``face <id>  <emotion> <confidence>`` label in place, the
    label moved down past any of ``taken`` it would cover (crowds).

    Args:
        frame: (h, w, 3) uint8 BGR image.
        row: a detections row (``itertuples``) with x, y, w, h, face_id, emotion, confidence.
        taken: label boxes (x0, y0, x1, y1) already drawn on this frame.

    Returns:
        This label's box (x0, y0, x1, y1).
    """
    import cv2

    color = _bgr(EMOTION_COLORS.get(row.emotion, "#ffffff"))
    x0, y0 = int(round(row.x)), int(round(row.y))
    x1, y1 = int(round(row.x + row.w)), int(round(row.y + row.h))
    thick = max(2, frame.shape[0] // 240)
    cv2.rectangle(frame, (x0, y0), (x1, y1), color, thick)
    text = f"face {row.face_id}  {row.emotion} {row.confidence:.2f}"
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.45, frame.shape[0] / 720 * 0.7)
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    label_h = th + base + 2 * thick
    top = y0 - label_h if y0 >= label_h else y1  # below the box when there is no room above
    left = min(max(x0, 0), max(frame.shape[1] - tw - 6, 0))
    top = free_label_top((left, top, left + tw + 6, top + label_h), taken)
    cv2.rectangle(frame, (left, top), (left + tw + 6, top + label_h), color, -1)
    ink = (0, 0, 0) if sum(color) > 400 else (255, 255, 255)  # dark text on light colours
    cv2.putText(frame, text, (left + 3, top + th + thick), font, scale, ink, 1, cv2.LINE_AA)
    return left, top, left + tw + 6, top + label_h


def free_label_top(label: tuple[int, int, int, int], taken: list[tuple[int, int, int, int]]) -> int:
    """The top of ``label`` (x0, y0, x1, y1) moved down just below every box of ``taken``
    it would overlap, so no two labels cover each other (which may push it over its
    own face's box: a readable label matters more)."""
    x0, top, x1, bottom = label
    height = bottom - top
    moved = True
    while moved:
        moved = False
        for a0, b0, a1, b1 in taken:
            if x0 < a1 and a0 < x1 and top < b1 and b0 < top + height:
                top, moved = b1 + 1, True
    return top


def _bgr(hex_color: str) -> tuple[int, int, int]:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r
