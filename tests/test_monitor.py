"""``lightemo-video monitor``: a real RTSP server on 127.0.0.1, real Ray, real model.

The server is tests/rtsp_server.py run with the system Python (GStreamer's rtsp-server);
tests that need it skip when its Debian packages are absent (and fail under CI=true).
The tests never depend on which emotions come out (the shipped model may be a stand-in).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import pandas as pd
import pyarrow.parquet as pq
import pytest
from lightemo_video.pipeline import monitor, schema
from lightemo_video.pipeline.analyze import AnalyzeConfig
from lightemo_video.pipeline.monitor import CameraMonitor, MonitorConfig, monitor_cameras
from lightemo_video.pipeline.outputs import TEMP_PREFIX
from lightemo_video.pipeline.report import build_reports
from lightemo_video.pipeline.streams import LiveFrame, SourceStats, StreamConfig
from typer.testing import CliRunner

from tests.conftest import DEMO_CLIP, missing_system_component

SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
SECRET = "secretpw"
FAST = StreamConfig(open_timeout_s=3, read_timeout_s=3, backoff_initial_s=0.5, backoff_max_s=2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def rtsp_available() -> None:
    if not Path(SYSTEM_PYTHON).exists():
        missing_system_component(f"{SYSTEM_PYTHON} not available")
    check = subprocess.run(
        [SYSTEM_PYTHON, str(SERVER), "--check"], capture_output=True, text=True, timeout=60
    )
    if check.returncode != 0:
        reason = check.stderr.strip().splitlines()[-1:] or [check.stdout.strip()]
        missing_system_component(
            "GStreamer RTSP server not usable (apt-get install gir1.2-gst-rtsp-server-1.0 "
            "python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad "
            f"gstreamer1.0-plugins-ugly): {reason[0]}"
        )


class RtspServer:
    """The RTSP test server (tests/rtsp_server.py) serving ``clip`` at rtsp://127.0.0.1:PORT/live."""

    def __init__(self, clip: Path, port: int) -> None:
        self.clip, self.port, self.proc = clip, port, None

    def url(self, credentials: str = "") -> str:
        return f"rtsp://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}/live"

    def start(self) -> RtspServer:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(self.clip), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        ready = self.proc.stdout.readline()  # blocks until "ready" or exit
        if "ready" not in ready:
            self.kill()
            pytest.fail(f"RTSP server did not start (printed {ready!r})")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def server(rtsp_available):
    srv = RtspServer(DEMO_CLIP, free_port()).start()
    yield srv
    srv.kill()


@pytest.fixture(scope="module")
def ray_session():
    """One embedded Ray for the in-process tests (monitor_cameras reuses it)."""
    import ray

    ray.init(
        address="local",
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="WARNING",
    )
    yield
    ray.shutdown()


def config(roll_seconds: float = 2.0, sample_fps: float = 5.0, **kwargs) -> MonitorConfig:
    return MonitorConfig(
        analyze=AnalyzeConfig(sample_fps=sample_fps),
        stream=FAST,
        roll_seconds=roll_seconds,
        status_every_s=0.5,
        **kwargs,
    )


def read_parts(folder: Path) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.parquet"))
    assert parts, f"no parts in {folder}"
    for part in parts:
        assert pq.read_schema(part).remove_metadata().equals(schema.LIVE_DETECTIONS)
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def read_status(folder: Path) -> dict:
    try:
        return json.loads((folder / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_for(predicate, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def assert_no_secret(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and not path.is_socket():
            data = path.read_bytes()
            assert SECRET.encode() not in data, f"credentials in {path}"
            assert SECRET not in path.name


def test_the_rtsp_server_in_tests_serves_the_clip(server):
    with av.open(server.url(), options={"rtsp_transport": "tcp"}, timeout=20) as stream:
        frame = next(stream.decode(video=0))
    with av.open(str(DEMO_CLIP)) as clip:
        assert (frame.width, frame.height) == (
            clip.streams.video[0].width,
            clip.streams.video[0].height,
        )


def test_live_stream_rows_parts_and_status(server, ray_session, tmp_path):
    began = datetime.now(UTC)
    [status] = monitor_cameras([server.url(f"user:{SECRET}")], tmp_path, config(), duration_s=7)
    folder = tmp_path / f"127.0.0.1-{server.port}-live"
    rows = read_parts(folder)
    assert len(list(folder.glob("part-*.parquet"))) >= 2
    picture = cv2.imread(str(folder / "timeline.png"))  # the timeline plot follows the parts
    assert picture is not None and picture.std() > 5
    assert (
        status["state"] == "stopped" and json.loads((folder / "status.json").read_text()) == status
    )
    assert status["url"] == f"rtsp://***@127.0.0.1:{server.port}/live"
    assert 10 < status["frames_analysed"] <= 5 * 7 + 1  # never above --sample-fps
    assert status["rows"] == len(rows) > 0
    assert status["frames_received"] >= 75  # the camera's 25 fps, less the connection time
    assert status["frames_received"] == status["frames_analysed"] + status["frames_dropped"]
    assert rows["video_id"].eq(folder.name).all()
    assert not rows.duplicated(["frame_index", "face_id"]).any()
    captured = rows["captured_at"]
    assert (
        captured.notna().all() and captured.min() >= began and captured.max() <= datetime.now(UTC)
    )
    assert rows["timestamp_s"].between(0, 9).all() and rows["timestamp_s"].is_monotonic_increasing
    assert status["lag_s"] is not None and status["lag_s"] <= status["max_lag_s"] < 5
    for name, table in (("timeline", schema.TIMELINE), ("faces", schema.FACES)):
        assert pq.read_schema(folder / f"{name}.parquet").remove_metadata().equals(table)
    assert set(pd.read_parquet(folder / "faces.parquet")["face_id"]) == set(rows["face_id"])
    page = (folder / "report.html").read_text()  # the camera's report follows the parts too
    assert f"Faces ({rows['face_id'].nunique()})" in page and "data:image/png;base64," in page
    index = build_reports(tmp_path)[-1].read_text()  # `lightemo-video report OUT`
    assert 'id="cameras"' in index and f'href="{folder.name}/report.html"' in index
    assert_no_secret(tmp_path)


def test_reconnects_after_the_server_dies_and_returns(server, ray_session, tmp_path):
    url, port = server.url(f"user:{SECRET}"), server.port
    folder = tmp_path / f"127.0.0.1-{port}-live"
    result = {}
    runner = threading.Thread(
        target=lambda: result.update(
            status=monitor_cameras([url], tmp_path, config(roll_seconds=2), duration_s=12)[0]
        )
    )
    runner.start()
    try:
        assert wait_for(lambda: read_status(folder).get("frames_analysed", 0) >= 5, 30)
        server.kill()  # mid-stream (the clip is 8 s)
        killed_at = datetime.now(UTC)
        time.sleep(1.0)
        server.start()
    finally:
        runner.join(timeout=60)
    status = result["status"]
    rows = read_parts(folder)
    assert status["reconnects"] >= 1 and status["state"] == "stopped"
    assert status["last_error"].startswith(f"rtsp://***@127.0.0.1:{port}/live: ")
    assert not rows.duplicated(["frame_index", "face_id"]).any()
    before, after = rows[rows["captured_at"] < killed_at], rows[rows["captured_at"] > killed_at]
    assert len(before) and len(after), "rows on both sides of the outage"
    assert after["frame_index"].min() > before["frame_index"].max()  # numbering carries on
    assert rows["timestamp_s"].is_monotonic_increasing
    assert_no_secret(tmp_path)


def test_the_same_face_keeps_its_id_after_a_long_rtsp_outage(server, ray_session, tmp_path):
    """Every outage counts as long here (``keep_ids_after_drop_s=0``), so tracks end when
    the server dies; the astronaut comes back on the new connection with her id, by look.
    The run lasts long enough for the reconnect to deliver frames on a busy machine."""
    folder = tmp_path / f"127.0.0.1-{server.port}-live"
    result = {}
    cfg = config(roll_seconds=2, keep_ids_after_drop_s=0.0)
    runner = threading.Thread(
        target=lambda: result.update(
            status=monitor_cameras([server.url()], tmp_path, cfg, duration_s=14)[0]
        )
    )
    runner.start()
    try:
        assert wait_for(lambda: read_status(folder).get("frames_analysed", 0) >= 5, 30)
        server.kill()
        killed_at = datetime.now(UTC)
        time.sleep(2.0)
        server.start()
    finally:
        runner.join(timeout=60)
    assert result["status"]["reconnects"] >= 1
    rows = read_parts(folder)
    before, after = rows[rows["captured_at"] < killed_at], rows[rows["captured_at"] > killed_at]
    assert len(before) and len(after), "rows on both sides of the outage"
    assert set(before["face_id"]) == set(after["face_id"]) == {1}


def test_a_camera_that_never_comes_up(rtsp_available, ray_session, tmp_path):
    from lightemo_video.cli import app

    port = free_port()
    url = f"rtsp://user:{SECRET}@127.0.0.1:{port}/live"
    folder = tmp_path / f"127.0.0.1-{port}-live"
    seen = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(read_status(folder))
            time.sleep(0.3)

    watcher = threading.Thread(target=watch)
    watcher.start()
    began = time.monotonic()
    try:
        result = CliRunner().invoke(
            app, ["monitor", url, "--out", str(tmp_path), "--duration", "5"]
        )
    finally:
        stop.set()
        watcher.join()
    assert result.exit_code == 1, result.output
    assert time.monotonic() - began < 40
    assert "never sent a frame" in result.output and "Traceback" not in result.output
    assert SECRET not in result.output
    retrying = [s for s in seen if s.get("state") == "reconnecting"]
    assert retrying and retrying[-1]["failed_attempts"] >= 1
    final = read_status(folder)
    assert final["state"] == "stopped" and final["failed_attempts"] >= 2  # 1 s, then 2 s backoff
    assert final["last_error"] == (
        f"rtsp://***@127.0.0.1:{port}/live: "
        f"connection refused on port {port} (camera off, or wrong port?)"
    )
    assert final["frames_received"] == 0 and not list(folder.glob("part-*"))
    assert_no_secret(tmp_path)


def test_sigint_flushes_the_last_part_and_leaks_no_credentials(server, tmp_path):
    out = tmp_path / "out"
    ray_tmp = Path(tempfile.mkdtemp(prefix="lemo", dir="/tmp"))  # short: Ray's socket paths
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
    exe = Path(sys.executable).with_name("lightemo-video")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "lightemo_video.cli"]
    proc = subprocess.Popen(
        [
            *command,
            "monitor",
            server.url(f"user:{SECRET}"),
            "--out",
            str(out),
            "--roll-seconds",
            "600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    folder = out / f"127.0.0.1-{server.port}-live"
    try:
        assert wait_for(lambda: read_status(folder).get("frames_analysed", 0) >= 8, 90), proc.poll()
        assert not list(folder.glob("part-*"))  # nothing rolled yet: all rows are in memory
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    rows = read_parts(folder)
    status = read_status(folder)
    assert status["state"] == "stopped" and status["rows"] == len(rows) > 0 and status["parts"] == 1
    assert not list(out.rglob(TEMP_PREFIX + "*"))
    assert stdout.strip() == str(folder)
    assert folder.name in (out / "report.html").read_text()  # the index lists the camera
    assert SECRET not in stdout + stderr
    assert_no_secret(out)
    try:  # Ray's own session logs too
        assert any(p.suffix in (".log", ".out", ".err") for p in ray_tmp.rglob("*")), "no Ray logs"
        assert_no_secret(ray_tmp)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


# -- the loop on a scripted source: id continuity over reconnects, resuming a folder --------


class ScriptedSource:
    """Stands in for LiveSource: hands out scripted frames, then stops the monitor."""

    def __init__(self, script, first_index, origin, on_end) -> None:
        self.script, self.origin, self.on_end = list(script), origin, on_end
        self.first_index = first_index
        self.base = time.monotonic() - origin  # scripted times count from this run's start
        self.given = 0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def newest(self, after: int, timeout: float) -> LiveFrame | None:
        if self.given == len(self.script):
            self.on_end()
            return None
        image, t, connection = self.script[self.given]
        frame = LiveFrame(
            self.first_index + self.given, self.base + t, image, datetime.now(UTC), connection
        )
        self.given += 1
        return frame

    def stats(self) -> SourceStats:
        return SourceStats("rtsp://fake", "live", self.given, 1, 0, 0, None, None, 25.0)


@pytest.fixture(scope="module")
def face_images():
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    images = [cap.read()[1] for _ in range(12)]  # the astronaut's face, before the coffee shot
    cap.release()
    return images


def run_scripted(
    tmp_path: Path, script: list, monitor_config: MonitorConfig | None = None
) -> pd.DataFrame:
    box = {}

    def factory(url, stream_config, first_index, origin):
        box["source"] = ScriptedSource(script, first_index, origin, lambda: box["monitor"].stop())
        return box["source"]

    box["monitor"] = CameraMonitor(
        "rtsp://cam/x", tmp_path, monitor_config or config(sample_fps=0), source_factory=factory
    )
    box["monitor"].run(duration_s=30)
    return read_parts(tmp_path / "cam-554-x")


@pytest.mark.parametrize(
    ("gap_s", "reid_window_s", "same_id"),
    [(2.0, 60.0, True), (12.0, 60.0, True), (12.0, 0.0, False)],
)
def test_face_ids_survive_a_short_drop_and_come_back_by_look_after_a_long_one(
    face_images, tmp_path, gap_s, reid_window_s, same_id
):
    """A short drop keeps the track; after a long one tracks end and the face is
    re-identified from the gallery, which outlives the connection (off: a new id)."""
    script = [(img, 0.2 * i, 1) for i, img in enumerate(face_images[:6])]
    script += [(img, 1.0 + gap_s + 0.2 * i, 2) for i, img in enumerate(face_images[6:])]
    tracker = replace(AnalyzeConfig().tracker, reid_window_s=reid_window_s)
    cfg = replace(config(sample_fps=0), analyze=AnalyzeConfig(sample_fps=0, tracker=tracker))
    rows = run_scripted(tmp_path, script, cfg)
    first, second = rows[rows["timestamp_s"] < 1.1], rows[rows["timestamp_s"] > 1.1]
    assert first["face_id"].nunique() == 1 and second["face_id"].nunique() == 1
    if same_id:
        assert second["face_id"].iloc[0] == first["face_id"].iloc[0]
    else:
        assert second["face_id"].iloc[0] > first["face_id"].max()  # never reused


def test_a_second_run_continues_the_folder(face_images, tmp_path):
    script = [(img, 0.2 * i, 1) for i, img in enumerate(face_images[:5])]
    first = run_scripted(tmp_path, script)
    time.sleep(1.1)  # a new part name second, and a far-apart clock
    both = run_scripted(tmp_path, script)
    assert len(both) == 2 * len(first)
    assert not both.duplicated(["frame_index", "face_id"]).any()
    second = both.iloc[len(first) :]
    assert second["frame_index"].min() > first["frame_index"].max()
    assert second["face_id"].min() > first["face_id"].max()
    assert second["timestamp_s"].min() >= first["timestamp_s"].max()
    names = sorted(p.name for p in (tmp_path / "cam-554-x").glob("part-*"))
    assert [n.rsplit("-", 1)[1] for n in names] == ["000000.parquet", "000001.parquet"]
    assert second["captured_at"].min() - first["captured_at"].max() < timedelta(seconds=30)


def test_a_clock_that_went_back_does_not_send_timestamps_back(face_images, tmp_path, caplog):
    """A device without a real-time clock can restart a day behind: the second run's
    ``timestamp_s`` carries on after the first run's rows instead of going negative."""
    script = [(img, 0.2 * i, 1) for i, img in enumerate(face_images[:5])]
    first = run_scripted(tmp_path, script)
    status = tmp_path / "cam-554-x" / "status.json"
    facts = json.loads(status.read_text())
    ahead = datetime.fromisoformat(facts["started_at"]) + timedelta(days=1)
    status.write_text(json.dumps({**facts, "started_at": ahead.isoformat()}))
    both = run_scripted(tmp_path, script)
    second = both.iloc[len(first) :]
    assert second["timestamp_s"].min() >= first["timestamp_s"].max()
    assert "the clock is 86" in caplog.text and "behind the last part" in caplog.text


def test_a_live_face_is_written_from_its_first_frame_once_it_confirms(face_images, tmp_path):
    """Tracking holds a new face's rows until its track confirms (3 frames here), then
    they come out from its first frame; the stop releases what is still held."""
    script = [(img, 0.2 * i, 1) for i, img in enumerate(face_images[:6])]
    rows = run_scripted(tmp_path, script)
    assert rows["frame_index"].tolist() == list(range(6))
    assert rows["face_id"].tolist() == [1] * 6


def test_costly_summaries_refresh_less_often_and_always_at_the_stop(
    face_images, tmp_path, monkeypatch
):
    """Parts roll on time; the summaries, plot and report (whose cost grows with the
    history) wait while refreshing them would take more than their share of the loop,
    and the stop brings them up to date, even when it has no new rows to write."""
    monkeypatch.setattr(monitor, "SUMMARY_SHARE", 1e-6)  # after the first: only at the stop
    script = [(img, 0.2 * i, 1) for i, img in enumerate(face_images)]
    folder = tmp_path / "cam-554-x"
    seen = {}

    class Paced(ScriptedSource):
        def newest(self, after: int, timeout: float):
            time.sleep(0.15)
            return super().newest(after, timeout)

    def at_the_end() -> None:  # called until the stop, while parts keep rolling
        if "timeline" not in seen:
            seen["ended"] = time.monotonic()
            seen["timeline"] = int(pd.read_parquet(folder / "timeline.parquet")["frames"].sum())
        elif time.monotonic() - seen["ended"] > 1.5:
            seen["parts"] = sorted(folder.glob("part-*.parquet"))
            box["monitor"].stop()

    box = {}
    box["monitor"] = CameraMonitor(
        "rtsp://cam/x",
        tmp_path,
        config(roll_seconds=0.3, sample_fps=0),
        source_factory=lambda *args: Paced(script, args[2], args[3], at_the_end),
    )
    box["monitor"].run(duration_s=60)
    rows = read_parts(folder)
    assert len(seen["parts"]) >= 3 and sorted(folder.glob("part-*.parquet")) == seen["parts"]
    assert seen["timeline"] == pq.read_metadata(seen["parts"][0]).num_rows  # the first part's
    assert pd.read_parquet(folder / "timeline.parquet")["frames"].sum() == len(rows)
    assert pd.read_parquet(folder / "faces.parquet")["frames"].sum() == len(rows)
    assert "Faces (1)" in (folder / "report.html").read_text()


def test_a_camera_folder_exports_like_a_video(face_images, tmp_path):
    """``export OUT/<stream_id>`` reads the camera's parts: frames keep ``captured_at``,
    seconds, faces and segments are summarised from every part."""
    from lightemo_video.cli import app

    script = [(img, 0.2 * i, 1) for i, img in enumerate(face_images[:8])]
    rows = run_scripted(tmp_path, script)
    folder = tmp_path / "cam-554-x"
    runner = CliRunner()
    tables = {}
    for level in ("frame", "second", "face", "segment"):
        target = tmp_path / f"{level}.parquet"
        done = runner.invoke(app, ["export", str(folder), "--level", level, "-o", str(target)])
        assert done.exit_code == 0, done.output
        tables[level] = pq.read_table(target)
    assert tables["frame"].schema.remove_metadata().equals(schema.LIVE_DETECTIONS)
    assert tables["frame"].num_rows == len(rows)
    assert pc_sum(tables["second"], "frames") == pc_sum(tables["face"], "frames") == len(rows)
    assert pc_sum(tables["segment"], "frames") == len(rows)
    text = runner.invoke(app, ["export", str(folder), "--level", "segment"]).output
    assert text.startswith("video_id,face_id,emotion,start_s") and "cam-554-x,1," in text


def pc_sum(table, column: str) -> int:
    return int(table.column(column).to_numpy().sum())
