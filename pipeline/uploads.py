"""Uploads that never hold up a live camera: files go to object storage from a thread of
their own.

A camera's loop writes its parts, summaries and status locally and hands them to
:class:`BackgroundUploads`. An unreachable bucket costs a connection timeout per file and
try; were the uploads made in the loop, the camera would stop being analysed for as long as
the bucket is away. Here the loop carries on and the files wait (each file's newest version
is sent once); a failed round is tried again after a pause, each file leaving the queue as
soon as it is sent, so the bucket catches up when it comes back.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from lightemo_video.model.errors import LightEmoError
from lightemo_video.pipeline.destinations import Output

log = logging.getLogger(__name__)


class BackgroundUploads:
    """Publishes files to an output in the background, in the order first handed over.

    Args:
        output: where the files go (:meth:`Output.push`; a local folder needs nothing).
        name: who is uploading, for log lines (e.g. the stream id).
        retry_s: pause after a failed round before the next try.
    """

    def __init__(self, output: Output, name: str, retry_s: float = 5.0) -> None:
        self._output = output
        self._name = name
        self._retry_s = retry_s
        self._waiting: dict[Path, int] = {}  # file -> how many times it was handed over
        self._error: str | None = None
        self._failed_rounds = 0
        self._hurry = False  # cut a pause after a failed round short
        self._closing = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"uploads-{name}", daemon=True)
        self._thread.start()

    def publish(self, *files: Path) -> None:
        """Send these files (just written, complete) as soon as the output takes them."""
        with self._changed:
            for file in files:
                self._waiting[file] = self._waiting.get(file, 0) + 1
            self._changed.notify_all()

    @property
    def waiting(self) -> int:
        """How many files are written locally but not yet uploaded."""
        with self._changed:
            return len(self._waiting)

    @property
    def error(self) -> str | None:
        """Why the last round failed, while files wait because of it (else None)."""
        with self._changed:
            return self._error if self._waiting else None

    def flush(self, timeout_s: float = 30.0) -> int:
        """Try now to send what waits; returns how many files still wait once all were
        sent, a round failed, or ``timeout_s`` passed."""
        with self._changed:
            failed = self._failed_rounds
            self._hurry = True
            self._changed.notify_all()
            self._changed.wait_for(
                lambda: not self._waiting or self._failed_rounds > failed, timeout_s
            )
            return len(self._waiting)

    def close(self, timeout_s: float = 30.0) -> list[Path]:
        """One last try for what waits (up to ``timeout_s``); returns the files not sent."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout_s)
        with self._changed:
            return list(self._waiting)

    def _run(self) -> None:
        last_try = False
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting or self._closing)
                if not self._waiting or last_try:
                    return
                last_try = self._closing  # after a close: one more round
                batch = dict(self._waiting)
            for file, times in batch.items():
                try:
                    self._output.push([file])
                except Exception as exc:  # a thread of its own: nothing above it would hear
                    self._failed(file, times, exc)
                    break
                self._sent(file, times)

    def _sent(self, file: Path, times: int) -> None:
        with self._changed:
            if self._waiting.get(file) == times:  # not handed over again since
                del self._waiting[file]
            if self._error is not None:
                log.info("%s: uploads work again", self._name)
                self._error = None
            self._changed.notify_all()

    def _failed(self, file: Path, times: int, exc: Exception) -> None:
        """Note a failed round, then pause before the next (a flush or close cuts it short).
        The file that failed goes to the back of the queue, so one that keeps failing
        does not hold up the others."""
        reason = str(exc) if isinstance(exc, LightEmoError) else f"{type(exc).__name__}: {exc}"
        with self._changed:
            if self._error is None:  # one line per outage, not one per try
                log.warning(
                    "%s: upload failed, tried again every %g s: %s",
                    self._name,
                    self._retry_s,
                    reason,
                )
            self._error = reason
            if self._waiting.get(file) == times:
                self._waiting[file] = self._waiting.pop(file)
            self._failed_rounds += 1
            self._hurry = False
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._hurry or self._closing, self._retry_s)
            self._hurry = False
