"""Video file sources: probe a file, then yield its sampled frames for a frame range.

Sampling happens here so nothing downstream sees skipped frames: a frame is kept when
it is the first one in its ``1 / sample_fps`` time slot, decided by its global index,
so a file split into segments keeps exactly the frames one pass would keep.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2

from model.errors import InputError
from pipeline.records import Frame

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".3gp"}
)


@dataclass(frozen=True)
class VideoInfo:
    """What a video file declares about itself (container metadata, checked by one decode)."""

    path: Path
    size_bytes: int
    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps else 0.0


def probe_video(path: str | Path) -> VideoInfo:
    """Open a video and check that its first frame decodes.

    Raises:
        InputError: missing file, empty file, not a video, or no decodable frame.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, not a video file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(path, "empty file (0 bytes)")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise InputError(path, "not a video file, or a format OpenCV/FFmpeg cannot open")
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        ok, image = cap.read()
        if not ok or image is None:
            raise InputError(path, "corrupt or truncated video: no frame could be decoded")
    finally:
        cap.release()
    if not fps or not math.isfinite(fps) or fps <= 0:
        raise InputError(path, "video declares no frame rate")
    if count <= 0:
        raise InputError(path, "video declares no frames")
    return VideoInfo(path, size, float(fps), count, width, height)


def keep_frame(frame_index: int, fps: float, sample_fps: float) -> bool:
    """True if ``frame_index`` is the first frame of its sampling slot.

    ``sample_fps`` 0 (or at least the video's fps) keeps every frame.
    """
    if sample_fps <= 0 or sample_fps >= fps:
        return True
    slot = math.floor(frame_index * sample_fps / fps)
    return frame_index == 0 or slot != math.floor((frame_index - 1) * sample_fps / fps)


class VideoFileSource:
    """Decodes frames ``[start, stop)`` of a file, yielding only the sampled ones.

    Each Ray task opens its own source on its own range, so frames never travel
    between processes.

    Args:
        info: from :func:`probe_video`.
        sample_fps: frames per second to analyse; 0 analyses every frame.
        start: first frame index of the range.
        stop: one past the last frame index (``None``: to the end of the file).
    """

    def __init__(
        self, info: VideoInfo, sample_fps: float, start: int = 0, stop: int | None = None
    ) -> None:
        self.info = info
        self.sample_fps = sample_fps
        self.start = start
        self.stop = info.frame_count if stop is None else stop
        self.frames_decoded = 0

    def __iter__(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(str(self.info.path), cv2.CAP_FFMPEG)
        try:
            if self.start:
                cap.set(cv2.CAP_PROP_POS_FRAMES, self.start)
            for index in range(self.start, self.stop):
                if not cap.grab():
                    break  # truncated file: fewer frames than the header declares
                self.frames_decoded += 1
                if not keep_frame(index, self.info.fps, self.sample_fps):
                    continue
                ok, image = cap.retrieve()
                if not ok:
                    break
                yield Frame(index, index / self.info.fps, image)
        finally:
            cap.release()


def find_videos(paths: list[Path]) -> tuple[list[Path], list[InputError]]:
    """Expand files and folders (searched recursively) into video files.

    Returns the videos in a stable order and an error for each path that does not
    exist or is a folder without videos. Files named explicitly are kept whatever their
    suffix, so a non-video file gets its own clear error when it is probed.
    """
    videos: list[Path] = []
    errors: list[InputError] = []
    for path in paths:
        if not path.exists():
            errors.append(InputError(path, "no such file or folder"))
        elif path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
            )
            if not found:
                errors.append(InputError(path, "folder holds no video files"))
            videos.extend(found)
        else:
            videos.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in videos))
    return unique, errors
