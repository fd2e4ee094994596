"""Where finished results are published: a local output folder or an object storage prefix.

A video's files are always written into a local staging folder first
(``pipeline.outputs``); publishing makes them ``OUT/<video_id>/``:

- **Local folder**: the staging folder is swapped in for the old one in one step.
- **Object storage** (``s3://``, ``gs://``) has no rename, so each file is uploaded as one
  object (an object appears whole or not at all) in an order that keeps the completion
  rule: the previous ``run.json`` is withdrawn first, then the tables are uploaded,
  objects the new result lacks are deleted, and ``run.json`` comes last. A reader that
  lists complete videos (``run.json`` with status ok) never sees a half-written one;
  while a rerun publishes (the seconds its uploads take) the video is missing from such a
  listing, and a reader that read the old ``run.json`` just before may read the new
  tables. An interrupted analysis publishes nothing: the previous result stays as it was.

Reports and exports of results in object storage are made from a local copy
(:meth:`Output.pull`); the files they write are uploaded (:meth:`Output.push`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from lightemo_video.model.errors import InputError, LightEmoError, OutputError
from lightemo_video.pipeline import outputs, storage
from lightemo_video.pipeline.storage import Location


class Output:
    """A local output folder; base of the object storage one.

    ``work`` is the local folder holding staging folders and the files reports are drawn
    from: the output folder itself here.
    """

    def __init__(self, folder: Path) -> None:
        self.work = Path(folder)
        self.label = str(folder)

    def __enter__(self) -> Output:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def where(self, video_id: str) -> str:
        """How a video's results are named in messages."""
        return storage.join(self.label, video_id)

    def check_writable(self) -> None:
        """Fail up front, in one line, when nothing can be written there."""
        outputs.check_writable_folder(self.work)

    def read_run(self, video_id: str) -> dict | None:
        """The video's published ``run.json``, or None (none, or unreadable)."""
        return outputs.read_run(self.work / video_id)

    def is_complete(self, video_id: str) -> bool:
        """Whether the video's published result is ok and has all its tables."""
        return outputs.is_complete(self.work / video_id)

    def publish(self, staged: Path, video_id: str) -> None:
        """Make the staging folder ``staged`` the video's results, as one unit."""
        outputs.swap_in(staged, self.work / video_id)

    def folder(self, video_id: str) -> Path:
        """A local folder holding the video's published files."""
        return self.work / video_id

    def pull(self, keep: Callable[[str], bool] | None = None) -> Path:
        """A local folder with the outputs' files (``keep`` filters relative names)."""
        return self.work

    def push(self, files: Iterable[Path]) -> None:
        """Publish files written under ``work`` (reports); nothing to do locally."""

    def shown(self, path: Path) -> str:
        """How a file under ``work`` is named for the user: where it is published."""
        return str(path)

    @contextmanager
    def view(self, keep: Callable[[str], bool] | None = None) -> Iterator[Path]:
        """A local folder with the outputs' files, for readers written for folders; their
        one-line errors name the outputs, not the local copy."""
        folder = self.pull(keep)
        try:
            yield folder
        except LightEmoError as exc:
            if str(self.work) == self.label:
                raise
            local, label = str(self.work), self.label
            source, reason = exc.source.replace(local, label), exc.reason.replace(local, label)
            raise type(exc)(source, reason) from None

    def close(self) -> None:
        """Release the local copy, if any."""


class ObjectOutput(Output):
    """Results under an ``s3://`` or ``gs://`` prefix, written through pyarrow."""

    def __init__(self, url: str) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="lightemo-out-")))
        self.url = url.rstrip("/")
        self.label = str(storage.display(self.url))

    def check_writable(self) -> None:
        probe = storage.join(self.url, f".write-test-{uuid.uuid4().hex[:8]}")
        try:
            storage.write_object(probe, b"")
            storage.delete_objects([probe])
        except (OSError, LightEmoError) as exc:
            reason = storage.reason(exc, self.url)
            raise OutputError(self.label, f"cannot write here ({reason})") from None

    def read_run(self, video_id: str) -> dict | None:
        try:
            data = storage.read_object(storage.join(self.url, video_id, outputs.RUN))
            return json.loads(data) if data is not None else None
        except (OSError, ValueError):
            return None

    def is_complete(self, video_id: str) -> bool:
        run = self.read_run(video_id)
        if not run or run.get("status") != "ok":
            return False
        prefix = storage.join(self.url, video_id)
        try:
            names = set(storage.list_names(prefix))
        except OSError as exc:  # e.g. allowed to read objects but not to list them
            raise OutputError(storage.display(prefix), storage.reason(exc, self.url)) from None
        return all(table in names for table in outputs.TABLES)

    def publish(self, staged: Path, video_id: str) -> None:
        prefix = storage.join(self.url, video_id)
        old = set(storage.list_names(prefix))
        new = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
        if outputs.RUN in old:
            storage.delete_objects([storage.join(prefix, outputs.RUN)])  # withdrawn first
        for name in new:
            if name != outputs.RUN:
                storage.upload(staged / name, storage.join(prefix, name))
        storage.delete_objects(storage.join(prefix, name) for name in sorted(old - set(new)))
        if outputs.RUN in new:
            storage.upload(staged / outputs.RUN, storage.join(prefix, outputs.RUN))  # last
        outputs.swap_in(staged, self.work / video_id)  # the local copy reports are drawn from

    def folder(self, video_id: str) -> Path:
        local = self.work / video_id
        if not (local / outputs.RUN).is_file():
            self._download(storage.join(self.url, video_id), local)
        return local

    def pull(self, keep: Callable[[str], bool] | None = None) -> Path:
        try:
            self._download(self.url, self.work, keep)
        except OSError as exc:
            raise InputError(self.label, storage.reason(exc, self.url)) from None
        return self.work

    def _download(self, url: str, folder: Path, keep: Callable[[str], bool] | None = None) -> None:
        for name in storage.list_names(url):
            target = folder / name
            if (keep is None or keep(name)) and not target.is_file():
                data = storage.read_object(storage.join(url, name))
                if data is not None:
                    outputs.write_bytes(target, data)

    def push(self, files: Iterable[Path]) -> None:
        for path in files:
            try:
                storage.upload(path, self._url_of(path))
            except OSError as exc:
                raise OutputError(self.shown(path), storage.reason(exc, self.url)) from None

    def shown(self, path: Path) -> str:
        return str(storage.display(self._url_of(path)))

    def _url_of(self, path: Path) -> str:
        return storage.join(self.url, Path(path).relative_to(self.work).as_posix())

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def open_output(location: Location) -> Output:
    """The output for a local folder or an ``s3://``/``gs://`` prefix.

    Raises:
        OutputError: an ``http(s)://`` URL (read-only).
    """
    if not storage.is_url(location):
        return Output(Path(location))
    if str(location).split("://", 1)[0].lower() not in storage.OBJECT_SCHEMES:
        reason = "cannot write to http(s) URLs; use a folder, s3:// or gs://"
        raise OutputError(storage.display(location), reason)
    return ObjectOutput(str(location))
