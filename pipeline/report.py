"""Self-contained HTML reports: one per video, one per camera, and an index per output folder.

Everything here reads the files ``analyze`` wrote (``OUT/<video_id>/*.parquet`` and
``run.json``), so reports can be rebuilt at any time without re-analysing; the pictures come
from ``pipeline.plots`` and ``pipeline.annotate``. Pages embed their images as data URIs and
need no JavaScript or network, so one file can be mailed or archived on its own. Files
appear atomically (``pipeline.outputs``).

Example:
    >>> build_reports(Path("outputs"), annotate=True)  # every video, plus outputs/report.html
"""

from __future__ import annotations

import base64
import html
import logging
import urllib.parse
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from lightemo_video.model.errors import InputError, LightEmoError
from lightemo_video.model.labels import EMOTIONS
from lightemo_video.pipeline import aggregate, storage
from lightemo_video.pipeline.annotate import annotate_video
from lightemo_video.pipeline.export import clock
from lightemo_video.pipeline.outputs import (
    ANNOTATED,
    REPORT,
    RUN,
    STATUS,
    TIMELINE_PNG,
    camera_folders,
    is_camera,
    os_reason,
    read_json,
    read_ok_run,
    read_rows,
    read_run,
    read_table,
    video_folders,
    write_text,
)
from lightemo_video.pipeline.plots import EMOTION_COLORS, GAP_S, plot_timeline
from lightemo_video.pipeline.sources import VideoFileSource, probe_video
from lightemo_video.pipeline.storage import Location

log = logging.getLogger(__name__)

VideoCallback = Callable[[Path, int, int], None]


# ----- HTML reports --------------------------------------------------------------------


def write_video_report(video_dir: Path, source: Location | None = None) -> Path:
    """Write ``report.html`` for one analysed video: run facts, a per-face table with
    emotion shares, the timeline plot and the list of emotion segments, in one file.

    Draws ``timeline.png`` first when it is missing; links ``annotated.mp4`` when present.
    Face pictures come from ``source`` (the input video; ``None``: as ``run.json`` names it).

    Raises:
        InputError: ``video_dir`` is not a successfully analysed video folder.
    """
    video_dir = Path(video_dir)
    run = read_ok_run(video_dir)
    detections = read_table(video_dir, "detections.parquet")
    faces = read_table(video_dir, "faces.parquet")
    pictures = face_thumbnails(storage.location(source or run.get("input", "")), faces, detections)
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
        _segment_table(aggregate.segments(detections, GAP_S), video_dir.name),
    ]
    return write_text(video_dir / REPORT, html_page(f"{video_id}: lightemo-video report", parts))


def write_camera_report(
    camera_dir: Path, detections: pd.DataFrame | None = None, faces: pd.DataFrame | None = None
) -> Path:
    """Write ``report.html`` for one monitored camera (``monitor``'s folder): connection
    facts from ``status.json``, the faces so far, the timeline plot and the emotion
    segments; the monitor refreshes it as parts roll, passing the rows it holds as
    ``detections`` (else they are read from the parts) and their ``faces`` summary.

    Raises:
        InputError: ``camera_dir`` has no ``status.json``.
    """
    camera_dir = Path(camera_dir)
    status = read_json(camera_dir / STATUS)
    _, detections = read_rows(camera_dir, detections)
    faces = aggregate.faces(detections) if faces is None else faces
    plot = camera_dir / TIMELINE_PNG
    if not plot.is_file():
        plot_timeline(camera_dir, detections)
    name = status.get("stream_id", camera_dir.name)
    connection = {k: status.get(k) for k in _CAMERA_FACTS}
    analysis = {
        k: status.get(k) for k in ("sample_fps", "roll_seconds", "parts", "rows", "last_part")
    }
    parts = [
        f"<h1>{escape_html(name)}</h1>",
        f"<div class=facts>{kv_table(connection)}{kv_table(analysis)}</div>",
        f"<h2>Faces ({len(faces)})</h2>",
        _face_table(faces),
        "<h2>Timeline</h2>",
        img_tag(plot.read_bytes(), f"emotion timeline of {name}"),
        "<h2>Emotion segments</h2>",
        _segment_table(aggregate.segments(detections, GAP_S), camera_dir.name, latest=True),
    ]
    return write_text(camera_dir / REPORT, html_page(f"{name}: lightemo-video camera", parts))


_CAMERA_FACTS = (
    "url",
    "state",
    "started_at",
    "updated_at",
    "frames_received",
    "frames_analysed",
    "frames_dropped",
    "reconnects",
    "last_error",
    "camera_fps",
    "fps_analysed",
    "max_lag_s",
)


def write_index(out_dir: Path) -> Path:
    """Write ``OUT/report.html``: every video folder with its status, duration, faces,
    dominant emotions and a link to its report; failures with their reasons; every
    monitored camera with its connection state.

    Raises:
        InputError: ``out_dir`` holds no video folders with a ``run.json`` and no cameras.
    """
    out_dir = Path(out_dir)
    runs = {folder: run for folder in video_folders(out_dir) if (run := read_run(folder))}
    cameras = camera_folders(out_dir)
    if not runs and not cameras:
        raise InputError(out_dir, "no analysed videos here (no */run.json); run analyze first")
    ok = {f: r for f, r in runs.items() if r.get("status") == "ok"}
    failed = {f: r for f, r in runs.items() if r.get("status") != "ok"}
    rows = []
    for folder, run in ok.items():
        name = escape_html(run.get("video_id", folder.name))
        has_report = (folder / REPORT).is_file()
        link = f'<a href="{_href(folder.name)}/report.html">{name}</a>' if has_report else name
        emotions = read_table(folder, "faces.parquet", columns=["emotion"])["emotion"]
        chips = " ".join(f"{emotion_chip(e)}&times;{n}" for e, n in emotions.value_counts().items())
        rows.append(
            f"<tr><td>{link}</td><td>{_status(run)}</td>"
            f"<td class=num>{clock(run.get('duration_s') or 0)}</td>"
            f"<td class=num>{len(emotions)}</td><td>{chips or 'no faces'}</td>"
            f"<td class=path>{escape_html(run.get('input', ''))}</td></tr>"
        )
    failures = [
        f"<tr><td>{escape_html(r.get('video_id', f.name))}</td>"
        f"<td class=path>{escape_html(r.get('input', ''))}</td>"
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
        parts += [
            "<h2>Failed</h2>",
            html_table(["video", "input", "reason"], failures, ' id="failed"'),
        ]
    if cameras:
        header = [
            "camera",
            "state",
            "updated",
            "frames analysed",
            "dropped",
            "reconnects",
            "faces",
            "dominant emotions",
            "url",
        ]
        parts += [
            "<h2>Cameras</h2>",
            html_table(header, [_camera_row(f) for f in cameras], ' id="cameras"'),
        ]
    return write_text(out_dir / REPORT, html_page("lightemo-video results", parts))


def _video_steps(source: Location | None) -> dict[str, Callable[[Path], Path]]:
    return {
        ANNOTATED: partial(annotate_video, source=source),  # first, so the report links it
        TIMELINE_PNG: plot_timeline,
        REPORT: partial(write_video_report, source=source),
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
    source: Location | None = None,
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
        source: the input video of a single video folder, where ``run.json`` cannot
            reopen it (a URL whose credentials it masks) or it has moved.

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
        read_ok_run(path)  # a failed video's folder has nothing to draw: say so
    folders = [path] if single else video_folders(path) + camera_folders(path)
    if not folders:
        raise InputError(
            path, "no analysed videos here (no run.json in it or its subfolders); run analyze first"
        )
    todo = [f for f in folders if is_camera(f) or (read_run(f) or {}).get("status") == "ok"]
    written: list[Path] = []
    for done, folder in enumerate(todo):
        if on_video:
            on_video(folder, done, len(todo))
        wrote_here = False
        for name, step in (_CAMERA_STEPS if is_camera(folder) else _video_steps(source)).items():
            if name == ANNOTATED and not annotate:
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
            except Exception as exc:  # a plotting or encoding library's own failure
                log.warning("%s: no %s: %s: %s", folder.name, name, type(exc).__name__, exc)
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
        None,
        [
            f"<tr><td class=key>{escape_html(k)}</td><td>{escape_html(v)}</td></tr>"
            for k, v in _flatten(facts)
        ],
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
    warnings = "".join(
        f"<p class=bad>warning: {escape_html(w)}</p>" for w in run.get("warnings") or []
    )
    return f"<div class=facts>{kv_table(video)}{kv_table(settings)}</div>{warnings}"


def _status(run: dict) -> str:
    warnings = run.get("warnings") or []
    if not warnings:
        return escape_html(run.get("status"))
    return (
        f"{escape_html(run.get('status'))} "
        f"<span class=bad>({escape_html('; '.join(warnings))})</span>"
    )


def emotion_chip(emotion: str) -> str:
    color = EMOTION_COLORS.get(emotion, "#ddd")
    return f'<span class=chip style="background:{color}">{escape_html(emotion)}</span>'


THUMB_PX = 72
"""Height of a face's picture in ``report.html``."""


def face_thumbnails(
    source: Location, faces: pd.DataFrame, detections: pd.DataFrame
) -> dict[int, bytes]:
    """PNG pictures (``THUMB_PX`` high) of each face at its ``faces.parquet`` thumbnail
    frame and box, with a little margin; empty when the input video is gone or the
    table predates thumbnails (the report then shows none)."""
    import cv2

    if faces.empty or "thumb_frame_index" not in faces or not storage.readable(source):
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


def _href(name: str) -> str:
    """A folder name as a relative link (``#``, ``?``, ``%`` and ``:`` are not syntax)."""
    return escape_html(urllib.parse.quote(name))


def _camera_row(folder: Path) -> str:
    status = read_json(folder / STATUS)
    name = escape_html(status.get("stream_id", folder.name))
    link = (
        f'<a href="{_href(folder.name)}/report.html">{name}</a>'
        if (folder / REPORT).is_file()
        else name
    )
    try:
        emotions = pd.read_parquet(folder / "faces.parquet", columns=["emotion"])["emotion"]
    except (OSError, ValueError):  # no part written yet
        emotions = pd.Series([], dtype=str)
    chips = " ".join(f"{emotion_chip(e)}&times;{n}" for e, n in emotions.value_counts().items())
    state = status.get("state")
    error = (
        f" <span class=bad>({escape_html(status['last_error'])})</span>"
        if status.get("last_error")
        else ""
    )
    return (
        f"<tr><td>{link}</td><td>{escape_html(state)}{error}</td>"
        f"<td>{escape_html(status.get('updated_at') or '-')}</td>"
        f"<td class=num>{status.get('frames_analysed', 0)}</td>"
        f"<td class=num>{status.get('frames_dropped', 0)}</td>"
        f"<td class=num>{status.get('reconnects', 0)}</td><td class=num>{len(emotions)}</td>"
        f"<td>{chips or 'no faces yet'}</td>"
        f"<td class=path>{escape_html(status.get('url', ''))}</td></tr>"
    )


SEGMENT_ROWS = 500
"""Most segments listed in a report (a camera's day holds tens of thousands): a video's
first, a camera's latest; the export has them all."""


def _segment_table(segments: pd.DataFrame, folder: str, latest: bool = False) -> str:
    """The emotion segments in time order, at most :data:`SEGMENT_ROWS` of them (the
    latest ones when ``latest``), saying how to get the rest."""
    if segments.empty:
        return "<p>No segments: no faces found.</p>"
    ordered = segments.sort_values(["start_s", "face_id"], kind="stable")
    shown = ordered.tail(SEGMENT_ROWS) if latest else ordered.head(SEGMENT_ROWS)
    rows = [
        f"<tr><td>face {s.face_id}</td><td>{emotion_chip(s.emotion)}</td>"
        f"<td class=num>{clock(s.start_s)}-{clock(s.end_s)}</td>"
        f"<td class=num>{s.duration_s:.1f} s</td>"
        f"<td class=num>{s.mean_confidence:.2f}</td></tr>"
        for s in shown.itertuples()
    ]
    table = html_table(
        ["face", "emotion", "from-to", "duration", "confidence"], rows, ' id="segments"'
    )
    note = ""
    if len(shown) < len(segments):
        which = "latest" if latest else "first"
        command = f"lightemo-video export OUT/{folder} --level segment -o segments.csv"
        note = (
            f"<p>The {which} {len(shown):,} of {len(segments):,} segments; all of them: "
            f"<code>{escape_html(command)}</code></p>"
        )
    return f"{note}<div class=scroll>{table}</div>"


def img_tag(png: bytes, alt: str, css_class: str | None = None) -> str:
    data = base64.b64encode(png).decode("ascii")
    attr = f' class="{css_class}"' if css_class else ""
    return f'<img{attr} alt="{escape_html(alt)}" src="data:image/png;base64,{data}">'
