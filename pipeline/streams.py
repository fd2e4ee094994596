"""Live camera sources (RTSP and anything else OpenCV's FFmpeg backend opens by URL).

A reader thread grabs frames as fast as the camera sends them and keeps only the newest,
so a slow consumer never builds a backlog: it asks for :meth:`LiveSource.newest` at its
own pace and skips what it missed. A camera that is down at start, drops, or stalls
without closing is reopened with exponential backoff, forever, until :meth:`stop`.

Credentials in URLs (``rtsp://user:pass@host/...``) never leave this module: every URL
in a message, state or error goes through :func:`mask_url`, and errors are
``StreamError(masked_url, reason)``.

Example:
    >>> with LiveSource("rtsp://user:pw@10.0.0.7/stream1") as source:
    ...     frame = source.newest(after=-1, timeout=5.0)  # LiveFrame or None
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote, urlsplit

import cv2
from lightemo_video.model.errors import LightEmoError, StreamError
from lightemo_video.pipeline.records import Frame

log = logging.getLogger(__name__)

MASK = "***"

# Query parameters that carry credentials: cameras' (``?user=admin&password=...``) and
# those of signed S3 and GCS URLs.
SECRET_PARAMS = frozenset(
    {
        "user",
        "username",
        "usr",
        "login",
        "password",
        "pass",
        "passwd",
        "pwd",
        "auth",
        "token",
        "access_token",
        "key",
        "apikey",
        "api_key",
        "secret",
        "signature",
        "sig",
        "pw",
        "authbasic",
        "awsaccesskeyid",
        "googleaccessid",
        "x-amz-credential",
        "x-amz-signature",
        "x-amz-security-token",
        "x-goog-credential",
        "x-goog-signature",
    }
)
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "http": 80, "https": 443}

CONNECTING = "connecting"  # first attempt, nothing received yet
LIVE = "live"  # frames are arriving
RECONNECTING = "reconnecting"  # lost or never reached; retrying with backoff
STOPPED = "stopped"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)$", re.DOTALL)
# ``key=value`` pairs whose key carries a secret: in the query (``?user=a&password=b``) or
# in the path, as some DVRs put them (``/user=admin_password=b_channel=1_stream=0.sdp``);
# a value runs to the next delimiter or the next ``_key=``.
_SECRET_QUERY = re.compile(
    r"((?<=[?&;/_])(?:" + "|".join(sorted(SECRET_PARAMS)) + r")=)"
    r"((?:[^&;#?/_]|_(?![A-Za-z][A-Za-z0-9]*=))*)",
    re.IGNORECASE,
)


def mask_url(url: str) -> str:
    """``url`` with its credentials replaced by ``***``; safe to log, show and store.

    The user-info part (``user:pass@``) becomes ``***@``, and the values of query
    parameters that commonly carry secrets (``password=``, ``token=``, ...) become
    ``***``, in the query or as ``key=value`` pieces of the path. A password containing ``@``
    or ``/`` is masked up to the last ``@``, so a badly escaped URL is over-masked rather than
    leaked.

    Example:
        >>> mask_url("rtsp://admin:s3cret@10.0.0.7:554/Streaming/101")
        'rtsp://***@10.0.0.7:554/Streaming/101'
    """
    url = str(url)
    match = _SCHEME.match(url)
    if match:
        scheme, rest = match.groups()
        if "@" in rest:
            rest = MASK + "@" + rest.rpartition("@")[2]
        url = scheme + rest
    elif "@" in url:  # no scheme: "user:pass@host/path"
        url = MASK + "@" + url.rpartition("@")[2]
    return _SECRET_QUERY.sub(lambda m: m.group(1) + MASK, url)


def redact(text: str, url: str) -> str:
    """``text`` with ``url`` and any piece of its credentials replaced by masked forms.

    For messages that come from third-party code (OpenCV, sockets) and may echo the URL.
    """
    text = str(text).replace(url, mask_url(url))
    for secret in sorted(_secrets(url), key=len, reverse=True):
        if len(secret) >= 3:  # never mask single letters all over a message
            text = text.replace(secret, MASK)
    return text


def _secrets(url: str) -> set[str]:
    """User info, password and secret query values of ``url``, raw and %-decoded."""
    found = set()
    match = _SCHEME.match(url)
    rest = match.group(2) if match else url
    if "@" in rest:
        userinfo = rest.rpartition("@")[0]
        user, _, password = userinfo.partition(":")
        found |= {userinfo, user, password}
    query = url.partition("?")[2].partition("#")[0]
    found |= {v for k, v in parse_qsl(query) if k.lower() in SECRET_PARAMS}
    found |= {m.group(2) for m in _SECRET_QUERY.finditer(url)}
    return {form for s in found if s for form in (s, unquote(s))}


def stream_id(url: str) -> str:
    """A filesystem-safe folder name for a camera: host, port and path, no credentials.

    The port is always spelled out (the scheme's default when the URL has none), so
    ``rtsp://cam/live`` and ``rtsp://cam:554/live`` share a folder. Non-secret query
    parameters (``?channel=2``) are kept, so two channels of one device do not share a
    folder; over-long names are cut and end in a hash of the masked URL.

    Example:
        >>> stream_id("rtsp://admin:pw@192.168.1.20:8554/cam/front?channel=2")
        '192.168.1.20-8554-cam-front-channel-2'
    """
    masked = mask_url(url)
    parts = urlsplit(masked if "://" in masked else "rtsp://" + masked)
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or DEFAULT_PORTS.get(parts.scheme.lower())
    host = (parts.hostname or "camera").replace(":", "_")  # IPv6 [::1] -> __1
    query = "&".join(
        f"{k}={v}" for k, v in parse_qsl(parts.query) if k.lower() not in SECRET_PARAMS
    )
    raw = "-".join(str(p) for p in (host, port, unquote(parts.path), query) if p)
    safe = re.sub(r"[^A-Za-z0-9._]+", "-", raw).strip("-.") or "camera"
    if len(safe) > 80:
        safe = safe[:71].rstrip("-.") + "-" + hashlib.sha1(masked.encode()).hexdigest()[:8]
    return safe


def backoff_delays(
    initial_s: float = 1.0, max_s: float = 30.0, factor: float = 2.0
) -> Iterator[float]:
    """Seconds to wait before each retry: ``initial_s`` multiplied by ``factor`` per
    retry, capped at ``max_s`` (1, 2, 4, 8, 16, 30, 30, ... by default); endless.

    Raises:
        LightEmoError: on a non-positive start, a cap below the start or a factor below 1.
    """
    if initial_s <= 0 or max_s < initial_s or factor < 1:
        raise LightEmoError(
            "reconnect backoff",
            f"needs 0 < initial <= max and factor >= 1, got initial={initial_s}, max={max_s}, "
            f"factor={factor}",
        )
    delay = initial_s
    while True:
        yield delay
        delay = min(delay * factor, max_s)


@dataclass(frozen=True)
class StreamConfig:
    """How a live source connects and when it gives a connection up.

    Attributes:
        open_timeout_s: how long one connection attempt may take. Longer tolerates slow
            cameras and links; shorter notices a dead camera sooner.
        read_timeout_s: a connection that delivers no frame for this long counts as
            stalled and is reopened. Too short reconnects needlessly on a jittery link (a
            reconnect costs a second or more of video); too long leaves the timeline
            frozen while a camera hangs.
        backoff_initial_s: wait before the first retry; doubles per failed attempt.
        backoff_max_s: the longest wait between attempts. Lower finds a camera that comes
            back sooner, at the cost of more connection attempts while it is away.
    """

    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("open_timeout_s", "read_timeout_s"):
            if getattr(self, name) <= 0:
                raise LightEmoError(
                    f"stream option {name}", f"must be positive, got {getattr(self, name)}"
                )
        next(backoff_delays(self.backoff_initial_s, self.backoff_max_s))  # validates


@dataclass(frozen=True, eq=False)
class LiveFrame(Frame):
    """A frame from a live camera.

    Attributes:
        frame_index: count of frames received from this camera before this one, across
            reconnects (never restarts, so it identifies the frame within the stream).
        timestamp_s: seconds since the monitor started for this camera (monotonic clock).
        pixels: uint8 (h, w, 3) BGR, as OpenCV reads them.
        captured_at: UTC wall-clock time when the frame was read.
        connection: 1 for the first successful connection, 2 after the first reconnect...
    """

    captured_at: datetime
    connection: int


@dataclass(frozen=True)
class SourceStats:
    """A consistent snapshot of a live source's counters (safe to show: URL masked)."""

    url: str
    state: str
    frames_received: int
    connections: int  # successful opens
    reconnects: int  # successful opens after the first
    failed_attempts: int  # opens that failed, and connections that gave no frame
    last_error: str | None
    last_error_at: str | None  # UTC ISO time
    fps: float | None  # the camera's declared frame rate


class LiveSource:
    """Reads a live camera on a background thread, keeping only the newest frame.

    Args:
        url: camera URL; may carry credentials, which stay inside this object.
        config: timeouts and backoff.
        first_index: ``frame_index`` of the first frame received (continue an earlier
            run's numbering).
        origin: ``time.monotonic()`` value that maps to ``timestamp_s`` 0 (default: now).
    """

    def __init__(
        self,
        url: str,
        config: StreamConfig | None = None,
        first_index: int = 0,
        origin: float | None = None,
    ) -> None:
        self._url = url
        self.masked_url = mask_url(url)
        self.config = config or StreamConfig()
        self.origin = time.monotonic() if origin is None else origin
        self._received = first_index
        self._state = CONNECTING
        self._connections = self._failed = 0
        self._last_error: StreamError | None = None
        self._last_error_at: datetime | None = None
        self._fps: float | None = None
        self._latest: LiveFrame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LiveSource({self.masked_url!r}, state={self._state!r})"

    def __enter__(self) -> LiveSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the reader thread (returns at once; see :meth:`stats` for progress)."""
        if self._thread is not None:
            return
        _quiet_ffmpeg()
        self._thread = threading.Thread(
            target=self._run, name=f"reader {self.masked_url}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop reading and release the camera; waits for the thread up to ``timeout``
        (default: the read/open timeout, the longest a blocked OpenCV call can take)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            limit = max(self.config.open_timeout_s, self.config.read_timeout_s) + 1.0
            self._thread.join(limit if timeout is None else timeout)
        with self._cond:
            self._state = STOPPED

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def newest(self, after: int, timeout: float) -> LiveFrame | None:
        """The newest frame with ``frame_index > after``, waiting up to ``timeout`` s.

        Returns None when no such frame arrived in time (camera down, stalled, or the
        source was stopped). Frames between ``after`` and the returned one are skipped.
        """
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._stop.is_set()
                    or (self._latest is not None and self._latest.frame_index > after)
                ),
                timeout,
            )
            latest = self._latest
        return latest if latest is not None and latest.frame_index > after else None

    def stats(self) -> SourceStats:
        with self._cond:
            return SourceStats(
                url=self.masked_url,
                state=self._state,
                frames_received=self._received,
                connections=self._connections,
                reconnects=max(0, self._connections - 1),
                failed_attempts=self._failed,
                last_error=None if self._last_error is None else str(self._last_error),
                last_error_at=None
                if self._last_error_at is None
                else self._last_error_at.isoformat(timespec="seconds"),
                fps=self._fps,
            )

    # -- reader thread -----------------------------------------------------------------

    def _run(self) -> None:
        delays = self._delays()
        while not self._stop.is_set():
            cap = self._open()
            if cap is not None:
                try:
                    got_frames = self._read(cap)
                finally:
                    cap.release()
                if got_frames:
                    delays = self._delays()  # a working connection resets the backoff
            if self._stop.is_set():
                break
            delay = next(delays)
            log.info("%s: retrying in %.0f s (%s)", self.masked_url, delay, self._last_error)
            self._stop.wait(delay)

    def _delays(self) -> Iterator[float]:
        return backoff_delays(self.config.backoff_initial_s, self.config.backoff_max_s)

    def _open(self) -> cv2.VideoCapture | None:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.config.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.config.read_timeout_s * 1000),
        ]
        try:
            cap = cv2.VideoCapture(self._url, cv2.CAP_FFMPEG, params)
        except cv2.error as exc:
            self._error(f"OpenCV could not open the stream ({redact(str(exc).strip(), self._url)})")
            return None
        if not cap.isOpened():
            cap.release()
            self._error(_diagnose(self._url, self.config.open_timeout_s))
            return None
        fps = cap.get(cv2.CAP_PROP_FPS)
        with self._cond:
            self._connections += 1
            self._fps = float(fps) if fps and 0 < fps < 1000 else None
        log.info("%s: connected (connection %d)", self.masked_url, self._connections)
        return cap

    def _read(self, cap: cv2.VideoCapture) -> bool:
        """Read until the connection fails or stop; True if any frame arrived."""
        last = time.monotonic()
        got = False
        while not self._stop.is_set():
            ok, image = cap.read()
            now = time.monotonic()
            if not ok or image is None:
                waited = now - last
                if waited >= 0.9 * self.config.read_timeout_s:
                    self._error(f"stream stalled: no frame for {waited:.0f} s")
                else:
                    self._error("stream ended: the camera or the network closed the connection")
                return got
            captured_at = datetime.now(UTC)
            with self._cond:
                frame = LiveFrame(
                    self._received, now - self.origin, image, captured_at, self._connections
                )
                self._received += 1
                self._latest = frame
                if not got:
                    self._state = LIVE
                self._cond.notify_all()
            got, last = True, now
        return got

    def _error(self, reason: str) -> None:
        """Record a failed open or a lost connection; the reader retries after it, so the
        state turns RECONNECTING in the same step (readers never see one without the other)."""
        error = StreamError(self.masked_url, reason)
        with self._cond:
            self._failed += 1
            self._last_error, self._last_error_at = error, datetime.now(UTC)
            if self._state != STOPPED:
                self._state = RECONNECTING
        log.warning("%s", error)


def _diagnose(url: str, timeout_s: float) -> str:
    """Why a camera could not be opened, from a plain TCP connect to its host and port."""
    parts = urlsplit(mask_url(url))
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return "invalid port in the URL"
    if not parts.hostname or not port:
        return "cannot open: not a stream URL OpenCV/FFmpeg understands"
    try:
        with socket.create_connection((parts.hostname, port), timeout=min(timeout_s, 3.0)):
            pass
    except socket.gaierror:
        return f"cannot resolve host '{parts.hostname}'"
    except ConnectionRefusedError:
        return f"connection refused on port {port} (camera off, or wrong port?)"
    except TimeoutError:
        return f"no answer from {parts.hostname}:{port} (camera off or unreachable)"
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            reason = "network unreachable"
        return f"cannot reach {parts.hostname}:{port} ({reason})"
    return (
        "the camera answers but sends no video (wrong path or credentials, or a codec "
        "FFmpeg cannot decode?)"
    )


def _quiet_ffmpeg() -> None:
    """Keep FFmpeg's own console messages (which may echo URLs) out of logs.

    OpenCV reads these once, at the first FFmpeg use in a process, so this runs before
    the first camera opens; a value the user set explicitly wins.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
