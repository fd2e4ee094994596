"""Live monitoring: per-face emotion timelines from cameras, kept up to date for hours.

Each camera runs :class:`CameraMonitor` (in its own Ray actor under
:func:`monitor_cameras`): a :class:`pipeline.streams.LiveSource` reads the camera at its
own pace, keeping only the newest frame; the loop here takes the newest frame at the
``sample_fps`` rate, runs the same stage loop as ``analyze``
(:func:`pipeline.analyze.classify_frames`, then :class:`pipeline.track.ConfirmedFaces`,
so a face's rows, from its first frame, come out once its track confirms) and rolls rows
into Parquet parts::

    OUT/<stream_id>/part-<UTC yyyymmddTHHMMSSZ>-<seq>.parquet   schema.LIVE_DETECTIONS
                    timeline.parquet, faces.parquet             recomputed per part
                    status.json                                 every few seconds

Every file is written atomically; with an ``s3://`` or ``gs://`` output, each file is
written locally and uploaded as one object by :class:`pipeline.uploads.BackgroundUploads`
(each part when it rolls; the loop never waits for storage), and a restarted camera first
fetches its parts to resume from. A stop (Ctrl-C, SIGTERM, ``--duration``) writes the
rows analysed so far as a last part, so no analysed row is lost or written twice. A
later run into the same folder continues the stream's ``frame_index``, face ids, part
numbers and ``timestamp_s`` clock, so rows stay unique per (frame_index, face_id).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from lightemo_video.model.errors import LightEmoError
from lightemo_video.pipeline import aggregate, schema
from lightemo_video.pipeline.analyze import AnalyzeConfig, Stages, classify_frames, smoothing_prior
from lightemo_video.pipeline.destinations import open_output
from lightemo_video.pipeline.detect import score_threshold
from lightemo_video.pipeline.outputs import (
    FACES,
    PART_PREFIX,
    STATUS,
    TIMELINE,
    read_status,
    remove_stale_temps,
    write_json,
)
from lightemo_video.pipeline.plots import plot_timeline, prepare_plotting
from lightemo_video.pipeline.records import FaceDetections
from lightemo_video.pipeline.report import write_camera_report
from lightemo_video.pipeline.sinks import write_table
from lightemo_video.pipeline.smoothing import LiveSmoother
from lightemo_video.pipeline.storage import Location, is_url
from lightemo_video.pipeline.streams import (
    CONNECTING,
    LIVE,
    STOPPED,
    LiveFrame,
    LiveSource,
    StreamConfig,
    backoff_delays,
    mask_url,
    redact,
    stream_id,
)
from lightemo_video.pipeline.track import (
    ConfirmedFaces,
    FaceTracker,
    FollowedBoxes,
    SceneCutDetector,
)
from lightemo_video.pipeline.uploads import BackgroundUploads

log = logging.getLogger(__name__)

SUMMARY_SHARE = 0.1
"""Most of a camera's loop time spent refreshing its summaries, plot and report."""

# What the summaries, timeline.png and report.html need of each row (boxes rank the faces);
# kept in memory for the whole run.
_SUMMARY_COLUMNS = [  # summaries read the smoothed values under these names
    "video_id",
    "face_id",
    "frame_index",
    "timestamp_s",
    "x",
    "y",
    "w",
    "h",
    "det_score",
    *aggregate.PROBS,
    "emotion",
    "confidence",
]


@dataclass(frozen=True)
class MonitorConfig:
    """Settings of one camera's live loop.

    Attributes:
        analyze: detector, model and tracker settings; ``analyze.sample_fps`` is the
            analysed frames per second (0: every frame the camera sends, as long as the
            analysis keeps up). Higher catches brief expressions; each analysed frame
            costs CPU, and frames that arrive while one is analysed are skipped.
        stream: connection timeouts and reconnect backoff.
        roll_seconds: a new Parquet part (and fresh timeline/faces files, plot and
            report, while refreshing them costs at most :data:`SUMMARY_SHARE` of the
            loop) this often. Shorter puts rows on disk sooner (lower lag) but makes
            more files.
        status_every_s: how often ``status.json`` is rewritten.
        keep_ids_after_drop_s: after a reconnect that lost at most this many seconds
            of video, tracks carry on (the outage does not age them), so a face keeps
            its id; after a longer outage every track ends, and a face that comes back
            takes its id again only by its look (re-identification, whose gallery
            outlives the connection), else a new one after the largest used. Longer
            keeps ids through slow reconnects, but a different person in the same spot
            may inherit an id.
    """

    analyze: AnalyzeConfig = field(default_factory=lambda: AnalyzeConfig(sample_fps=5.0))
    stream: StreamConfig = field(default_factory=StreamConfig)
    roll_seconds: float = 60.0
    status_every_s: float = 2.0
    keep_ids_after_drop_s: float = 5.0

    def __post_init__(self) -> None:
        if self.analyze.sample_fps < 0:
            raise LightEmoError(
                "--sample-fps",
                f"must be 0 (every frame) or positive, got {self.analyze.sample_fps}",
            )
        for name in ("roll_seconds", "status_every_s"):
            if getattr(self, name) <= 0:
                raise LightEmoError(
                    f"monitor option {name}", f"must be positive, got {getattr(self, name)}"
                )
        if self.keep_ids_after_drop_s < 0:
            raise LightEmoError(
                "monitor option keep_ids_after_drop_s",
                f"must be 0 or positive, got {self.keep_ids_after_drop_s}",
            )

    @property
    def sample_fps(self) -> float:
        return self.analyze.sample_fps


@dataclass
class _Resume:
    """Where an earlier run into the same folder left off."""

    next_frame: int = 0
    next_face_id: int = 1
    next_seq: int = 0
    started_at: datetime | None = None
    last_timestamp_s: float = 0.0
    summary: pd.DataFrame | None = None


class CameraMonitor:
    """The live loop for one camera: analyse, roll parts, keep ``status.json`` fresh.

    Thread-safe control: :meth:`run` blocks in one thread while :meth:`stop` and
    :meth:`status` may be called from others (a Ray actor with ``max_concurrency``).

    Args:
        url: camera URL (credentials allowed; they never reach files or messages).
        out_dir: outputs go to ``out_dir/<stream_id>/`` (a folder, or an ``s3://`` /
            ``gs://`` prefix).
        config: loop settings.
        name: the stream id (default: :func:`pipeline.streams.stream_id` of ``url``).
        stages: a loaded detector and classifier to reuse (default: loaded here).
        source_factory: builds the live source (tests pass a fake); called as
            ``source_factory(url, stream_config, first_index, origin)``.

    Example:
        >>> CameraMonitor("rtsp://127.0.0.1:8554/live", Path("outputs")).run(duration_s=60)
    """

    def __init__(
        self,
        url: str,
        out_dir: Location,
        config: MonitorConfig | None = None,
        name: str | None = None,
        stages: Stages | None = None,
        source_factory: Callable[..., LiveSource] = LiveSource,
    ) -> None:
        self._url = url
        self.masked_url = mask_url(url)
        self.config = config or MonitorConfig()
        self.stream_id = name or stream_id(url)
        self.output = open_output(out_dir)
        self.folder = self.output.work / self.stream_id
        self._uploads: BackgroundUploads | None = None
        self.stages = stages or Stages(replace(self.config.analyze, batch_frames=1))
        prepare_plotting()  # before frames arrive, not at the first part
        self._source_factory = source_factory
        self._source: LiveSource | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state = CONNECTING
        self._started_at: datetime | None = None
        self._first_index = 0
        self._analysed = self._dropped = self._parts = self._rows = 0
        self._faces_now: list[dict] = []
        self._last_part: str | None = None
        self._lag_s: float | None = None
        self._max_lag_s: float | None = None
        self._analysis_lag_s: float | None = None
        self._fps_in: float | None = None
        self._fps_analysed: float | None = None
        self._rate_mark: tuple[float, int, int] | None = None
        self._error: str | None = None

    # -- control -----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to write its last part and return (returns at once)."""
        self._stop.set()

    def status(self) -> dict:
        """What ``status.json`` holds right now (JSON-ready; the URL is masked)."""
        source = self._source.stats() if self._source is not None else None
        uploads = self._uploads
        waiting, upload_error = (uploads.waiting, uploads.error) if uploads else (0, None)
        with self._lock:
            received = (source.frames_received - self._first_index) if source else 0
            state = self._state if self._state == STOPPED or source is None else source.state
            faces = self._faces_now if state == LIVE else []  # nothing is "now" while down
            return {
                "stream_id": self.stream_id,
                "url": self.masked_url,
                "state": state,
                "started_at": _iso(self._started_at),
                "updated_at": _iso(datetime.now(UTC)),
                "frames_received": received,
                "frames_analysed": self._analysed,
                "frames_dropped": self._dropped,
                "reconnects": source.reconnects if source else 0,
                "failed_attempts": source.failed_attempts if source else 0,
                "last_error": self._error or (source.last_error if source else None),
                "last_error_at": source.last_error_at if source else None,
                "camera_fps": source.fps if source else None,
                "fps_in": _round(self._fps_in),
                "fps_analysed": _round(self._fps_analysed),
                "faces_now": len(faces),
                "emotions_now": list(faces),
                "parts": self._parts,
                "rows": self._rows,
                "last_part": self._last_part,
                "lag_s": _round(self._lag_s, 3),
                "max_lag_s": _round(self._max_lag_s, 3),
                "analysis_lag_s": _round(self._analysis_lag_s, 3),
                "uploads_waiting": waiting,  # object storage: written here, not there yet
                "upload_error": upload_error,
                "sample_fps": self.config.sample_fps,
                "roll_seconds": self.config.roll_seconds,
            }

    # -- the loop ----------------------------------------------------------------------

    def run(self, duration_s: float | None = None) -> dict:
        """Monitor until :meth:`stop` or ``duration_s`` seconds; returns the final status.

        Whatever happens (stop, a deadline, an unexpected error), rows analysed so far
        are written as a last part before this returns or raises.
        """
        cfg = self.config
        self.output.pull(lambda name: name.startswith(f"{self.stream_id}/"))
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.folder)
        resume = _read_resume(self.folder)
        began = time.monotonic()
        now_wall = datetime.now(UTC)
        self._started_at = resume.started_at or now_wall
        elapsed = (now_wall - self._started_at).total_seconds()
        if elapsed < resume.last_timestamp_s:  # the clock is behind the rows written before
            log.warning(
                "%s: the clock is %.0f s behind the last part; timestamp_s carries on "
                "from that part",
                self.stream_id,
                resume.last_timestamp_s - elapsed,
            )
            elapsed = resume.last_timestamp_s
        origin = began - elapsed
        self._first_index = resume.next_frame
        self._summary = resume.summary
        self._timeline: pd.DataFrame | None = None  # of the summary rows before _since
        self._since = -np.inf if resume.summary is not None else np.inf  # rows not summarised
        self._summaries_due = began
        self._seq = resume.next_seq
        deadline = began + duration_s if duration_s else float("inf")
        interval = 1.0 / cfg.sample_fps if cfg.sample_fps > 0 else 0.0

        min_score = score_threshold(cfg.analyze.detector)
        tracking = ConfirmedFaces(FaceTracker(cfg.analyze.tracker, resume.next_face_id, min_score))
        followed = FollowedBoxes(cfg.analyze.tracker, min_score)  # which weak boxes to classify
        scenes = SceneCutDetector(cfg.analyze.scene_cut)
        self._smoother = LiveSmoother(cfg.analyze.smoothing, smoothing_prior(cfg.analyze))  # causal
        self._part: list[FaceDetections] = []
        self._part_smoothed: list[np.ndarray] = []
        self._captured: dict[int, datetime] = {}
        self._held_captured: dict[int, datetime] = {}  # frames whose faces tracking holds
        last: LiveFrame | None = None
        last_index = resume.next_frame - 1
        next_due = began
        next_roll = began + cfg.roll_seconds
        next_status = began
        self._uploads = BackgroundUploads(self.output, self.stream_id)
        self._source = self._source_factory(self._url, cfg.stream, resume.next_frame, origin)
        self._source.start()
        log.info("%s: monitoring into %s", self.masked_url, self.folder)
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                if now >= next_status:
                    self._write_status(now)
                    next_status = now + cfg.status_every_s
                if now >= next_roll:
                    self._flush()
                    next_roll = now + cfg.roll_seconds
                wake = min(deadline, next_status, next_roll)
                if now < next_due:  # pace: at most sample_fps frames per second
                    self._stop.wait(min(next_due, wake) - now)
                    continue
                frame = self._source.newest(last_index, timeout=max(0.0, min(wake - now, 0.5)))
                if frame is None:
                    continue
                next_due = max(next_due + interval, time.monotonic())
                if last is not None and frame.connection != last.connection:
                    outage = frame.timestamp_s - last.timestamp_s - interval
                    if outage <= cfg.keep_ids_after_drop_s:
                        tracking.tracker.pause(max(0.0, outage))
                        followed.pause(max(0.0, outage))
                    else:
                        self._settle(tracking.flush())
                        tracking.tracker.end_tracks()  # their faces wait in the gallery
                        tracking = ConfirmedFaces(tracking.tracker)
                        scenes = SceneCutDetector(cfg.analyze.scene_cut)
                [(_, faces)] = classify_frames([frame], self.stages, followed)
                with self._lock:
                    self._held_captured[frame.frame_index] = frame.captured_at
                self._settle(tracking.push(faces, scene_cut=scenes.is_cut(frame)))
                self._add(frame, tracking.current, last_index)
                last, last_index = frame, frame.frame_index
        except Exception as exc:
            with self._lock:
                self._error = redact(f"{type(exc).__name__}: {exc}", self._url)
            raise
        finally:
            self._source.stop()
            with self._lock:  # frames that arrived after the last analysed one were skipped
                self._dropped += max(0, self._source.stats().frames_received - 1 - last_index)
            try:
                self._settle(tracking.flush())
                self._flush(final=True)
            finally:
                with self._lock:
                    self._state = STOPPED
                self._uploads.flush()  # the rows first: status.json then says what is left
                final = self._write_status(time.monotonic())
                unsent = len(self._uploads.close())
                if final["uploads_waiting"] and not unsent:  # the last try got them through
                    self._uploads = BackgroundUploads(self.output, self.stream_id)
                    final = self._write_status(time.monotonic())
                    unsent = len(self._uploads.close())
                if unsent:  # rows nobody else has: the local copy stays
                    log.warning(
                        "%s: %d file(s) could not be uploaded; they are kept in %s",
                        self.stream_id,
                        unsent,
                        self.folder,
                    )
                else:
                    self.output.close()  # the local copy of an object storage output
        log.info("%s: stopped after %d analysed frames", self.masked_url, self._analysed)
        return final

    def _settle(self, records: list[FaceDetections]) -> None:
        """Moves records that tracking no longer holds into the part being filled, with
        their faces' causally smoothed probabilities (records come out in time order)."""
        dwell = self.config.analyze.smoothing.dwell_s
        with self._lock:
            for record in records:
                captured = self._held_captured.pop(record.frame_index)
                if len(record):
                    self._part.append(record)
                    self._part_smoothed.append(
                        self._smoother.update(record.face_id, record.timestamp_s, record.probs)
                    )
                    self._captured[record.frame_index] = captured
                else:
                    self._smoother.forget_before(record.timestamp_s - 10 * dwell)

    def _add(self, frame: LiveFrame, record: FaceDetections, last_index: int) -> None:
        """Counts an analysed frame; ``record`` holds its confirmed faces (for the status)."""
        probs = record.probs if record.probs is not None else np.zeros((0, 7), np.float32)
        now_faces = [
            {
                "face_id": int(fid),
                "emotion": aggregate.PROBS[int(p.argmax())],
                "confidence": round(float(p.max()), 3),
            }
            for fid, p in zip(record.face_id, probs, strict=True)
        ]
        lag = time.monotonic() - (frame.timestamp_s + self._source.origin)
        with self._lock:
            self._analysed += 1
            self._dropped += max(0, frame.frame_index - last_index - 1)
            self._faces_now = now_faces
            self._analysis_lag_s = lag

    def _flush(self, final: bool = False) -> None:
        """Write the rows analysed since the last part as a new part, then the summaries
        (when due, see :meth:`_write_summaries`; always when ``final``)."""
        with self._lock:
            records, captured, smoothed = self._part, self._captured, self._part_smoothed
            self._part, self._captured, self._part_smoothed = [], {}, []
        if records:
            self._write_part(records, captured, np.concatenate(smoothed))
        if self._since < np.inf and (final or time.monotonic() >= self._summaries_due):
            self._write_summaries()

    def _write_part(
        self, records: list[FaceDetections], captured: dict[int, datetime], smoothed: np.ndarray
    ) -> None:
        table = detection_rows_live(self.stream_id, records, captured, smoothed)
        first = min(captured.values())
        name = f"{PART_PREFIX}{first:%Y%m%dT%H%M%SZ}-{self._seq:06d}.parquet"
        write_table(self.folder / name, table, schema.LIVE_DETECTIONS)
        self._publish(self.folder / name)
        written = datetime.now(UTC)
        self._seq += 1
        with self._lock:
            self._parts += 1
            self._rows += table.num_rows
            self._last_part = name
            self._lag_s = (written - max(captured.values())).total_seconds()
            self._max_lag_s = (written - first).total_seconds()
        new = aggregate.smoothed_view(table.to_pandas())[_SUMMARY_COLUMNS]
        self._summary = (
            new if self._summary is None else pd.concat([self._summary, new], ignore_index=True)
        )
        self._since = min(self._since, float(new["timestamp_s"].min()))

    def _write_summaries(self) -> None:
        """Refresh timeline/faces, ``timeline.png`` and ``report.html`` from every row so
        far. Their cost grows with the history (about 3 s per day of two faces on two
        cores), so they are refreshed with each part only while that takes at most
        :data:`SUMMARY_SHARE` of the loop's time, and less often after."""
        began = time.monotonic()
        self._timeline = aggregate.timeline_since(self._timeline, self._summary, self._since)
        self._since = np.inf
        faces = aggregate.faces(self._summary)
        write_table(self.folder / TIMELINE, self._timeline, schema.TIMELINE)
        write_table(self.folder / FACES, faces, schema.FACES)
        self._publish(self.folder / TIMELINE, self.folder / FACES)
        try:
            plot = plot_timeline(self.folder, self._summary)  # the pictures follow the parts
            self._publish(plot, write_camera_report(self.folder, self._summary, faces))
        except (LightEmoError, OSError, ValueError) as exc:
            log.warning("timeline.png/report.html not updated: %s", exc)
        done = time.monotonic()
        self._summaries_due = done + (done - began) / SUMMARY_SHARE

    def _write_status(self, now: float) -> dict:
        received = self._source.stats().frames_received if self._source else 0
        with self._lock:
            if self._rate_mark is not None and now > self._rate_mark[0]:
                t0, r0, a0 = self._rate_mark
                self._fps_in = (received - r0) / (now - t0)
                self._fps_analysed = (self._analysed - a0) / (now - t0)
            self._rate_mark = (now, received, self._analysed)
        status = self.status()
        self._publish(write_json(self.folder / STATUS, status))
        return status

    def _publish(self, *files: Path) -> None:
        """Hand files just written to the uploads (object storage outputs; nothing to do
        for a local folder)."""
        self._uploads.publish(*files)


def detection_rows_live(
    stream: str, records: list[FaceDetections], captured: dict[int, datetime], smoothed: np.ndarray
) -> pa.Table:
    """Rows in the ``schema.LIVE_DETECTIONS`` layout: ``aggregate.detection_rows`` plus
    ``captured_at`` looked up by frame index in ``captured``."""
    table = aggregate.detection_rows(stream, records, smoothed)
    when = [captured[i] for i in table.column("frame_index").to_pylist()]
    column = pa.array(when, type=schema.LIVE_DETECTIONS.field("captured_at").type)
    return table.append_column(schema.LIVE_DETECTIONS.field("captured_at"), column)


def _read_resume(folder: Path) -> _Resume:
    parts = sorted(folder.glob(f"{PART_PREFIX}*.parquet"))
    if not parts:
        return _Resume()
    table = pa.concat_tables([pq.read_table(p) for p in parts], promote_options="default")
    seqs = [int(p.stem.rpartition("-")[2]) for p in parts if p.stem.rpartition("-")[2].isdigit()]
    started = _status_started_at(folder)
    if started is None and table.num_rows:
        started = table.column("captured_at").to_pandas().min().to_pydatetime()
    frame_index = table.column("frame_index").to_numpy()
    face_id = table.column("face_id").to_numpy()
    return _Resume(
        next_frame=int(frame_index.max()) + 1 if len(frame_index) else 0,
        next_face_id=int(face_id.max()) + 1 if len(face_id) else 1,
        next_seq=max(seqs, default=-1) + 1,
        started_at=started,
        last_timestamp_s=float(table.column("timestamp_s").to_numpy().max(initial=0.0)),
        summary=aggregate.smoothed_view(table.to_pandas())[_SUMMARY_COLUMNS],
    )


def _status_started_at(folder: Path) -> datetime | None:
    try:
        value = (read_status(folder) or {})["started_at"]
        return datetime.fromisoformat(value).astimezone(UTC)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="milliseconds")


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# -- Ray ---------------------------------------------------------------------------------


class CameraActor:
    """One camera in a Ray actor (created with ``max_concurrency`` > 1 so that ``stop``
    and ``status`` run while ``run`` blocks). Loads the detector and model once."""

    def __init__(self, url: str, out_dir: str, config: MonitorConfig, name: str) -> None:
        import cv2

        cv2.setNumThreads(1)
        self.monitor = CameraMonitor(url, out_dir, config, name=name)

    def run(self, duration_s: float | None) -> dict:
        return self.monitor.run(duration_s)

    def stop(self) -> None:
        self.monitor.stop()

    def status(self) -> dict:
        return self.monitor.status()


def assign_stream_ids(urls: list[str]) -> list[str]:
    """``stream_id`` per URL, with ``-2``, ``-3``... added where two URLs share one."""
    ids, seen = [], {}
    for url in urls:
        base = stream_id(url)
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return ids


StatusCallback = Callable[[list[dict]], None]


def monitor_cameras(
    urls: list[str],
    out_dir: Location,
    config: MonitorConfig | None = None,
    duration_s: float | None = None,
    ray_address: str | None = None,
    on_status: StatusCallback | None = None,
    poll_s: float = 1.0,
) -> list[dict]:
    """Monitor cameras, one Ray actor each, until ``duration_s`` or Ctrl-C/SIGTERM.

    Ctrl-C (``KeyboardInterrupt``) or SIGTERM (which ``ray.init`` turns into
    ``SystemExit`` in the driver) asks every camera to write its last part and waits for
    them, then returns normally; a second signal while waiting aborts. A camera whose
    actor fails (a crash, a lost node) is restarted with backoff; it resumes its folder
    where it left off.

    Args:
        urls: camera URLs (credentials allowed).
        out_dir: each camera writes ``out_dir/<stream_id>/``.
        config: per-camera settings.
        duration_s: stop after this many seconds (None: until interrupted).
        ray_address: an existing cluster; default is an embedded local Ray.
        on_status: called on the driver about every ``poll_s`` seconds with one
            status dict per camera, in ``urls`` order.

    Returns:
        The final status of each camera (what its ``status.json`` holds).
    """
    import ray
    from lightemo_video.pipeline.orchestration import init_ray

    config = config or MonitorConfig()
    names = assign_stream_ids(urls)
    out = str(out_dir) if is_url(out_dir) else str(Path(out_dir).resolve())
    notify = on_status or (lambda statuses: None)
    started_here = not ray.is_initialized()
    if started_here:
        init_ray(max(os.cpu_count() or 1, len(urls)), ray_address)
    actor_class = ray.remote(CameraActor).options(num_cpus=1, max_concurrency=4)
    began = time.monotonic()
    deadline = began + duration_s if duration_s else None
    latest: dict[str, dict] = {n: _placeholder(n, u) for n, u in zip(names, urls, strict=True)}
    actors: dict[str, object] = {}
    runs: dict[object, str] = {}
    restarts = {
        n: backoff_delays(config.stream.backoff_initial_s, config.stream.backoff_max_s)
        for n in names
    }
    retry_at: dict[str, float] = {}
    # A camera may spend an open/read timeout and a last part beyond its deadline.
    grace = config.stream.open_timeout_s + config.stream.read_timeout_s + 60

    def launch(name: str, url: str) -> None:
        remaining = None if deadline is None else max(0.1, deadline - time.monotonic())
        actor = actor_class.remote(url, out, config, name)
        actors[name] = actor
        runs[actor.run.remote(remaining)] = name

    try:
        for name, url in zip(names, urls, strict=True):
            launch(name, url)
        while runs or retry_at:
            done, _ = (
                ray.wait(list(runs), num_returns=len(runs), timeout=poll_s) if runs else ([], [])
            )
            if not runs:
                time.sleep(poll_s)
            for ref in done:
                name = runs.pop(ref)
                try:
                    latest[name] = ray.get(ref)
                except Exception as exc:  # the actor crashed or its node was lost
                    reason = _failure_reason(exc, urls[names.index(name)])
                    log.warning("%s: camera worker failed (%s); restarting", name, reason)
                    latest[name] = {**latest[name], "state": "reconnecting", "last_error": reason}
                    if deadline is None or time.monotonic() < deadline - 1:
                        retry_at[name] = time.monotonic() + next(restarts[name])
                    actors.pop(name, None)
            for name in [n for n, t in retry_at.items() if time.monotonic() >= t]:
                del retry_at[name]
                if deadline is None or time.monotonic() < deadline - 1:
                    launch(name, urls[names.index(name)])
            live = [n for n in names if n in actors and n in runs.values()]
            if live:
                try:
                    polled = ray.get([actors[n].status.remote() for n in live], timeout=10)
                    latest.update(zip(live, polled, strict=True))
                except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
                    pass
            notify([latest[n] for n in names])
            if deadline is not None and time.monotonic() > deadline + grace:
                for name in list(actors):  # a camera stuck past its deadline
                    ray.kill(actors.pop(name))
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C; SIGTERM (Ray's driver handler exits)
        log.info("stopping: writing the last part of each camera")
        for actor in actors.values():
            actor.stop.remote()
        for ref, name in list(runs.items()):
            try:
                latest[name] = ray.get(ref, timeout=grace)
            except Exception as exc:
                reason = _failure_reason(exc, urls[names.index(name)])
                latest[name] = {**latest[name], "state": STOPPED, "last_error": reason}
        notify([latest[n] for n in names])
    finally:
        if started_here:
            ray.shutdown()
    return [latest[n] for n in names]


def _placeholder(name: str, url: str) -> dict:
    return {"stream_id": name, "url": mask_url(url), "state": CONNECTING}


def _failure_reason(exc: BaseException, url: str) -> str:
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, LightEmoError):
        return redact(str(cause), url)
    text = str(cause).strip().splitlines()
    return redact(text[0] if text else type(cause).__name__, url)
