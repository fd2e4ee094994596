"""Recordings in object storage, analysed on a ``ray start`` cluster, results written back:
a real S3-compatible server (moto) on loopback, a real Ray cluster, the real command."""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import cv2
import pandas as pd
import pyarrow.parquet as pq
import pytest
from lightemo_video.model.errors import InputError
from lightemo_video.pipeline import outputs, storage
from lightemo_video.pipeline.destinations import open_output
from lightemo_video.pipeline.monitor import CameraMonitor
from lightemo_video.pipeline.sources import find_inputs, probe_video
from lightemo_video.pipeline.uploads import BackgroundUploads

from tests.conftest import DEMO_CLIP, ROOT, missing_system_component
from tests.object_store import HoldingProxy, free_port, start_s3_server
from tests.test_monitor import ScriptedSource
from tests.test_monitor import config as monitor_config

BUCKET = "recordings"
ANALYZE = ["--sample-fps", "5", "--segment-frames", "60"]  # 4 segments of the 8 s clip
TABLES = ("detections.parquet", "timeline.parquet", "faces.parquet")
CLIP = f"{BUCKET}/in/2024/day1/astronaut_demo.mp4"
OBJECTS = {
    CLIP: DEMO_CLIP.read_bytes(),
    f"{BUCKET}/in/notes.txt": b"not listed: no video suffix",
    f"{BUCKET}/bad/notes.mp4": b"not a video\n",
}


@pytest.fixture(scope="module")
def s3():
    """The server, a bucket with the demo clip under a nested prefix, a text file, a
    text file named .mp4, and this process pointed at the server."""
    process, server = start_s3_server(OBJECTS)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(server.env(saved))
    try:
        yield server
    finally:
        os.environ.clear()
        os.environ.update(saved)
        process.terminate()
        process.wait(timeout=30)


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The command as a user runs it, from this checkout."""
    env = {**(env or os.environ), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "lightemo_video.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def read_s3_table(url: str) -> pd.DataFrame:
    fs, path = storage.filesystem(url)
    return pq.read_table(path, filesystem=fs).to_pandas()


@pytest.fixture(scope="module")
def cluster(s3):
    """``ray start --head`` on loopback, in its own temporary folder and ports, with the
    storage settings and key in its environment (as cluster nodes need them); stopped by
    ending the processes it started, so other Ray instances on the machine are untouched."""
    ray = shutil.which("ray")
    if ray is None:
        missing_system_component("the ray command is not installed")
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    port = free_port()
    ports = {
        "--port": port,
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--metrics-export-port": free_port(),
        "--ray-client-server-port": free_port(),
    }
    head = subprocess.Popen(
        [
            ray,
            "start",
            "--head",
            "--block",
            "--num-cpus",
            "2",
            "--temp-dir",
            temp,
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
            *(str(x) for pair in ports.items() for x in pair),
        ],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        _wait_for_cluster(head, address)
        yield address
    finally:
        if head.poll() is None:
            head.terminate()  # `ray start --block` then stops the node's processes itself
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_cluster(head: subprocess.Popen, address: str) -> None:
    check = "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); ray.shutdown()"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if head.poll() is not None:
            reason = head.stderr.read().decode(errors="replace").strip().splitlines()[-1:]
            missing_system_component(f"ray start --head failed: {reason}")
        env = {**os.environ, "RAY_AUTH_MODE": "token"}  # `ray start` clusters want their token
        done = subprocess.run(
            [sys.executable, "-c", check, address], capture_output=True, timeout=120, env=env
        )
        if done.returncode == 0:
            return
        time.sleep(2)
    missing_system_component("ray start --head did not answer within 3 minutes")


def test_urls_and_credentials_are_masked():
    signed = (
        "https://user:pa55@files.example.com/v/clip.mp4?X-Amz-Credential=AKIA123%2F2024"
        "&X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok123&part=2"
    )
    shown = storage.display(signed)
    for secret in ("pa55", "AKIA123", "deadbeef", "tok123"):
        assert secret not in shown
    assert shown.startswith("https://***@files.example.com/v/clip.mp4?") and "part=2" in shown
    assert storage.stem_of(signed) == "clip"
    assert storage.display(DEMO_CLIP) == DEMO_CLIP
    signed_again = [  # the same object signed at two times: one input, one id
        "https://b.s3.example.com/v/clip.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=AKIA123%2F{day}&X-Amz-Date={day}T0{hour}0000Z&X-Amz-Expires=3600"
        f"&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
        for day, hour, signature in (("20261201", 1, "beef"), ("20261202", 7, "cafe"))
    ]
    assert storage.display(signed_again[0]) == storage.display(signed_again[1])
    assert "X-Amz-Date" not in storage.display(signed_again[0])


class _Files(http.server.BaseHTTPRequestHandler):
    """DEMO_CLIP over http with byte ranges, as FFmpeg reads it; to user ``ann`` with
    password ``s3cr:et`` only when ``server.login``; 503 while ``server.down``."""

    def do_GET(self) -> None:
        login = "Basic " + base64.b64encode(b"ann:s3cr:et").decode()
        if self.server.login and self.headers.get("Authorization") != login:
            self.send_response(401, "Unauthorized")
            self.send_header("WWW-Authenticate", 'Basic realm="recordings"')
            self.end_headers()
            return
        if self.server.down:
            self.send_response(503, "Service Unavailable")
            self.end_headers()
            return
        data = DEMO_CLIP.read_bytes()
        first, _, last = (
            (self.headers.get("Range") or "bytes=0-").removeprefix("bytes=").partition("-")
        )
        first, last = int(first or 0), min(int(last or len(data) - 1), len(data) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(data[first : last + 1])

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serving(login: bool = False):
    """A loopback http server of :class:`_Files`; yields it (``down`` can be flipped)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    server.login, server.down = login, False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()


def test_a_server_out_of_reach_on_a_rerun_keeps_the_earlier_results(tmp_path):
    out = tmp_path / "out"
    with serving() as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/talk.mp4"
        first = cli("analyze", url, "--out", str(out), "--sample-fps", "2", "--workers", "1")
        assert first.returncode == 0, first.stderr
        tables = {p.name: p.read_bytes() for p in (out / "talk").glob("*.parquet")}
        server.down = True
        again = cli("analyze", url, "--out", str(out), "--sample-fps", "2", "--workers", "1")
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "answered 503 Service Unavailable; the previous results are kept" in again.stderr
    assert json.loads((out / "talk" / "run.json").read_text())["status"] == "ok"
    assert {p.name: p.read_bytes() for p in (out / "talk").glob("*.parquet")} == tables != {}


def test_credentials_in_an_http_url_are_used_and_never_shown_or_stored(tmp_path):
    """user:password@ is sent as basic authentication (as FFmpeg does), so probing,
    analysis, face pictures and annotated.mp4 all read the video; none says the password."""
    out = tmp_path / "out"
    with serving(login=True) as server:
        port = server.server_address[1]
        assert (
            storage.stat(f"http://ann:s3cr%3Aet@127.0.0.1:{port}/talk.mp4").st_size
            == DEMO_CLIP.stat().st_size
        )
        said = []
        for url in (
            f"http://ann:wrong-pa55@127.0.0.1:{port}/talk.mp4",  # refused
            "http://ann:wrong-pa55@127.0.0.1/talk.mp4",  # no port: nobody answers on 80
        ):
            with pytest.raises(InputError) as refused:
                storage.stat(url)
            said.append(str(refused.value))
        done = cli(
            "analyze",
            f"http://ann:s3cr%3Aet@127.0.0.1:{port}/talk.mp4",
            "--out",
            str(out),
            "--sample-fps",
            "2",
            "--workers",
            "1",
            "--annotate",
        )
    assert "answered 401" in said[0] and "cannot reach the server" in said[1], said
    assert not any("wrong-pa55" in line or "\n" in line for line in said), said
    assert done.returncode == 0, done.stderr
    assert "s3cr" not in done.stdout + done.stderr
    assert "warning" not in done.stderr.lower(), done.stderr  # pictures could reopen the input
    folder = out / "talk"
    assert (folder / "annotated.mp4").stat().st_size > 10_000
    assert "data:image/png" in (folder / "report.html").read_text()  # face pictures
    for path in folder.iterdir():
        assert b"s3cr" not in path.read_bytes(), path.name


def test_prefixes_are_listed_recursively_and_mixed_with_local_paths(s3, tmp_path):
    missing_local = tmp_path / "nope.mp4"
    videos, errors = find_inputs(
        [
            f"s3://{BUCKET}/in/",
            str(DEMO_CLIP),
            f"s3://{BUCKET}/bad/notes.mp4",
            "s3://no-such-bucket/x/",
            f"s3://{BUCKET}/empty/",
            str(missing_local),
        ]
    )
    assert videos == [f"s3://{CLIP}", DEMO_CLIP.resolve(), f"s3://{BUCKET}/bad/notes.mp4"]
    reasons = {e.source: e.reason for e in errors}
    assert reasons == {
        "s3://no-such-bucket/x/": "no such bucket 'no-such-bucket'",
        f"s3://{BUCKET}/empty/": "no such object or prefix",
        str(missing_local): "no such file or folder",
    }


def test_an_object_probes_like_the_local_file(s3):
    remote = probe_video(f"s3://{CLIP}")
    local = probe_video(DEMO_CLIP)
    assert remote.size_bytes == local.size_bytes and remote.etag and remote.mtime_ns > 0
    for field in ("fps", "frame_count", "duration_s", "width", "height", "time_base", "origin_pts"):
        assert getattr(remote, field) == getattr(local, field)
    with pytest.raises(InputError, match="not a video file"):
        probe_video(f"s3://{BUCKET}/bad/notes.mp4")
    with pytest.raises(InputError, match="no such object"):
        probe_video(f"s3://{BUCKET}/in/gone.mp4")


def test_storage_errors_are_one_line_per_input_and_the_batch_goes_on(s3, tmp_path):
    out = tmp_path / "out"
    done = cli(
        "analyze", "s3://no-such-bucket/in/", f"s3://{BUCKET}/bad/notes.mp4", "--out", str(out)
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "s3://no-such-bucket/in/: no such bucket 'no-such-bucket'" in done.stderr
    assert f"s3://{BUCKET}/bad/notes.mp4: not a video file" in done.stderr
    assert json.loads((out / "notes" / "run.json").read_text())["status"] == "failed"

    strict, checking = start_s3_server({CLIP: b"any"}, check_credentials=True)
    try:
        keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        anonymous = {k: v for k, v in checking.env().items() if k not in keys}
        done = cli("analyze", f"s3://{CLIP}", "--out", str(out), env=anonymous)
    finally:
        strict.terminate()
        strict.wait(timeout=30)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"s3://{CLIP}: access denied and no credentials found" in done.stderr

    dead = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    began = time.monotonic()
    done = cli("analyze", f"s3://{BUCKET}/in/", "--out", str(out), env=dead)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "cannot reach the storage endpoint at http://127.0.0.1:" in done.stderr
    assert time.monotonic() - began < 60

    done = cli("analyze", str(DEMO_CLIP), "--out", "s3://no-such-bucket/out/")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "s3://no-such-bucket/out: cannot write here (no such bucket)" in done.stderr


def test_object_storage_on_a_cluster_matches_a_local_run(s3, cluster, tmp_path):
    """Inputs from s3:// and a signed https-style URL, outputs to s3://, on a ``ray start``
    cluster: the rows equal those of a local run of the same file; a rerun skips the
    finished videos; report and export work from the bucket; no secret is shown."""
    signed = s3.client().generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": CLIP.split("/", 1)[1]}, ExpiresIn=3600
    )
    out = f"s3://{BUCKET}/results/"
    done = cli(
        "analyze", f"s3://{BUCKET}/in/", signed, "--out", out, "--ray-address", cluster, *ANALYZE
    )
    assert done.returncode == 0, done.stderr
    local = tmp_path / "local"
    done_local = cli(
        "analyze", str(DEMO_CLIP), "--out", str(local), "--ray-address", cluster, *ANALYZE
    )
    assert done_local.returncode == 0, done_local.stderr

    names = storage.list_names(out)
    ids = sorted({n.split("/")[0] for n in names if n.endswith("/run.json")})
    assert len(ids) == 2 and all(i.startswith("astronaut_demo-") for i in ids)  # same stem twice
    for vid in ids:
        run = json.loads(storage.read_object(f"{out}{vid}/run.json"))
        assert run["status"] == "ok" and run["segments"] == 4 and run["etag"]
        for name in TABLES:
            remote = read_s3_table(f"{out}{vid}/{name}")
            expected = pd.read_parquet(local / "astronaut_demo" / name)
            if "video_id" in expected:
                expected["video_id"] = vid
            pd.testing.assert_frame_equal(remote, expected)
        assert {f"{vid}/report.html", f"{vid}/timeline.png"} <= set(names)
    assert "report.html" in names and not any(n.startswith(".") for n in names)
    everything = (
        done.stdout
        + done.stderr
        + "".join(
            storage.read_object(f"{out}{n}").decode()
            for n in names
            if n.endswith((".json", ".html"))
        )
    )
    assert "Signature=***" in everything
    for secret in (s3.secret, s3.key_id, signed.split("Signature=")[1].split("&")[0]):
        assert secret not in everything

    before = {vid: storage.read_object(f"{out}{vid}/run.json") for vid in ids}
    again = cli(
        "analyze", f"s3://{BUCKET}/in/", signed, "--out", out, "--ray-address", cluster, *ANALYZE
    )
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("skipped (done)") == 2
    assert before == {vid: storage.read_object(f"{out}{vid}/run.json") for vid in ids}

    report = cli("report", out)
    assert report.returncode == 0, report.stderr
    assert f"{out}report.html" in report.stdout
    exported = cli("export", out, "--level", "face")
    assert exported.returncode == 0, exported.stderr
    faces = pd.read_csv(io.StringIO(exported.stdout))
    assert sorted(faces["video_id"].unique()) == ids and len(faces) > 0
    missing = cli("export", f"s3://{BUCKET}/nothing-here/")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert f"s3://{BUCKET}/nothing-here: nothing here" in missing.stderr


def test_a_rerun_on_object_storage_replaces_the_video_as_a_unit(s3):
    """Publishing over an earlier result: stale objects go, ``run.json`` comes last, and
    nothing is left under the prefix but the new result."""
    url = f"s3://{BUCKET}/unit/"
    with open_output(url) as out:
        for run_id, files in ((1, ("a.parquet", "old.png")), (2, ("a.parquet",))):
            staged = outputs.staging_folder(out.work, "vid")
            for name in files:
                (staged / name).write_text(f"run {run_id}")
            (staged / "run.json").write_text(json.dumps({"status": "ok", "run": run_id}))
            out.publish(staged, "vid")
        assert storage.list_names(f"{url}vid") == ["a.parquet", "run.json"]
        assert out.read_run("vid") == {"status": "ok", "run": 2}
        assert storage.read_object(f"{url}vid/a.parquet") == b"run 2"
        assert (out.work / "vid" / "a.parquet").read_text() == "run 2"


class PacedSource(ScriptedSource):
    """A scripted camera that sends a frame every 0.25 s, so parts roll while it runs."""

    def newest(self, after: int, timeout: float):
        time.sleep(0.25)
        return super().newest(after, timeout)


def test_monitor_uploads_each_part_as_it_rolls_and_resumes_from_the_bucket(s3):
    """Parts reach the bucket while the camera runs; a later run on another machine (a
    fresh local folder) continues the stream's frame index and part numbers."""
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    script = [(cap.read()[1], 0.2 * i, 1) for i in range(8)]
    cap.release()
    url = f"s3://{BUCKET}/cameras/"
    parts_before_stop = []

    def run_once() -> None:
        box = {}

        def stopping() -> None:
            parts_before_stop.append([n for n in storage.list_names(url) if "/part-" in n])
            box["monitor"].stop()

        def factory(camera, stream_config, first_index, origin):
            return PacedSource(script, first_index, origin, stopping)

        box["monitor"] = CameraMonitor(
            "rtsp://user:pw@cam/x",
            url,
            monitor_config(roll_seconds=0.6, sample_fps=0),
            source_factory=factory,
        )
        box["monitor"].run(duration_s=30)

    run_once()
    run_once()
    first_run, second_run = parts_before_stop
    assert len(first_run) >= 1 and len(second_run) > len(first_run)  # uploaded on roll
    names = storage.list_names(url)
    parts = [n for n in names if n.startswith("cam-554-x/part-")]
    assert [p.rsplit("-", 1)[1] for p in parts] == [f"{i:06d}.parquet" for i in range(len(parts))]
    rows = pd.concat([read_s3_table(f"{url}{p}") for p in parts], ignore_index=True)
    assert rows["frame_index"].tolist() == list(range(16))
    assert {
        "cam-554-x/status.json",
        "cam-554-x/faces.parquet",
        "cam-554-x/timeline.parquet",
    } <= set(names)
    status = json.loads(storage.read_object(f"{url}cam-554-x/status.json"))
    assert status["state"] == "stopped" and "pw" not in json.dumps(status)


def test_a_bucket_that_stops_answering_does_not_hold_up_the_camera(s3, monkeypatch):
    """While every request to the bucket hangs, the camera is still analysed at its pace
    and parts keep rolling; the files wait and reach the bucket once it answers again."""
    proxy = HoldingProxy(int(s3.endpoint.rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    valve = threading.Timer(40, proxy.release)  # so that a camera that waits ends, and fails
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    script = [(cap.read()[1], 0.2 * i, 1) for i in range(8)]
    cap.release()
    url = f"s3://{BUCKET}/held/"
    box = {}

    class HeldAfterStart(PacedSource):
        def newest(self, after: int, timeout: float):
            if self.given == 0 and not valve.is_alive():
                proxy.hold()
                valve.start()
            return super().newest(after, timeout)

    def at_the_end() -> None:
        box["held"] = proxy.holding
        box["status"] = box["monitor"].status()
        proxy.release()
        box["monitor"].stop()

    def factory(camera, stream_config, first_index, origin):
        return HeldAfterStart(script, first_index, origin, at_the_end)

    box["monitor"] = CameraMonitor(
        "rtsp://cam/held",
        url,
        monitor_config(roll_seconds=0.6, sample_fps=0),
        source_factory=factory,
    )
    try:
        final = box["monitor"].run(duration_s=120)
    finally:
        valve.cancel()
        proxy.close()
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    assert box["held"], "the camera waited for the bucket"
    assert box["status"]["frames_analysed"] == len(script)
    assert box["status"]["parts"] >= 2 and box["status"]["uploads_waiting"] >= 1
    assert final["uploads_waiting"] == 0 and final["upload_error"] is None
    parts = [n for n in storage.list_names(url) if "/part-" in n]
    rows = pd.concat([read_s3_table(f"{url}{p}") for p in parts], ignore_index=True)
    assert sorted(rows["frame_index"]) == list(range(len(script)))


def test_uploads_go_file_by_file_and_a_failing_file_holds_up_no_other(s3, caplog):
    """Each file leaves the queue once sent; one that keeps failing (here a folder where a
    file should be) goes to the back, so the files behind it are still sent."""
    with open_output(f"s3://{BUCKET}/queue/") as out:
        files = [out.work / name for name in ("a.json", "b.json", "c.json")]
        for file in files:
            file.write_text(file.name)
        files[1].unlink()
        files[1].mkdir()  # cannot be read as a file
        uploads = BackgroundUploads(out, "queue", retry_s=0.05)
        uploads.publish(*files)
        deadline = time.monotonic() + 30
        while uploads.waiting > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert uploads.waiting == 1 and "b.json" in uploads.error
        left = uploads.close(timeout_s=10)
    assert left == [files[1]]
    assert sorted(storage.list_names(f"s3://{BUCKET}/queue/")) == ["a.json", "c.json"]
    assert caplog.text.count("upload failed") <= 2  # when it starts failing, not every try


def test_parts_that_cannot_be_uploaded_at_the_end_are_kept_on_disk(s3, caplog):
    """The bucket goes away just before the camera stops: the last part cannot be
    uploaded, and its rows stay in the local copy, which the warning names."""
    client = s3.client()
    client.create_bucket(Bucket="vanishing")
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    script = [(cap.read()[1], 0.2 * i, 1) for i in range(6)]
    cap.release()
    box = {}

    def vanish_then_stop() -> None:
        for name in storage.list_names("s3://vanishing/"):
            client.delete_object(Bucket="vanishing", Key=name)
        client.delete_bucket(Bucket="vanishing")
        box["monitor"].stop()

    def factory(camera, stream_config, first_index, origin):
        return PacedSource(script, first_index, origin, vanish_then_stop)

    box["monitor"] = CameraMonitor(
        "rtsp://cam/y",
        "s3://vanishing/cameras/",
        monitor_config(roll_seconds=60, sample_fps=0),
        source_factory=factory,
    )
    box["monitor"].run(duration_s=30)
    kept = sorted(box["monitor"].folder.glob("part-*.parquet"))
    try:
        assert kept, "the unsent part was deleted with the local copy"
        rows = pd.concat([pd.read_parquet(p) for p in kept])
        assert rows["frame_index"].tolist() == list(range(6))
        assert f"they are kept in {box['monitor'].folder}" in caplog.text
    finally:
        shutil.rmtree(box["monitor"].output.work, ignore_errors=True)
