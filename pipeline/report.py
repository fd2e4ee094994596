"""Pictures of the results: timeline plots, annotated videos and self-contained HTML reports.

Everything here reads the files ``analyze`` wrote (``OUT/<video_id>/*.parquet`` and
``run.json``), so reports can be rebuilt at any time without re-analysing. Each emotion has
one colour (:data:`EMOTION_COLORS`) used in every plot, video overlay and table. HTML pages
embed their images as data URIs and need no JavaScript or network, so one file can be
mailed or archived on its own. Files appear atomically (``pipeline.outputs``).

Example:
    >>> build_reports(Path("outputs"), annotate=True)  # every video, plus outputs/report.html
"""

from __future__ import annotations

import base64
import html
import logging
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from lightemo_video.model.errors import InputError, LightEmoError
from lightemo_video.model.labels import EMOTIONS
from lightemo_video.pipeline import aggregate
from lightemo_video.pipeline.export import clock
from lightemo_video.pipeline.outputs import (
    ANNOTATED,
    REPORT,
    RUN,
    STATUS,
    TIMELINE_PNG,
    atomic_path,
    os_reason,
    read_json,
    read_run,
    write_text,
)
from lightemo_video.pipeline.schema import DETECTIONS
from lightemo_video.pipeline.sources import VideoFileSource, probe_video

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

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

HOLD_S = 0.5
"""How long ``annotated.mp4`` keeps showing a face's last box between analysed frames."""

GAP_S = 1.0
"""A face unseen for longer than this leaves a gap in its plot and starts a new segment."""

VideoCallback = Callable[[Path, int, int], None]


# ----- timeline plot -------------------------------------------------------------------


def plot_timeline(video_dir: Path, detections: pd.DataFrame | None = None) -> Path:
    """Write ``timeline.png``: one panel per face with its emotion probabilities over time
    (per analysed frame, smoothed per track, see ``pipeline.smoothing``) as stacked areas and a thin band
    of its dominant-emotion segments, on one shared time axis, so a glance shows who felt
    what when. The faces seen longest come first (at most :data:`MAX_PANELS`).

    ``detections`` are the folder's per-frame rows when the caller already holds them (the
    monitor keeps a camera's rows in memory), so they are not read from disk again.

    Raises:
        InputError: ``video_dir`` is not a successfully analysed video folder.
    """
    from matplotlib.patches import Patch

    video_dir = Path(video_dir)
    run, detections = _timeline_rows(video_dir, detections)
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
        return _save_png(fig, video_dir / TIMELINE_PNG)

    fig = figure(12, 0.9 + 1.45 * len(shown), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(shown), 1, sharex=True))
    segments = aggregate.segments(detections, GAP_S)
    for ax, face_id in zip(axes, shown, strict=True):
        face = detections[detections["face_id"] == face_id].sort_values("timestamp_s")
        seen = face["timestamp_s"].to_numpy()
        x, y = _smoothed_series(seen, aggregate.smoothed_view(face)[list(EMOTIONS)].to_numpy(np.float64))
        ax.stackplot(x, y.T, colors=[EMOTION_COLORS[e] for e in EMOTIONS], linewidth=0)
        runs = segments[segments["face_id"] == face_id]
        for emotion, part in runs.groupby("emotion"):
            spans = list(zip(part["start_s"], part["duration_s"], strict=True))
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
    fig.suptitle(title, fontsize=12)
    return _save_png(fig, video_dir / TIMELINE_PNG)


def _faces_by_importance(detections: pd.DataFrame) -> list[int]:
    """Face ids, most analysed frames first, then largest mean box area."""
    if detections.empty:
        return []
    stats = detections.assign(area=detections["w"] * detections["h"]).groupby("face_id")
    ranked = pd.DataFrame({"frames": stats.size(), "area": stats["area"].mean()})
    ranked = ranked.sort_values(["frames", "area"], ascending=False, kind="stable")
    return [int(i) for i in ranked.index]


def _smoothed_series(t: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One face's smoothed probabilities (those ``aggregate.segments`` reads, so areas
    and band agree), each run held for one frame step after its last analysed frame,
    with a NaN row (a gap in the plot) wherever the face went unseen.

    Args:
        t: (n,) float timestamps in seconds, ascending.
        probs: (n, 7) float probabilities per analysed frame.

    Returns:
        x (m,) float seconds and y (m, 7) float, m <= 3n.
    """
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.1
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for run in np.split(np.arange(len(t)), np.flatnonzero(np.diff(t) > GAP_S) + 1):
        xs += [t[run], [t[run[-1]] + step, np.nan]]
        ys += [probs[run], probs[run[-1:]], np.full((1, probs.shape[1]), np.nan)]
    return np.concatenate(xs), np.concatenate(ys)


# ----- annotated video -----------------------------------------------------------------


def annotate_video(video_dir: Path, source: Path | None = None) -> Path:
    """Write ``annotated.mp4``: every frame of the input, upright, with each face's box,
    id, emotion and confidence, so people can check the numbers against the picture.

    Frames that were not analysed show the boxes of the latest analysed frame for faces
    seen within :data:`HOLD_S`. Each output frame keeps its input presentation time
    (variable frame rates stay in sync with the tables); H.264 yuv420p, which browsers
    and ordinary players open.

    Args:
        video_dir: an analysed video folder (``OUT/<video_id>``).
        source: the input video; ``None`` uses the path recorded in ``run.json``.

    Raises:
        InputError: not an analysed folder, or the input video is missing or unreadable.
    """
    import av

    video_dir = Path(video_dir)
    run = _read_ok_run(video_dir)
    source = Path(source or run.get("input", ""))
    if not source.is_file():
        raise InputError(source, "input video not found; pass the video's new path as the source")
    info = probe_video(source)
    detections = aggregate.smoothed_view(_read_parquet(video_dir, "detections.parquet"))
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


# ----- HTML reports --------------------------------------------------------------------


def write_video_report(video_dir: Path) -> Path:
    """Write ``report.html`` for one analysed video: run facts, a per-face table with
    emotion shares, the timeline plot and the list of emotion segments, in one file.

    Draws ``timeline.png`` first when it is missing; links ``annotated.mp4`` when present.

    Raises:
        InputError: ``video_dir`` is not a successfully analysed video folder.
    """
    video_dir = Path(video_dir)
    run = _read_ok_run(video_dir)
    detections = _read_parquet(video_dir, "detections.parquet")
    faces = _read_parquet(video_dir, "faces.parquet")
    pictures = face_thumbnails(Path(run.get("input", "")), faces, detections)
    plot = video_dir / TIMELINE_PNG
    if not plot.is_file():
        plot_timeline(video_dir)
    video_id = run.get("video_id", video_dir.name)

    parts = [
        f"<h1>{escape_html(video_id)}</h1>",
        _facts(run),
        f"<h2>Faces ({len(faces)})</h2>",
        _face_table(faces, pictures),
        "<h2>Timeline</h2>",
        img_tag(plot.read_bytes(), f"emotion timeline of {video_id}"),
    ]
    if (video_dir / ANNOTATED).is_file():
        parts.append(
            '<h2>Annotated video</h2><video controls preload="metadata" src="annotated.mp4">'
            '</video><p><a href="annotated.mp4">annotated.mp4</a>: boxes, face ids and '
            "emotions drawn on every frame</p>"
        )
    parts += [
        "<h2>Emotion segments</h2>",
        _segment_table(aggregate.segments(detections, GAP_S)),
    ]
    return write_text(
        video_dir / REPORT, html_page(f"{video_id}: lightemo-video report", parts)
    )


def write_camera_report(camera_dir: Path, detections: pd.DataFrame | None = None) -> Path:
    """Write ``report.html`` for one monitored camera (``monitor``'s folder): connection
    facts from ``status.json``, the faces so far, the timeline plot and the emotion
    segments; the monitor refreshes it after every part, passing the rows it holds as
    ``detections`` (else they are read from the parts).

    Raises:
        InputError: ``camera_dir`` has no ``status.json``.
    """
    camera_dir = Path(camera_dir)
    status = read_json(camera_dir / STATUS)
    _, detections = _timeline_rows(camera_dir, detections)
    faces = aggregate.faces(detections)
    plot = camera_dir / TIMELINE_PNG
    if not plot.is_file():
        plot_timeline(camera_dir, detections)
    name = status.get("stream_id", camera_dir.name)
    connection = {k: status.get(k) for k in _CAMERA_FACTS}
    analysis = {k: status.get(k) for k in ("sample_fps", "roll_seconds", "parts", "rows", "last_part")}
    parts = [
        f"<h1>{escape_html(name)}</h1>",
        f"<div class=facts>{kv_table(connection)}{kv_table(analysis)}</div>",
        f"<h2>Faces ({len(faces)})</h2>",
        _face_table(faces),
        "<h2>Timeline</h2>",
        img_tag(plot.read_bytes(), f"emotion timeline of {name}"),
        "<h2>Emotion segments</h2>",
        _segment_table(aggregate.segments(detections, GAP_S)),
    ]
    return write_text(camera_dir / REPORT, html_page(f"{name}: lightemo-video camera", parts))


_CAMERA_FACTS = (
    "url", "state", "started_at", "updated_at", "frames_received", "frames_analysed",
    "frames_dropped", "reconnects", "last_error", "camera_fps", "fps_analysed", "max_lag_s",
)


def write_index(out_dir: Path) -> Path:
    """Write ``OUT/report.html``: every video folder with its status, duration, faces,
    dominant emotions and a link to its report; failures with their reasons; every
    monitored camera with its connection state.

    Raises:
        InputError: ``out_dir`` holds no video folders with a ``run.json`` and no cameras.
    """
    out_dir = Path(out_dir)
    runs = {folder: run for folder in _video_folders(out_dir) if (run := read_run(folder))}
    cameras = _camera_folders(out_dir)
    if not runs and not cameras:
        raise InputError(out_dir, "no analysed videos here (no */run.json); run analyze first")
    ok = {f: r for f, r in runs.items() if r.get("status") == "ok"}
    failed = {f: r for f, r in runs.items() if r.get("status") != "ok"}
    rows = []
    for folder, run in ok.items():
        name = escape_html(run.get("video_id", folder.name))
        has_report = (folder / REPORT).is_file()
        link = f'<a href="{escape_html(folder.name)}/report.html">{name}</a>' if has_report else name
        emotions = _read_parquet(folder, "faces.parquet", columns=["emotion"])["emotion"]
        chips = " ".join(f"{emotion_chip(e)}&times;{n}" for e, n in emotions.value_counts().items())
        rows.append(
            f"<tr><td>{link}</td><td>{_status(run)}</td>"
            f"<td class=num>{clock(run.get('duration_s') or 0)}</td>"
            f"<td class=num>{len(emotions)}</td><td>{chips or 'no faces'}</td>"
            f"<td class=path>{escape_html(run.get('input', ''))}</td></tr>"
        )
    failures = [
        f"<tr><td>{escape_html(r.get('video_id', f.name))}</td><td class=path>{escape_html(r.get('input', ''))}</td>"
        f"<td class=bad>{escape_html(r.get('reason') or 'unknown')}</td></tr>"
        for f, r in failed.items()
    ]
    parts = [
        "<h1>lightemo-video results</h1>",
        f"<p>{len(runs)} videos: {len(ok)} analysed, {len(failed)} failed"
        + (f"; {len(cameras)} cameras" if cameras else "")
        + f", in <code>{escape_html(out_dir.resolve())}</code></p>",
    ]
    if rows:
        header = ["video", "status", "duration", "faces", "dominant emotions", "input"]
        parts += ["<h2>Analysed</h2>", html_table(header, rows, ' id="videos"')]
    if failures:
        parts += ["<h2>Failed</h2>", html_table(["video", "input", "reason"], failures, ' id="failed"')]
    if cameras:
        header = ["camera", "state", "updated", "frames analysed", "dropped", "reconnects",
                  "faces", "dominant emotions", "url"]
        parts += ["<h2>Cameras</h2>", html_table(header, [_camera_row(f) for f in cameras], ' id="cameras"')]
    return write_text(out_dir / REPORT, html_page("lightemo-video results", parts))


_STEPS: dict[str, Callable[[Path], Path]] = {
    ANNOTATED: annotate_video,  # first, so the report links it
    TIMELINE_PNG: plot_timeline,
    REPORT: write_video_report,
}


_CAMERA_STEPS: dict[str, Callable[[Path], Path]] = {
    TIMELINE_PNG: plot_timeline,
    REPORT: write_camera_report,
}


def build_reports(
    out_dir_or_video_dir: Path,
    annotate: bool = False,
    on_video: VideoCallback | None = None,
    missing_only: bool = False,
) -> list[Path]:
    """(Re)build ``timeline.png`` and ``report.html`` (and ``annotated.mp4`` when asked) for
    every successfully analysed video, plus the index ``OUT/report.html`` when given an
    output folder; nothing is re-analysed.

    A picture that cannot be made (e.g. ``annotated.mp4`` when the input video moved) is
    logged as a warning; the other files and videos still get theirs.

    Args:
        out_dir_or_video_dir: an output folder ``OUT`` or one video folder ``OUT/<video_id>``.
        annotate: also write ``annotated.mp4`` (decodes and re-encodes every input frame).
        on_video: called before each video as ``on_video(folder, videos_done, videos_total)``.
        missing_only: make only the files a folder lacks (and those after a new one, so
            ``report.html`` links a new ``annotated.mp4``); for videos already complete.

    Returns:
        The files written, index last.

    Raises:
        InputError: the path is missing or holds no analysed video.
    """
    path = Path(out_dir_or_video_dir)
    if not path.is_dir():
        raise InputError(path, "no such folder")
    single = (path / RUN).is_file() or (path / STATUS).is_file()
    if (path / RUN).is_file():
        _read_ok_run(path)  # a failed video's folder has nothing to draw: say so
    folders = [path] if single else _video_folders(path) + _camera_folders(path)
    if not folders:
        raise InputError(
            path, "no analysed videos here (no run.json in it or its subfolders); run analyze first"
        )
    todo = [f for f in folders if _is_camera(f) or (read_run(f) or {}).get("status") == "ok"]
    written: list[Path] = []
    for done, folder in enumerate(todo):
        if on_video:
            on_video(folder, done, len(todo))
        wrote_here = False
        for name, step in (_CAMERA_STEPS if _is_camera(folder) else _STEPS).items():
            if step is annotate_video and not annotate:
                continue
            if missing_only and not wrote_here and (folder / name).is_file():
                continue
            try:
                written.append(step(folder))
                wrote_here = True
            except LightEmoError as exc:
                log.warning("%s: no %s: %s", folder.name, name, exc)
            except OSError as exc:  # e.g. the disk filled up: the other videos may still fit
                log.warning("%s: no %s: cannot write it (%s)", folder, name, os_reason(exc))
    if not single:
        written.append(write_index(path))
    return written


# ----- HTML pieces ---------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
  max-width:1200px;margin:0 auto;padding:12px 24px;background:#fff}
h1{font-size:22px;margin:6px 0 10px}
h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #e3e3e3;padding-bottom:3px}
table{border-collapse:collapse;margin:4px 0 8px}
th,td{padding:3px 10px;text-align:left;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f6f6f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.path{color:#666;font-size:12px;word-break:break-all}
td.key{color:#555;white-space:nowrap}
.bad{color:#b00020}
.chip{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;color:#111}
.bar{display:inline-flex;width:220px;height:12px;border-radius:3px;overflow:hidden;
  background:#eee;vertical-align:middle}
.bar span{display:block;height:100%}
.shares{font-size:12px;color:#555;margin-left:8px}
.scroll{max-height:420px;overflow:auto;display:inline-block;border:1px solid #eee}
img{max-width:100%;height:auto}
img.thumb{height:72px;width:auto;border-radius:4px;display:block}
video{max-width:100%;max-height:420px;background:#000}
.facts{display:flex;flex-wrap:wrap;gap:0 40px;align-items:flex-start}
.facts table{font-size:13px}
footer{color:#888;font-size:12px;margin-top:24px}
"""


def html_page(title: str, parts: list[str]) -> str:
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        f"<title>{escape_html(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n"
        "<footer>made by lightemo-video</footer>\n</body></html>\n"
    )


def escape_html(value: object) -> str:
    return html.escape(str(value), quote=True)


def html_table(header: list[str] | None, rows: list[str], attrs: str = "") -> str:
    head = "".join(f"<th>{escape_html(h)}</th>" for h in header or [])
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    return f"<table{attrs}>{thead}<tbody>{''.join(rows)}</tbody></table>"


def kv_table(facts: dict) -> str:
    """One row per fact; nested dicts become ``a.b`` keys."""
    return html_table(
        None, [f"<tr><td class=key>{escape_html(k)}</td><td>{escape_html(v)}</td></tr>" for k, v in _flatten(facts)]
    )


def _flatten(facts: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    for key, value in facts.items():
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", "-" if value is None else value


def _facts(run: dict) -> str:
    """What was analysed and how, as two tables side by side (the run, the settings)."""
    timings = run.get("timings") or {}
    video = {
        "input": run.get("input"),
        "status": run.get("status"),
        "duration": f"{clock(run.get('duration_s') or 0)} ({run.get('duration_s')} s)",
        "video": f"{run.get('frame_count')} frames at {run.get('fps')} fps, "
        f"{run.get('width')}x{run.get('height')}",
        "frames analysed": f"{run.get('frames_analysed')} of {run.get('frames_decoded')} decoded",
        "faces": run.get("faces"),
        "finished": f"{timings.get('finished_at', '-')} in {timings.get('wall_s', '-')} s",
    }
    settings = {k: run.get(k) for k in ("model", "detector", "parameters")}
    warnings = "".join(f"<p class=bad>warning: {escape_html(w)}</p>" for w in run.get("warnings") or [])
    return f"<div class=facts>{kv_table(video)}{kv_table(settings)}</div>{warnings}"


def _status(run: dict) -> str:
    warnings = run.get("warnings") or []
    if not warnings:
        return escape_html(run.get("status"))
    return f"{escape_html(run.get('status'))} <span class=bad>({escape_html('; '.join(warnings))})</span>"


def emotion_chip(emotion: str) -> str:
    color = EMOTION_COLORS.get(emotion, "#ddd")
    return f'<span class=chip style="background:{color}">{escape_html(emotion)}</span>'


THUMB_PX = 72
"""Height of a face's picture in ``report.html``."""


def face_thumbnails(
    source: Path, faces: pd.DataFrame, detections: pd.DataFrame
) -> dict[int, bytes]:
    """PNG pictures (``THUMB_PX`` high) of each face at its ``faces.parquet`` thumbnail
    frame and box, with a little margin; empty when the input video is gone or the
    table predates thumbnails (the report then shows none)."""
    import cv2

    if faces.empty or "thumb_frame_index" not in faces or not source.is_file():
        return {}
    try:
        info = probe_video(source)
    except LightEmoError as exc:
        log.warning("no face pictures: %s", exc)
        return {}
    times = detections.drop_duplicates("frame_index").set_index("frame_index")["timestamp_s"]
    pictures = {}
    for face in faces.itertuples():
        image = _frame_at(info, float(times.get(face.thumb_frame_index, np.nan)))
        if image is None:
            continue
        margin = 0.25 * max(face.thumb_w, face.thumb_h)
        x0, y0 = int(max(face.thumb_x - margin, 0)), int(max(face.thumb_y - margin, 0))
        x1 = int(min(face.thumb_x + face.thumb_w + margin, image.shape[1]))
        y1 = int(min(face.thumb_y + face.thumb_h + margin, image.shape[0]))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        crop = image[y0:y1, x0:x1]
        size = (max(1, round(crop.shape[1] * THUMB_PX / crop.shape[0])), THUMB_PX)
        ok, png = cv2.imencode(".png", cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
        if ok:
            pictures[int(face.face_id)] = png.tobytes()
    return pictures


def _frame_at(info, timestamp_s: float) -> np.ndarray | None:
    """The decoded frame (BGR, upright) shown at ``timestamp_s``, by seeking near it."""
    from lightemo_video.pipeline.sources import Segment

    if not np.isfinite(timestamp_s):
        return None
    half = 0.5 / max(info.fps, 1.0)
    start = Fraction(max(timestamp_s - half, 0.0)).limit_denominator(1_000_000)
    stop = Fraction(timestamp_s + half).limit_denominator(1_000_000)
    frames = list(VideoFileSource(info, sample_fps=0, segment=Segment(0, start, stop)))
    if not frames:
        return None
    return min(frames, key=lambda f: abs(f.timestamp_s - timestamp_s)).image


def _face_table(faces: pd.DataFrame, pictures: dict[int, bytes] | None = None) -> str:
    """The per-face table; ``pictures`` (PNG by face id) adds a picture column first."""
    if faces.empty:
        return "<p>No faces found.</p>"
    rows = []
    for face in faces.sort_values("face_id").itertuples():
        shares = sorted(
            ((e, float(getattr(face, f"share_{e}"))) for e in EMOTIONS), key=lambda es: -es[1]
        )
        bar = "".join(
            f'<span style="width:{100 * s:.2f}%;background:{EMOTION_COLORS[e]}" '
            f'title="{e} {s:.0%}"></span>'
            for e, s in shares
            if s > 0
        )
        top = ", ".join(f"{e} {s:.0%}" for e, s in shares[:3] if s > 0)
        picture = ""
        if pictures is not None:
            png = pictures.get(int(face.face_id))
            picture = f"<td>{img_tag(png, f'face {face.face_id}', 'thumb') if png else ''}</td>"
        rows.append(
            f"<tr>{picture}<td class=num>{face.face_id}</td>"
            f"<td class=num>{clock(face.first_seen_s)}</td>"
            f"<td class=num>{clock(face.last_seen_s)}</td><td class=num>{face.frames}</td>"
            f"<td>{emotion_chip(face.emotion)}</td><td class=num>{face.mean_confidence:.2f}</td>"
            f"<td><span class=bar>{bar}</span><span class=shares>{top}</span></td></tr>"
        )
    header = [
        "face",
        "first seen",
        "last seen",
        "frames",
        "dominant",
        "confidence",
        "dominant emotion per analysed frame",
    ]
    if pictures is not None:
        header.insert(0, "picture")
    return html_table(header, rows, ' id="faces"')


def _camera_row(folder: Path) -> str:
    status = read_json(folder / STATUS)
    name = escape_html(status.get("stream_id", folder.name))
    link = f'<a href="{escape_html(folder.name)}/report.html">{name}</a>' if (folder / REPORT).is_file() else name
    try:
        emotions = pd.read_parquet(folder / "faces.parquet", columns=["emotion"])["emotion"]
    except (OSError, ValueError):  # no part written yet
        emotions = pd.Series([], dtype=str)
    chips = " ".join(f"{emotion_chip(e)}&times;{n}" for e, n in emotions.value_counts().items())
    state = status.get("state")
    error = f" <span class=bad>({escape_html(status['last_error'])})</span>" if status.get("last_error") else ""
    return (
        f"<tr><td>{link}</td><td>{escape_html(state)}{error}</td><td>{escape_html(status.get('updated_at') or '-')}</td>"
        f"<td class=num>{status.get('frames_analysed', 0)}</td><td class=num>{status.get('frames_dropped', 0)}</td>"
        f"<td class=num>{status.get('reconnects', 0)}</td><td class=num>{len(emotions)}</td>"
        f"<td>{chips or 'no faces yet'}</td><td class=path>{escape_html(status.get('url', ''))}</td></tr>"
    )


def _segment_table(segments: pd.DataFrame) -> str:
    if segments.empty:
        return "<p>No segments: no faces found.</p>"
    rows = [
        f"<tr><td>face {s.face_id}</td><td>{emotion_chip(s.emotion)}</td>"
        f"<td class=num>{clock(s.start_s)}-{clock(s.end_s)}</td>"
        f"<td class=num>{s.duration_s:.1f} s</td>"
        f"<td class=num>{s.mean_confidence:.2f}</td></tr>"
        for s in segments.sort_values(["start_s", "face_id"]).itertuples()
    ]
    table = html_table(["face", "emotion", "from-to", "duration", "confidence"], rows, ' id="segments"')
    return f"<div class=scroll>{table}</div>"


def img_tag(png: bytes, alt: str, css_class: str | None = None) -> str:
    data = base64.b64encode(png).decode("ascii")
    attr = f' class="{css_class}"' if css_class else ""
    return f'<img{attr} alt="{escape_html(alt)}" src="data:image/png;base64,{data}">'


# ----- files ---------------------------------------------------------------------------


def _video_folders(out_dir: Path) -> list[Path]:
    return sorted(p.parent for p in out_dir.glob("*/run.json"))


def _camera_folders(out_dir: Path) -> list[Path]:
    return sorted(p.parent for p in out_dir.glob(f"*/{STATUS}") if _is_camera(p.parent))


def _is_camera(folder: Path) -> bool:
    """A folder ``monitor`` writes: a ``status.json`` and no ``run.json``."""
    return (folder / STATUS).is_file() and not (folder / RUN).is_file()


def _read_ok_run(video_dir: Path) -> dict:
    if not (video_dir / RUN).is_file():
        raise InputError(video_dir, "not an analysed video folder (no run.json); run analyze first")
    run = read_json(video_dir / RUN)
    if run.get("status") != "ok":
        raise InputError(video_dir, f"analysis failed, nothing to draw ({run.get('reason')})")
    return run


def _timeline_rows(folder: Path, rows: pd.DataFrame | None = None) -> tuple[dict, pd.DataFrame]:
    """Run facts and per-frame rows of an analysed video, or of a monitored camera's
    folder (``status.json`` plus ``part-*.parquet``, refreshed after every part); ``rows``
    given are used instead of reading them."""
    if _is_camera(folder):
        if rows is None:
            parts = sorted(folder.glob("part-*.parquet"))
            rows = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else None
        if rows is None or rows.empty:
            return {"video_id": folder.name, "duration_s": 1.0}, DETECTIONS.empty_table().to_pandas()
        return {"video_id": folder.name, "duration_s": float(rows["timestamp_s"].max())}, rows
    run = _read_ok_run(folder)
    return run, _read_parquet(folder, "detections.parquet") if rows is None else rows


def _read_parquet(video_dir: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(video_dir / name, columns=columns)
    except (OSError, ValueError) as exc:
        raise InputError(
            video_dir / name, f"missing or unreadable, rerun analyze --force ({exc})"
        ) from None


def figure(width_in: float, height_in: float, layout: str | None = None) -> Figure:
    """A matplotlib Figure on its own Agg canvas: no pyplot, no global backend change."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", facecolor="white")
    return path
