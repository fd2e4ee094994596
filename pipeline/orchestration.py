"""Ray orchestration for ``analyze``: segments of many files on many workers.

Each long file is cut into frame ranges; a Ray task decodes and analyses one range
(frames never travel through the object store) and returns its rows. The driver
stitches face ids segment by segment, in order, streaming rows into the video's
Parquet file, so memory is bounded by the number of tasks in flight, not by video
length. A video's files are written in a staging folder, ``run.json`` last, and swapped in
for ``OUT/<video_id>`` as a whole (``pipeline.outputs``), or uploaded to object storage
in an order that keeps that rule (``pipeline.destinations``): an interrupted or failed
re-analysis leaves the previous result as it was.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from lightemo_video.model.errors import InputError, LightEmoError, UnreachableInput
from lightemo_video.pipeline import aggregate, outputs, schema, storage
from lightemo_video.pipeline.aggregate import detection_rows
from lightemo_video.pipeline.analyze import (
    AnalyzeConfig,
    SegmentJoiner,
    SegmentResult,
    Stages,
    analyze_segment,
    model_info,
    smoothing_prior,
)
from lightemo_video.pipeline.destinations import Output, open_output
from lightemo_video.pipeline.memory import keep_freed_memory
from lightemo_video.pipeline.outputs import write_json
from lightemo_video.pipeline.sinks import ParquetSink, Sink, write_table
from lightemo_video.pipeline.smoothing import smooth_detections
from lightemo_video.pipeline.sources import Segment, VideoInfo, plan_segments, probe_video
from lightemo_video.pipeline.storage import Location
from lightemo_video.pipeline.versions import versions

log = logging.getLogger(__name__)


@dataclass
class VideoReport:
    """Outcome of one input video, as shown in the summary table and run.json."""

    video_id: str
    path: Location  # a URL with its credentials masked
    status: str  # "ok", "failed" or "skipped"
    reason: str | None = None
    duration_s: float = 0.0
    faces: int = 0
    frames_analysed: int = 0
    emotions: dict[str, int] = field(default_factory=dict)  # dominant emotion -> faces
    warnings: list[str] = field(default_factory=list)
    # The input as given, credentials and all: never shown or stored, only reopened for
    # this run's pictures (run.json keeps the masked form, which cannot be opened).
    source: Location | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ProgressEvent:
    """Sent to the progress callback after each finished segment or video."""

    video_id: str
    frames_decoded: int = 0
    frames_analysed: int = 0
    faces_seen: int = 0
    finished: VideoReport | None = None


ProgressCallback = Callable[[ProgressEvent], None]


def assign_video_ids(videos: list[Location], out: Output) -> dict[Location, str]:
    """File or object stem per video, made unique when stems clash in this batch or with
    an earlier run's output of a different input (then ``stem-<6 hex of the input>``).
    A video whose earlier run holds the plain stem keeps it, whatever else joins the batch."""
    stems: dict[str, int] = {}
    for video in videos:
        stem = storage.stem_of(video)
        stems[stem] = stems.get(stem, 0) + 1
    ids = {}
    for video in videos:
        vid = storage.stem_of(video)
        shown = str(storage.display(video))
        previous = out.read_run(vid)
        if previous and previous.get("input") == shown:
            ids[video] = vid
            continue
        if stems[vid] > 1 or previous:
            vid = f"{vid}-{hashlib.sha1(shown.encode(errors='surrogateescape')).hexdigest()[:6]}"
        ids[video] = vid
    return ids


def expected_frames(videos: list[Location]) -> int:
    """Declared frames of all readable videos (the progress bar's total)."""
    total = 0
    for video in videos:
        try:
            total += probe_video(video).frame_count
        except LightEmoError:
            pass
    return total


@functools.lru_cache(maxsize=4)
def _worker_stages(config: AnalyzeConfig) -> Stages:
    """One detector and model per worker process, reused by every task it runs."""
    import cv2

    cv2.setNumThreads(1)
    keep_freed_memory()  # a fresh frame buffer per decoded frame: reuse, not page faults
    return Stages(config)


def _segment_task(info: VideoInfo, segment: Segment, config: AnalyzeConfig) -> SegmentResult:
    return analyze_segment(info, segment, _worker_stages(config))


class _VideoJob:
    """Driver-side state of one video: joining segments in order and streaming to its sink.

    Everything is written to a local staging folder (``self.folder``) that is published
    as ``OUT/<video_id>`` (``self.final``) only in ``finish``; ``abort`` throws it away.
    """

    def __init__(self, video_id: str, info: VideoInfo, out: Output, config: AnalyzeConfig) -> None:
        self.video_id, self.info, self.config, self.out = video_id, info, config, out
        self.final = out.where(video_id)
        self.folder = outputs.staging_folder(out.work, video_id)
        self.segments = plan_segments(info, config.segment_frames, config.sample_fps)
        self.pending: dict[int, SegmentResult] = {}
        self.next_segment = 0
        self.joiner = SegmentJoiner(config)
        self.frames_analysed = 0
        self.end_s = 0.0
        self.errors: list[str] = []
        self.analysis_s = 0.0
        self.started = datetime.now(UTC)
        self.began = time.perf_counter()
        self.sink: Sink | None = None  # opened with the first finished segment

    def add(self, index: int, result: SegmentResult) -> None:
        self.pending[index] = result
        while self.next_segment in self.pending:
            done = self.pending.pop(self.next_segment)
            if self.sink is None:
                self.sink = ParquetSink(
                    self.folder / outputs.DETECTIONS, schema.DETECTIONS
                ).__enter__()
            self.sink.append(detection_rows(self.video_id, self.joiner.join(done)))
            self.frames_analysed += len(done.records)
            if done.frames_decoded:  # an empty range past the real end says nothing
                self.end_s = max(self.end_s, done.end_s)
            if done.error:
                self.errors.append(done.error)
            self.analysis_s += done.seconds
            self.next_segment += 1

    @property
    def complete(self) -> bool:
        return self.next_segment == len(self.segments)

    def abort(self) -> None:
        """Drop the unfinished results; ``OUT/<video_id>`` keeps what it had."""
        if isinstance(self.sink, ParquetSink):
            try:
                self.sink.discard()
            except OSError:  # closing a file on a full disk: it is deleted anyway
                pass
        outputs.discard(self.folder)

    def finish(self, base_run: dict) -> VideoReport:
        """Write the summaries and ``run.json``, then publish the video's folder as a unit."""
        self.sink.append(detection_rows(self.video_id, self.joiner.finish()))
        self.sink.commit()
        # Whole tracks are known only now: smooth them (looking ahead) and rewrite the rows.
        detections = pd.read_parquet(self.folder / outputs.DETECTIONS)
        if self.config.smoothing.method != "none" and len(detections):
            detections = smooth_detections(
                detections, self.config.smoothing, smoothing_prior(self.config)
            )
            write_table(self.folder / outputs.DETECTIONS, detections, schema.DETECTIONS)
        write_table(self.folder / outputs.TIMELINE, aggregate.timeline(detections), schema.TIMELINE)
        faces = aggregate.faces(detections)
        write_table(self.folder / outputs.FACES, faces, schema.FACES)
        warnings = [] if len(faces) else ["no faces found"]
        warnings += self.errors
        if truncated(self.info, self.end_s) and not self.errors:
            warnings.append(
                f"decoding ended at {self.end_s:.1f} s of {self.info.duration_s:.1f} s declared; "
                "the file may be truncated"
            )
        report = VideoReport(
            self.video_id,
            storage.display(self.info.path),
            "ok",
            duration_s=self.end_s,
            faces=len(faces),
            frames_analysed=self.frames_analysed,
            emotions=faces["emotion"].value_counts().to_dict(),
            warnings=warnings,
            source=self.info.path,
        )
        run = {
            **base_run,
            "frames_decoded": self.joiner.frames,
            "frame_count": self.joiner.frames,
            "duration_s": round(self.end_s, 3),
            "frames_analysed": self.frames_analysed,
            "faces": len(faces),
            "rows": len(detections),
            "segments": len(self.segments),
            "timings": _timings(self.started, self.began, self.analysis_s),
            "status": "ok",
            "reason": None,
            "warnings": warnings,
        }
        write_json(self.folder / outputs.RUN, run)
        self.out.publish(self.folder, self.video_id)
        return report


def analyze_videos(
    videos: list[Location],
    out_dir: Location | Output,
    config: AnalyzeConfig,
    workers: int | None = None,
    ray_address: str | None = None,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
) -> list[VideoReport]:
    """Analyse video files on Ray; one report per video, failures included.

    Args:
        videos: video files and URLs (see ``pipeline.sources.find_inputs``).
        out_dir: outputs go to ``out_dir/<video_id>/``: a folder, an ``s3://`` or ``gs://``
            prefix, or an open :class:`~lightemo_video.pipeline.destinations.Output`.
        config: analysis parameters.
        workers: CPUs of the embedded local Ray (default: all cores); ignored with
            ``ray_address``.
        ray_address: an existing cluster (``auto``, ``HOST:PORT`` or ``ray://...``).
        force: redo videos whose outputs are complete for the same inputs and parameters.
        on_progress: called on the driver after each finished segment and video.
    """
    use_cluster_token(ray_address)
    import ray

    if not isinstance(out_dir, Output):
        with open_output(out_dir) as out:
            return analyze_videos(videos, out, config, workers, ray_address, force, on_progress)
    out = out_dir
    notify = on_progress or (lambda event: None)
    fingerprint = config.fingerprint()
    ids = assign_video_ids(videos, out)
    reports: list[VideoReport] = []
    jobs: dict[str, _VideoJob] = {}
    bases: dict[str, dict] = {}
    for video in videos:
        vid = ids[video]
        try:
            info = probe_video(video)
        except InputError as exc:  # gone or broken: its old tables must not stay readable;
            kept = isinstance(exc, UnreachableInput)  # merely out of reach: they stay
            reports.append(_failed(out, vid, video, exc.reason, config, fingerprint, notify, kept))
            continue
        base = _base_run(vid, info, config, fingerprint)
        if not force and _is_done(out, vid, base):
            report = VideoReport(
                vid,
                storage.display(video),
                "skipped",
                "already analysed with the same inputs and parameters",
                source=video,
            )
            reports.append(report)
            notify(ProgressEvent(vid, frames_decoded=info.frame_count, finished=report))
            continue
        try:
            jobs[vid] = _VideoJob(vid, info, out, config)
        except OSError as exc:
            reason = f"cannot write {out.where(vid)} ({outputs.os_reason(exc)})"
            reports.append(_failed(out, vid, video, reason, config, fingerprint, notify, keep=True))
            continue
        bases[vid] = base
    if not jobs:
        return reports

    started_here = not ray.is_initialized()
    if started_here:
        init_ray(workers, ray_address)
    task = ray.remote(_segment_task).options(num_cpus=1, max_retries=2, retry_exceptions=False)
    capacity = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
    queue = [(vid, i) for vid, job in jobs.items() for i in range(len(job.segments))]
    in_flight: dict[object, tuple[str, int]] = {}
    failed: set[str] = set()
    try:
        while queue or in_flight:
            while queue and len(in_flight) < capacity:
                vid, i = queue.pop(0)
                if vid in failed:
                    continue
                job = jobs[vid]
                in_flight[task.remote(job.info, job.segments[i], config)] = (vid, i)
            if not in_flight:
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            vid, i = in_flight.pop(ready[0])
            if vid in failed:
                continue
            job = jobs[vid]
            try:
                result = ray.get(ready[0])
            except Exception as exc:  # a task error or a worker lost after retries
                failed.add(vid)
                job.abort()
                reason, input_fault = _task_failure_reason(exc)
                reason = storage.scrub(reason, job.info.path)  # FFmpeg's errors may quote the URL
                reports.append(
                    _failed(
                        out,
                        vid,
                        job.info.path,
                        reason,
                        config,
                        fingerprint,
                        notify,
                        keep=not input_fault,
                    )
                )
                continue
            try:
                job.add(i, result)
                report = job.finish(bases[vid]) if job.complete else None
            except OSError as exc:  # no space, read-only, permission...
                reason = f"cannot write {job.final} ({outputs.os_reason(exc)})"
                failed.add(vid)
                job.abort()
                reports.append(
                    _failed(out, vid, job.info.path, reason, config, fingerprint, notify, keep=True)
                )
                continue
            notify(
                ProgressEvent(
                    vid,
                    frames_decoded=result.frames_decoded,
                    frames_analysed=len(result.records),
                    faces_seen=job.joiner.confident_faces(result),
                )
            )
            if report is not None:
                reports.append(report)
                notify(ProgressEvent(vid, finished=report))
    except BaseException:
        for job in jobs.values():  # also a job interrupted while writing its summaries
            job.abort()
        for ref in in_flight:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished or gone: nothing left to stop
                log.debug("could not cancel %s", ref)
        raise
    finally:
        if started_here:
            ray.shutdown()
    order = {ids[v]: n for n, v in enumerate(videos)}
    return sorted(reports, key=lambda r: order.get(r.video_id, len(order)))


def use_cluster_token(ray_address: str | None) -> None:
    """Send the cluster's auth token when connecting to ``ray_address``.

    Clusters made by ``ray start`` require a token (kept in ``~/.ray/auth_token``), but
    Ray only uses it for an explicit address when ``RAY_AUTH_MODE=token`` is set before
    Ray is imported; this sets it when a token is available and the user set no mode.
    """
    if not ray_address or "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if "RAY_AUTH_TOKEN" in os.environ or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


def init_ray(workers: int | None, ray_address: str | None) -> None:
    """Start an embedded local Ray with ``workers`` CPUs, or connect to ``ray_address``.

    A SIGTERM handler the caller installed stays in place (``ray.init`` would replace it
    with one that exits), so the CLI can treat SIGTERM as Ctrl-C.
    """
    import ray

    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    if ray_address:
        _check_reachable(ray_address)
        # Ship our code (and the shipped weights) to a cluster that may not have it.
        runtime_env = {"py_modules": [str(shippable_package())]}
        try:
            ray.init(
                address=ray_address,
                runtime_env=runtime_env,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise LightEmoError(
                "--ray-address", f"cannot connect to Ray at {ray_address} ({exc})"
            ) from None
    else:
        # "local": always a fresh embedded Ray, even when a `ray start` cluster runs on this
        # machine (plain ray.init() would join it, and refuse num_cpus). Ray turns token
        # authentication on for it and says so on every run: the notice is not the user's.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
            logging.ERROR
        )
        cpus = workers or os.cpu_count() or 1
        temp = None if os.environ.get("RAY_TMPDIR") else _session_folder()  # the user's choice
        ray.init(address="local", num_cpus=cpus, _temp_dir=temp, **quiet)
    if callable(previous_sigterm) and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous_sigterm)  # ray.init's exits: keep the caller's


def _session_folder() -> str:
    """A folder for the embedded Ray's logs and sockets, removed when this process exits
    (Ray leaves its session folders behind: about a megabyte per run, for ever), unless
    ``RAY_TMPDIR`` names where they go. Short, under /tmp: Ray's socket paths must stay
    under 108 characters."""
    return str(_folder_until_exit("lightemo-ray-"))


def _folder_until_exit(prefix: str) -> Path:
    """A new folder under /tmp, removed with everything in it when this process exits."""
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)


def shippable_package() -> Path:
    """The ``lightemo_video`` package as one folder, for Ray to ship to cluster workers.

    Installed, it is that folder. In a source checkout its subpackages are the repository's
    top-level ``pipeline``, ``model`` and ``jobs`` folders: they are copied together (code,
    int8 models and cards) into a temporary folder of the installed layout, removed when
    this process exits (Ray has uploaded it by then).
    """
    import shutil

    import lightemo_video

    root = Path(lightemo_video.__file__).resolve().parent
    if (root / "pipeline").is_dir():
        return root
    target = _folder_until_exit("lightemo-ship-") / "lightemo_video"
    skip = shutil.ignore_patterns("__pycache__", "*.keras", "*.html", "*.pyc")
    shutil.copytree(root, target, ignore=skip)
    for part in ("pipeline", "model", "jobs"):
        shutil.copytree(root.parent / part, target / part, ignore=skip)
    return target


def _check_reachable(ray_address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, not minutes, when a HOST:PORT address does not answer (Ray itself
    retries for a long time)."""
    import socket

    host, _, port = ray_address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms: let Ray resolve them
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LightEmoError(
            "--ray-address", f"cannot connect to Ray at {ray_address} ({reason})"
        ) from None


def _task_failure_reason(exc: Exception) -> tuple[str, bool]:
    """Why a segment task failed, and whether the input itself is at fault (then its old
    results are withdrawn, else they are kept)."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, LightEmoError):
        at_fault = isinstance(cause, InputError) and not isinstance(cause, UnreachableInput)
        return cause.reason, at_fault
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return f"analysis failed: {first_line}", False


def truncated(info: VideoInfo, end_s: float) -> bool:
    """Whether decoding ended clearly before the declared duration: more than 1 s or 5%
    short, and more than two frames (declared durations and counts are estimates)."""
    short = info.duration_s - end_s
    return short > min(1.0, 0.05 * info.duration_s) and short > 2 / info.fps


def _base_run(video_id: str, info: VideoInfo, config: AnalyzeConfig, fingerprint: str) -> dict:
    return {
        "video_id": video_id,
        "input": str(storage.display(info.path)),
        "size_bytes": info.size_bytes,
        "mtime_ns": info.mtime_ns,
        "etag": info.etag,
        "duration_s": round(info.duration_s, 3),
        "fps": round(info.fps, 3),
        "frame_count": info.frame_count,
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "model": model_info(config),
        "detector": {"name": config.detector},
        "versions": versions(),
        "parameters": config.to_dict(),
        "fingerprint": fingerprint,
    }


def _is_done(out: Output, video_id: str, base: dict) -> bool:
    """Whether the video's published result is complete and was made from the same input
    (path or URL, size, modification time, ETag) with the same parameters."""
    if not out.is_complete(video_id):
        return False
    previous = out.read_run(video_id) or {}
    keys = ("input", "size_bytes", "mtime_ns", "etag", "fingerprint")
    return all(previous.get(k) == base[k] for k in keys)


def _failed(
    out: Output,
    video_id: str,
    path: Location,
    reason: str,
    config: AnalyzeConfig,
    fingerprint: str,
    notify: ProgressCallback,
    keep: bool = False,
) -> VideoReport:
    """Report a failed video and record it in ``OUT/<video_id>``.

    With ``keep`` (the input may be fine: it was out of reach, or writing or a worker
    failed) a previous complete result stays as it was. Otherwise the folder is replaced
    by one holding only a failed ``run.json``, so no stale tables remain where readers
    look and the index lists it.
    """
    path = storage.display(path)
    if keep and out.is_complete(video_id):
        report = VideoReport(video_id, path, "failed", f"{reason}; the previous results are kept")
        notify(ProgressEvent(video_id, finished=report))
        return report
    report = VideoReport(video_id, path, "failed", reason)
    run = {
        "video_id": video_id,
        "input": str(path),
        "parameters": config.to_dict(),
        "fingerprint": fingerprint,
        "versions": versions(),
        "status": "failed",
        "reason": reason,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    staged = None
    try:
        staged = outputs.staging_folder(out.work, video_id)
        write_json(staged / outputs.RUN, run)
        out.publish(staged, video_id)
    except OSError as exc:  # the disk that failed the video may refuse this too
        log.warning("%s: failure not recorded (%s)", out.where(video_id), outputs.os_reason(exc))
        if staged is not None:
            outputs.discard(staged)
    notify(ProgressEvent(video_id, finished=report))
    return report


def _timings(started: datetime, began: float, analysis_s: float) -> dict:
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - began, 3),
        "worker_s": round(analysis_s, 3),
    }
