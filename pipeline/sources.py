"""Video file sources: probe a file, then yield its frames with presentation times.

Time is each frame's presentation timestamp (PTS) relative to the first displayed frame,
so variable-frame-rate recordings (phones) keep their real time axis. Decoding uses PyAV
(FFmpeg): exact timestamps, seeks by time, rotation metadata, file-like inputs.

A long file is cut into time ranges (:class:`Segment`). Each range is decoded by seeking
to the keyframe before it and decoding forward to its exact first frame; range edges fall
on sampling instants, so a file analysed in segments yields exactly the frames and times
one pass would. Sampling (``sample_fps``) keeps, for each k, the first frame at or after
k / sample_fps seconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import cv2
from lightemo_video.model.errors import InputError
from lightemo_video.pipeline import storage
from lightemo_video.pipeline.pixels import rotate
from lightemo_video.pipeline.records import Frame
from lightemo_video.pipeline.storage import Location

VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".avi",
        ".webm",
        ".mpg",
        ".mpeg",
        ".ts",
        ".wmv",
        ".flv",
        ".3gp",
    }
)
# Counterclockwise display rotation (degrees) -> the OpenCV turn that makes a frame upright.
_UPRIGHT = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


class Source(Protocol):
    """Anything that yields frames in presentation order: a file segment, a live camera."""

    def __iter__(self) -> Iterator[Frame]: ...


@dataclass(frozen=True)
class VideoInfo:
    """What a video file declares about itself, checked by decoding its first frame.

    ``frame_count`` and ``duration_s`` are the container's estimates: they size progress
    bars and segments, never the time axis.
    """

    path: Location  # a local file or a URL (s3://, gs://, http(s)://)
    size_bytes: int
    mtime_ns: int
    fps: float  # average frame rate
    frame_count: int
    duration_s: float
    width: int  # displayed orientation (after rotation)
    height: int
    rotation: int  # degrees counterclockwise a player turns the stored picture
    time_base: Fraction
    origin_pts: int  # PTS of the first displayed frame: time 0
    etag: str | None = None  # an object's version tag (object storage, http)


@dataclass(frozen=True)
class Segment:
    """Frames with ``start_s <= time < stop_s`` (``stop_s`` None: to the end)."""

    index: int
    start_s: Fraction
    stop_s: Fraction | None


def probe_video(path: Location) -> VideoInfo:
    """Open a video (a local file or a URL) and decode its first frame.

    Raises:
        InputError: missing file, empty file, not a video, or no decodable frame.
    """
    if storage.is_url(path):
        stat = storage.stat(str(path))
    else:
        path = Path(path)
        if not path.exists():
            raise InputError(path, "no such file")
        if path.is_dir():
            raise InputError(path, "is a folder, not a video file")
        stat = path.stat()
    shown = storage.display(path)
    if stat.st_size == 0:
        raise InputError(shown, "empty file (0 bytes)")
    with open_container(path) as container:
        if not container.streams.video:
            raise InputError(shown, "not a video file: it has no video stream")
        if container.format.name == "image2" or container.format.name.endswith("_pipe"):
            reason = "a still picture, not a video (pictures: lightemo_video.analyze_image)"
            raise InputError(shown, reason)
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError:
            first = None
        if first is None or _pts(first) is None:
            raise InputError(shown, "corrupt or truncated video: no frame could be decoded")
        time_base = stream.time_base or Fraction(1, 90_000)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        count = stream.frames or (round(duration * fps) if fps else 0)
        rotation = round(first.rotation or 0) % 360
        width, height = first.width, first.height
    if rotation not in (0, *_UPRIGHT):
        rotation = 0  # an odd angle: show the picture as stored
    if rotation in (90, 270):
        width, height = height, width
    if not fps or not math.isfinite(fps):
        fps = count / duration if duration else 0.0
    if fps <= 0:
        raise InputError(shown, "video declares no frame rate")
    return VideoInfo(
        path,
        stat.st_size,
        stat.st_mtime_ns,
        fps,
        max(count, 1),
        duration,
        width,
        height,
        rotation,
        time_base,
        _pts(first),
        getattr(stat, "etag", None),
    )


def plan_segments(info: VideoInfo, segment_frames: int, sample_fps: float) -> list[Segment]:
    """Cut a video into time ranges of about ``segment_frames`` frames.

    Edges are whole multiples of the sampling interval, so the first frame of every range
    is a sampled one and sampling per range equals sampling in one pass. The last range is
    open-ended: the declared duration is only an estimate.
    """
    seconds = Fraction(max(1, segment_frames)) / Fraction(info.fps)
    if sample_fps > 0:
        interval = 1 / Fraction(sample_fps)
        seconds = max(1, math.ceil(seconds / interval)) * interval
    count = max(1, math.ceil(Fraction(info.duration_s) / seconds)) if info.duration_s > 0 else 1
    edges = [k * seconds for k in range(count)]
    return [Segment(k, edges[k], edges[k + 1] if k + 1 < count else None) for k in range(count)]


class VideoFileSource:
    """Decodes one time range of a file, yielding only the sampled frames, upright.

    Each Ray task opens its own source on its own range, so frames never travel between
    processes. ``frame_index`` of a yielded frame counts every frame decoded in the range
    before it (the range's first frame is 0); whoever joins ranges adds the frames of the
    earlier ones. After iteration, ``frames_decoded``, ``end_s`` (where the last frame
    ends) and ``error`` (why decoding stopped early, or None) describe the range.

    Args:
        info: from :func:`probe_video`.
        sample_fps: frames per second to analyse; 0 analyses every frame.
        segment: the range; ``None`` is the whole file.
        threads: decoder threads (1 inside a Ray task, which owns one core).
    """

    def __init__(
        self, info: VideoInfo, sample_fps: float, segment: Segment | None = None, threads: int = 1
    ) -> None:
        self.info = info
        self.sample_fps = Fraction(sample_fps) if sample_fps > 0 else None
        self.segment = segment or Segment(0, Fraction(0), None)
        self.threads = threads
        self.frames_decoded = 0
        self.end_s = float(self.segment.start_s)
        self.error: str | None = None

    def __iter__(self) -> Iterator[Frame]:
        info, segment = self.info, self.segment
        tb = info.time_base
        # Integer arithmetic on PTS per frame: exact, and cheap next to decoding.
        first = info.origin_pts + math.ceil(segment.start_s / tb)
        stop = None if segment.stop_s is None else info.origin_pts + math.ceil(segment.stop_s / tb)
        rate = None if self.sample_fps is None else tb * self.sample_fps  # sampling slots per tick
        with open_container(info.path) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = self.threads
            if self.threads > 1:
                stream.thread_type = "AUTO"
            slot = None
            for pts, frame in self._frames(container, stream):
                if pts < first:
                    continue  # decoded from the keyframe before the range
                if stop is not None and pts >= stop:
                    break
                index = self.frames_decoded
                self.frames_decoded += 1
                ticks = pts - info.origin_pts
                end = ticks + (frame.duration or 0)
                self.end_s = end * tb.numerator / tb.denominator + (
                    0 if frame.duration else 1 / info.fps
                )
                if rate is not None:
                    previous, slot = slot, ticks * rate.numerator // rate.denominator
                    if previous is not None and slot <= previous:
                        continue  # not the first frame at or after a k / sample_fps instant
                yield self._frame(index, ticks * tb.numerator / tb.denominator, frame)

    def _frames(self, container: av.container.InputContainer, stream: av.VideoStream) -> Iterator:
        """(pts, frame) from the keyframe at or before the range start, in presentation
        order; seeks back further when the demuxer's keyframe lands after the start."""
        target = self.info.origin_pts + math.ceil(self.segment.start_s / self.info.time_base)
        back = 0
        while True:
            if self.segment.start_s > 0:
                container.seek(max(target - back, 0), stream=stream, backward=True, any_frame=False)
            decoded = self._decode(container, stream)
            first = next(decoded, None)
            if first is None:
                return
            if (
                first[0] <= target
                or target - back <= self.info.origin_pts
                or self.segment.start_s == 0
            ):
                yield first
                yield from decoded
                return
            back = max(2 * back, round(1 / self.info.time_base))  # one second, then doubling

    def _decode(self, container: av.container.InputContainer, stream: av.VideoStream) -> Iterator:
        last = None
        try:
            for frame in container.decode(stream):
                pts = _pts(frame)
                if pts is None:  # no timestamps at all: count on from the last at the mean rate
                    pts = (
                        self.info.origin_pts
                        if last is None
                        else last + round(1 / (Fraction(self.info.fps) * self.info.time_base))
                    )
                last = pts
                yield pts, frame
        except av.FFmpegError as exc:
            self.error = (
                f"decoding stopped with an error after {self.end_s:.3f} s ({exc.strerror or exc})"
            )

    def _frame(self, index: int, timestamp_s: float, frame: av.VideoFrame) -> Frame:
        """The decoded picture, upright; limited-range 4:2:0 pictures stay I420 (converted on
        demand); full-range ones (VP9, some phones) are converted by FFmpeg, which knows."""
        turn = _UPRIGHT.get(self.info.rotation)
        limited = frame.color_range != _FULL_RANGE
        if (
            frame.format.name == "yuv420p"
            and limited
            and frame.width % 2 == 0
            and frame.height % 2 == 0
        ):
            i420 = frame.to_ndarray()
            return Frame(
                index, timestamp_s, i420 if turn is None else rotate(i420, turn), layout="i420"
            )
        image = frame.to_ndarray(format="bgr24", interpolation="FAST_BILINEAR")
        return Frame(index, timestamp_s, image if turn is None else cv2.rotate(image, turn))


_FULL_RANGE = 2  # FFmpeg's AVCOL_RANGE_JPEG: luma 0-255, not 16-235


@contextmanager
def open_container(location: Location) -> Iterator[av.container.InputContainer]:
    """Open a local file, an object in storage (a seekable handle reading byte ranges)
    or an http(s) URL (FFmpeg's own ranged reads) with PyAV.

    Raises:
        InputError: not something FFmpeg can open, or the storage refused the read.
    """
    with storage.opened(location) as target:
        try:
            container = av.open(target, **storage.av_options(location))
        except (av.FFmpegError, UnicodeDecodeError):
            shown = storage.display(location)
            raise InputError(shown, "not a video file, or a format FFmpeg cannot open") from None
        except OSError as exc:  # a ranged read of an object failed
            raise storage.input_error(exc, str(location)) from None
        with container:
            yield container


def _pts(frame: av.VideoFrame) -> int | None:
    return frame.pts if frame.pts is not None else frame.dts


def find_videos(paths: list[Path]) -> tuple[list[Path], list[InputError]]:
    """Expand files and folders (searched recursively) into video files.

    Returns the videos in a stable order and an error for each path that does not
    exist, is a folder without videos, or cannot be read: a dangling symbolic link or a
    file without read permission, named or found in a folder under a video suffix, is a
    failed input rather than silently skipped. Files named explicitly are kept whatever
    their suffix, so a non-video file gets its own clear error when it is probed.
    """
    videos: list[Path] = []
    errors: list[InputError] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in VIDEO_SUFFIXES and (p.is_file() or not p.exists())
            )
            if not found:
                errors.append(InputError(path, "folder holds no video files"))
        else:
            found = [path]
        for candidate in found:
            problem = unreadable(candidate)
            if problem is None:
                videos.append(candidate)
            else:
                errors.append(InputError(candidate, problem))
    unique = list(dict.fromkeys(p.resolve() for p in videos))
    return unique, errors


def unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be read as an input file (None when it can be opened)."""
    if path.is_symlink() and not path.exists():
        return f"dangling symbolic link (its target {os.readlink(path)} does not exist)"
    if not path.exists():
        return "no such file or folder"
    try:
        with path.open("rb"):
            pass
    except PermissionError:
        return "permission denied: the file cannot be read"
    except IsADirectoryError:
        return None  # probe_video names it
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    return None


def find_inputs(items: Sequence[Location]) -> tuple[list[Location], list[InputError]]:
    """Expand local files and folders (:func:`find_videos`) and URLs (an object, an
    ``s3://``/``gs://`` prefix listed recursively, an ``http(s)://`` file) into videos,
    in the order given; an error for each that is missing or holds no video."""
    videos: list[Location] = []
    errors: list[InputError] = []
    for item in items:
        if storage.is_url(item):
            found, problems = storage.list_videos(str(item), VIDEO_SUFFIXES)
        else:
            found, problems = find_videos([Path(item)])
        videos += found
        errors += problems
    return list(dict.fromkeys(videos)), errors
