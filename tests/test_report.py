"""``pipeline.plots``, ``pipeline.annotate``, ``pipeline.report`` and ``lightemo-video report``:
pictures and HTML from real outputs.

The demo clip is analysed once per module through the real CLI (embedded local Ray), next to
a text file named .mp4 that must fail; the tests then look at what a person would open. They
never depend on which emotions the shipped model predicts.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pandas as pd
import pytest
from lightemo_video.jobs.model_report import write_model_report
from lightemo_video.model.errors import InputError
from lightemo_video.model.labels import EMOTIONS
from lightemo_video.pipeline import aggregate, schema
from lightemo_video.pipeline.annotate import annotate_video, free_label_top
from lightemo_video.pipeline.outputs import write_json
from lightemo_video.pipeline.plots import (
    EMOTION_COLORS,
    MAX_PANELS,
    PLOT_POINTS,
    _band,
    _smoothed_series,
    plot_timeline,
)
from lightemo_video.pipeline.report import (
    SEGMENT_ROWS,
    build_reports,
    write_camera_report,
    write_video_report,
)
from lightemo_video.pipeline.sinks import write_table
from typer.testing import CliRunner

from lightemo_video.cli import app
from tests.conftest import DEMO_CLIP, missing_system_component

runner = CliRunner()
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """OUT with ``demo`` analysed (200 frames, 25 fps, 640x360) and ``notes`` failed, then
    every report built, the annotated video included."""
    root = tmp_path_factory.mktemp("report")
    videos = root / "videos"
    videos.mkdir()
    shutil.copy(DEMO_CLIP, videos / "demo.mp4")
    (videos / "notes.mp4").write_text("not a video\n")
    out = root / "out"
    result = runner.invoke(app, ["analyze", str(videos), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 1, result.output  # notes.mp4 fails, demo.mp4 must not
    assert json.loads((out / "demo" / "run.json").read_text())["status"] == "ok"
    written = build_reports(out, annotate=True)
    assert written == [
        out / "demo" / "annotated.mp4",
        out / "demo" / "timeline.png",
        out / "demo" / "report.html",
        out / "report.html",
    ]
    return out


def test_timeline_png_is_a_readable_picture(out):
    image = cv2.imread(str(out / "demo" / "timeline.png"))
    assert image is not None and image.shape[1] == 1200
    assert image.std() > 20  # not blank
    colors = {_bgr_hex(c) for c in image.reshape(-1, 3)[::7]}
    assert len(colors & set(EMOTION_COLORS.values())) >= 3  # stacked areas in the house colours


def test_annotated_video_keeps_every_frame_and_is_h264(out):
    path = out / "demo" / "annotated.mp4"
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 360)
    decoded = 0
    while cap.grab():
        decoded += 1
    cap.release()
    assert decoded == 200
    info = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
    ).stderr
    assert re.search(r"Video: h264 .*yuv420p", info), info
    assert "Duration: 00:00:08.00" in info
    assert not list((out / "demo").glob(".tmp-*"))


def test_annotated_frames_show_boxes_between_analysed_frames(out):
    detections = pd.read_parquet(out / "demo" / "detections.parquet")
    source, annotated = _frames(DEMO_CLIP), _frames(out / "demo" / "annotated.mp4")
    first = detections[detections["frame_index"] == 0].iloc[0]
    x, top, bottom = int(first.x), int(first.y), int(first.y + first.h)  # face 1's left edge
    for index in (0, 1, 2):  # frame 0 was analysed, 1 and 2 were not (10 of 25 fps)
        edge = np.s_[top:bottom, x - 1 : x + 2]
        drawn = np.abs(annotated[index][edge].astype(int) - source[index][edge]).mean()
        assert drawn > 20, f"no box edge on frame {index}"
    faceless = 4.6  # the coffee cup shot, more than HOLD_S after the last face
    index = int(faceless * 25)
    assert not (detections["frame_index"] == index).any()
    assert np.abs(annotated[index].astype(int) - source[index]).mean() < 4  # only coding noise


def test_video_report_is_one_self_contained_file(out):
    page = out / "demo" / "report.html"
    text = page.read_text()
    links = _links(text)
    assert any(link.startswith("data:image/png;base64,") for link in links)
    local = [link for link in links if not link.startswith("data:")]
    assert local == ["annotated.mp4", "annotated.mp4"]  # the player and the link
    assert all((page.parent / link).is_file() for link in local)
    assert "<script" not in text and "http://" not in text and "https://" not in text
    faces = pd.read_parquet(out / "demo" / "faces.parquet")
    table = re.search(r'<table id="faces">.*?</table>', text, re.S).group(0)
    assert table.count("<tr>") == 1 + len(faces)
    segments = re.search(r'<table id="segments">.*?</table>', text, re.S).group(0)
    assert re.search(r"face 1</td>.*\d\d:\d\d\.\d-\d\d:\d\d\.\d", segments, re.S)
    run = json.loads((out / "demo" / "run.json").read_text())
    for fact in (
        "demo.mp4",
        run["detector"]["name"],
        "sample_fps",
        f"{run['frames_analysed']} of 200",
    ):
        assert fact in text


def test_each_face_row_shows_the_face_at_its_thumbnail_box(out):
    """The picture beside a face is its frame's crop at the box ``faces.parquet`` names."""
    faces = pd.read_parquet(out / "demo" / "faces.parquet")
    text = (out / "demo" / "report.html").read_text()
    table = re.search(r'<table id="faces">.*?</table>', text, re.S).group(0)
    thumb = r'<img class="thumb" alt="face (\d+)" src="data:image/png;base64,([^"]+)"'
    pictures = re.findall(thumb, table)
    assert sorted(int(i) for i, _ in pictures) == sorted(faces["face_id"])
    source = _frames(DEMO_CLIP)
    for face_id, data in pictures:
        face = faces[faces["face_id"] == int(face_id)].iloc[0]
        shown = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
        assert shown.shape[0] == 72
        x, y, w, h = (int(face[f"thumb_{k}"]) for k in "xywh")
        truth = source[int(face["thumb_frame_index"])][y : y + h, x : x + w]
        margin = round(0.25 * max(w, h) * 72 / (h + 2 * 0.25 * max(w, h)))  # within the picture
        inner = shown[margin : 72 - margin, margin : shown.shape[1] - margin]
        expected = cv2.resize(truth, (inner.shape[1], inner.shape[0]), interpolation=cv2.INTER_AREA)
        assert np.abs(inner.astype(int) - expected).mean() < 25  # the same face, not another frame


def test_labels_of_faces_side_by_side_do_not_overlap():
    taken = [(100, 50, 260, 70)]
    assert free_label_top((120, 55, 280, 75), taken) == 71  # moved just below
    assert free_label_top((300, 55, 460, 75), taken) == 55  # beside it: stays
    assert free_label_top((120, 55, 280, 75), [*taken, (110, 71, 270, 91)]) == 92


def test_index_links_reports_and_lists_failures_with_reasons(out):
    page = out / "report.html"
    text = page.read_text()
    local = [link for link in _links(text) if not link.startswith("data:")]
    assert local == ["demo/report.html"]
    assert (page.parent / local[0]).is_file()
    reason = json.loads((out / "notes" / "run.json").read_text())["reason"]
    failed = re.search(r'<table id="failed">.*?</table>', text, re.S).group(0)
    assert "notes" in failed and reason in failed


def test_report_renders_in_headless_chromium(out, tmp_path):
    if not CHROMIUM.exists():
        missing_system_component(f"{CHROMIUM} not installed")
    shot = tmp_path / "report.png"
    _screenshot(out / "demo" / "report.html", shot, tmp_path)
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1400, 1200)
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3)[::5], axis=0)) > 100


def test_cli_report_rebuilds_and_prints_paths(out):
    before = (out / "demo" / "annotated.mp4").stat().st_mtime_ns
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert paths == [
        out / "demo" / "timeline.png",
        out / "demo" / "report.html",
        out / "report.html",
    ]
    assert (out / "demo" / "annotated.mp4").stat().st_mtime_ns == before  # only with --annotate
    one = runner.invoke(app, ["report", str(out / "demo")])
    assert one.exit_code == 0, one.output
    assert one.stdout.split() == [
        str(out / "demo" / "timeline.png"),
        str(out / "demo" / "report.html"),
    ]


@pytest.mark.parametrize(
    "folder, message",
    [
        ("empty", "no analysed videos here"),
        ("missing", "no such folder"),
        ("notes", "analysis failed, nothing to draw (not a video file"),
    ],
)
def test_cli_report_errors_are_one_line(out, tmp_path, folder, message):
    target = {"empty": tmp_path, "missing": tmp_path / "nope", "notes": out / "notes"}[folder]
    result = runner.invoke(app, ["report", str(target)])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_moved_input_is_named_and_the_report_still_built(out, tmp_path, caplog):
    moved = tmp_path / "out" / "demo"
    shutil.copytree(out / "demo", moved)
    run = json.loads((moved / "run.json").read_text())
    write_json(moved / "run.json", {**run, "input": str(tmp_path / "gone.mp4")})
    with pytest.raises(InputError, match="gone.mp4: input video not found"):
        annotate_video(moved)
    (moved / "annotated.mp4").unlink()
    assert build_reports(tmp_path / "out", annotate=True) == [
        moved / "timeline.png",
        moved / "report.html",
        tmp_path / "out" / "report.html",
    ]
    assert "demo: no annotated.mp4:" in caplog.text and "input video not found" in caplog.text


def test_no_faces_gives_a_clear_picture_and_page(tmp_path):
    folder = _fake_outputs(tmp_path / "quiet", schema.DETECTIONS.empty_table().to_pandas())
    image = cv2.imread(str(plot_timeline(folder)))
    assert image is not None and image.std() > 5
    text = write_video_report(folder).read_text()
    assert "No faces found." in text and "No segments" in text


def test_many_faces_are_capped(tmp_path):
    rows = [
        _row(face_id, t)
        for face_id in range(1, MAX_PANELS + 4)
        for t in np.arange(0, 2 + face_id * 0.1, 0.1)
    ]
    folder = _fake_outputs(tmp_path / "crowd", pd.DataFrame(rows))
    image = cv2.imread(str(plot_timeline(folder)))
    assert image.shape[0] == round(100 * (0.9 + 1.45 * MAX_PANELS))


def _long_recording(hours: float, away: tuple[float, float]) -> pd.DataFrame:
    """One face at 5 fps for ``hours``, its emotion changing every 2 s, unseen during
    ``away`` (seconds)."""
    t = np.arange(0, hours * 3600, 0.2)
    t = t[(t < away[0]) | (t >= away[1])]
    labels = (t // 2).astype(int) % 3  # angry, disgust, fear in turn
    probs = np.full((len(t), 7), 0.05, np.float32)
    probs[np.arange(len(t)), labels] = 0.7
    rows = pd.DataFrame(
        {
            "video_id": "long",
            "frame_index": np.round(t * 5).astype(np.int64),
            "timestamp_s": t,
            "face_id": 1,
            "x": 10.0,
            "y": 10.0,
            "w": 40.0,
            "h": 40.0,
            "det_score": 0.9,
        }
    )
    names = np.asarray(EMOTIONS, dtype=object)[labels]
    for i, emotion in enumerate(EMOTIONS):
        rows[emotion] = rows[f"smoothed_{emotion}"] = probs[:, i]
    rows["emotion"] = rows["smoothed_emotion"] = names
    rows["confidence"] = rows["smoothed_confidence"] = 0.7
    return rows


def test_a_long_recording_is_drawn_in_bins_that_keep_its_gaps_and_mean():
    rows = _long_recording(2, away=(3000, 3600))
    probs = rows[list(EMOTIONS)].to_numpy(np.float64)
    x, y = _smoothed_series(rows["timestamp_s"].to_numpy(), probs)
    span = 7200 / PLOT_POINTS
    assert len(x) <= 3 * PLOT_POINTS  # not 36,000 frames: a point per half pixel
    assert np.abs(np.nanmean(y, axis=0) - probs.mean(axis=0)).max() < 0.01
    gaps = np.flatnonzero(np.isnan(x))
    assert len(gaps) == 2  # the time away, and the end
    assert abs(x[gaps[0] - 1] - 3000) <= 2 * span and x[gaps[0] + 1] == 3600


def test_the_band_shows_the_segments_of_a_short_recording():
    rows = _long_recording(0.02, away=(30, 40))  # 72 s: drawn frame by frame
    x, y = _smoothed_series(
        rows["timestamp_s"].to_numpy(), rows[list(EMOTIONS)].to_numpy(np.float64)
    )
    spans = sorted(
        (start, start + width, emotion)
        for emotion, runs in _band(x, y).items()
        for start, width in runs
    )
    segments = aggregate.segments(rows)
    expected = zip(segments["start_s"], segments["end_s"], segments["emotion"], strict=True)
    assert np.allclose([s[:2] for s in spans], [e[:2] for e in expected])
    assert [s[2] for s in spans] == segments["emotion"].tolist()


def test_reports_of_long_recordings_list_a_readable_number_of_segments(tmp_path):
    rows = _long_recording(1.5, away=(0, 0))
    segments = len(aggregate.segments(rows))
    assert segments > SEGMENT_ROWS
    video = write_video_report(_fake_outputs(tmp_path / "long", rows)).read_text()
    camera_dir = tmp_path / "cam"
    write_json(camera_dir / "status.json", {"stream_id": "cam", "state": "live"})
    camera = write_camera_report(camera_dir, rows).read_text()
    for text, which, clock in (
        (video, "first", "00:00.0-00:02.0"),
        (camera, "latest", "1:29:58.0-1:30:00.0"),
    ):
        table = text.split('id="segments"')[1]
        assert table.count("<tr>") - 1 == SEGMENT_ROWS  # a header row, then the segments
        assert f"The {which} {SEGMENT_ROWS} of {segments:,} segments" in text
        assert "--level segment" in text and clock in table


def test_model_report_shows_curves_and_confusion(tmp_path):
    history = [
        {
            "epoch": e,
            "accuracy": 0.3 + e / 20,
            "loss": 1.8 - e / 10,
            "val_accuracy": 0.28 + e / 25,
            "val_loss": 1.9 - e / 12,
            "learning_rate": 1e-3,
        }
        for e in range(1, 6)
    ]
    card = tmp_path / "m.json"
    write_json(
        card,
        {
            "name": "m",
            "parameters": 1234,
            "recipe": {"epochs": 5},
            "data": "fer2013/train",
            "training": {"history": history},
        },
    )
    cm = np.eye(7, dtype=int) * 10 + 1
    metrics = tmp_path / "metrics.json"
    write_json(
        metrics,
        {
            "file": "m.int8.tflite",
            "images": int(cm.sum()),
            "accuracy": 0.5,
            "macro_f1": 0.4,
            "confusion_matrix": cm.tolist(),
            "per_class": {
                e: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 16} for e in EMOTIONS
            },
        },
    )
    text = write_model_report(card, metrics, tmp_path / "model.html").read_text()
    assert text.count("data:image/png;base64,") == 2 and "recipe.epochs" in text
    assert all(emotion in text for emotion in EMOTIONS)
    write_json(card, {"name": "m"})
    text = write_model_report(card, None, tmp_path / "model.html").read_text()
    assert "No training history" in text and "data:image" not in text


# ----- helpers -------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


def _links(text: str) -> list[str]:
    parser = _Links()
    parser.feed(text)
    parser.close()
    return parser.links


def _frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (frame := cap.read())[0]:
        frames.append(frame[1])
    cap.release()
    return frames


def _bgr_hex(bgr: np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*bgr[::-1])


def _screenshot(page: Path, png: Path, scratch: Path) -> None:
    profile = tempfile.mkdtemp(dir=scratch)
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            "--window-size=1200,1400",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )


def _row(face_id: int, t: float) -> dict:
    probs = np.roll([0.4, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05], face_id)
    return {
        "video_id": "crowd",
        "frame_index": int(round(t * 10)),
        "timestamp_s": float(t),
        "face_id": face_id,
        "x": 10.0 * face_id,
        "y": 10.0,
        "w": 40.0,
        "h": 40.0,
        "det_score": 0.9,
        **dict(zip(EMOTIONS, probs, strict=True)),
        "emotion": EMOTIONS[int(np.argmax(probs))],
        "confidence": float(probs.max()),
        **{f"smoothed_{e}": p for e, p in zip(EMOTIONS, probs, strict=True)},
        "smoothed_emotion": EMOTIONS[int(np.argmax(probs))],
        "smoothed_confidence": float(probs.max()),
    }


def _fake_outputs(folder: Path, detections: pd.DataFrame) -> Path:
    """A video folder as analyze leaves it, from hand-made detections (no video needed)."""
    write_table(folder / "detections.parquet", detections, schema.DETECTIONS)
    write_table(folder / "timeline.parquet", aggregate.timeline(detections), schema.TIMELINE)
    faces = aggregate.faces(detections)
    write_table(folder / "faces.parquet", faces, schema.FACES)
    write_json(
        folder / "run.json",
        {
            "video_id": folder.name,
            "input": "none.mp4",
            "fps": 10.0,
            "duration_s": 4.0,
            "faces": len(faces),
            "status": "ok",
            "parameters": {"sample_fps": 0},
        },
    )
    return folder
