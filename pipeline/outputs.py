"""The output layout, and the one way files in it are written.

    OUT/<video_id>/detections.parquet, timeline.parquet, faces.parquet   the tables
                   run.json                                              written last
                   timeline.png, report.html, annotated.mp4              derived pictures
    OUT/<stream_id>/part-<utc>-<seq>.parquet ... status.json             live cameras
    OUT/.staging/<video_id>/                                             a video being redone

Every file appears complete under its final name or not at all: it is written to a hidden
temporary file beside the target (same folder, so the rename stays on one filesystem) and
renamed over it. A video's folder is replaced as a whole: a re-analysis fills a staging
folder and swaps it in only when the video completes, so readers that find ``run.json``
with status ok never see half-written or stale tables.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from lightemo_video.model.errors import InputError, OutputError
from lightemo_video.pipeline import schema

DETECTIONS = "detections.parquet"
TIMELINE = "timeline.parquet"
FACES = "faces.parquet"
RUN = "run.json"
STATUS = "status.json"
TIMELINE_PNG = "timeline.png"
REPORT = "report.html"
ANNOTATED = "annotated.mp4"
PART_PREFIX = "part-"
TEMP_PREFIX = ".tmp-"
STAGING = ".staging"
"""Hidden folder of ``OUT`` holding videos being (re)analysed; one level too deep for
``OUT/*/run.json`` globs, so no reader mistakes a staged video for a finished one."""

TABLES = (DETECTIONS, TIMELINE, FACES)
DERIVED = (TIMELINE_PNG, REPORT, ANNOTATED)


def os_reason(exc: OSError) -> str:
    """The plain reason of a filesystem error ("No space left on device"); pyarrow's
    errors carry the number but a wordier text)."""
    if exc.errno:
        return os.strerror(exc.errno)
    if exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def temp_beside(path: Path) -> Path:
    """Create an empty hidden temporary file beside ``path``, keeping its suffix so tools
    that infer the format from the name (matplotlib, Keras) still do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + path.name, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def commit(tmp: Path, path: Path) -> None:
    """Publish a finished temporary file under its final name (readable by all, as a
    plain ``open`` would have made it), its bytes on disk first, so that even a power cut
    leaves the old file or the new one, never an empty one."""
    os.chmod(tmp, 0o644)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the system lets a folder be synced)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it only when the block succeeds;
    on any error (or Ctrl-C) the temporary file is removed and ``path`` is untouched.

    Example:
        >>> with atomic_path(folder / "timeline.png") as tmp:
        ...     fig.savefig(tmp)
    """
    path = Path(path)
    tmp = temp_beside(path)
    try:
        yield tmp
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` atomically; returns ``path``. A file name's bytes that are
    not UTF-8 are written as ``?``."""
    return write_bytes(path, text.encode("utf-8", "replace"))


def write_json(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON atomically (values JSON lacks become strings)."""
    return write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict:
    """Read a JSON file.

    Raises:
        InputError: missing, unreadable or not JSON.
    """
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable JSON file ({exc})") from None


def read_run(folder: Path) -> dict | None:
    """A video folder's ``run.json``, or None when it has none (or an unreadable one)."""
    try:
        return read_json(Path(folder) / RUN)
    except InputError:
        return None


def read_status(folder: Path) -> dict | None:
    """A camera folder's ``status.json``, or None when it has none (or an unreadable one)."""
    try:
        return read_json(Path(folder) / STATUS)
    except InputError:
        return None


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished video: ``run.json`` says ok and the tables exist."""
    run = read_run(folder)
    return bool(run) and run.get("status") == "ok" and all((folder / t).is_file() for t in TABLES)


def staging_folder(out_dir: Path, video_id: str) -> Path:
    """Where a video's new results are written before they replace ``OUT/<video_id>``;
    emptied first (a killed run may have left files there)."""
    folder = Path(out_dir) / STAGING / video_id
    discard(folder)
    folder.mkdir(parents=True)
    return folder


def discard(folder: Path) -> None:
    """Remove a staging folder and everything in it (nothing there is published)."""
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.parent.rmdir()  # the last one out removes OUT/.staging
    except OSError:
        pass


def swap_in(staged: Path, final: Path) -> None:
    """Make ``staged`` the folder at ``final`` and remove what was there.

    On Linux the two folders are exchanged in one step (``renameat2`` with
    ``RENAME_EXCHANGE``), so ``final`` never goes missing; elsewhere the old folder is
    moved aside first, leaving a moment with no folder (never a mixed one).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and _exchange(staged, final):
        _sync_folder(final.parent)
        discard(staged)  # now holds the previous results
        return
    old = staged.with_name(staged.name + ".old")
    discard(old)
    if final.exists():
        os.replace(final, old)
    os.replace(staged, final)
    _sync_folder(final.parent)
    discard(old)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths; False where the system cannot."""
    libc_name = ctypes.util.find_library("c")
    renameat2 = (
        getattr(ctypes.CDLL(libc_name, use_errno=True), "renameat2", None) if libc_name else None
    )
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
    return done


def remove_stale_temps(folder: str | Path) -> None:
    """Delete temporary files left by a process that was killed mid-write."""
    for stale in Path(folder).glob(TEMP_PREFIX + "*"):
        stale.unlink(missing_ok=True)


def check_writable_folder(folder: str | Path) -> Path:
    """Create ``folder`` if needed and prove a file can be written in it, so an unusable
    output folder is reported up front rather than after minutes of work.

    Raises:
        OutputError: naming the folder and why (a file is in the way, read-only,
            permission denied, no space, ...).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(folder, "is a file, not a folder; give a folder for the outputs")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temp_beside(folder / "probe").unlink()
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in folder.parents if p.exists())
        raise OutputError(folder, f"cannot create it: {blocker} is a file, not a folder") from None
    except OSError as exc:
        raise OutputError(folder, f"cannot write here ({os_reason(exc)})") from None
    return folder


def video_folders(out_dir: Path) -> list[Path]:
    """The analysed video folders of an output folder (each has a run.json)."""
    return sorted(p.parent for p in out_dir.glob(f"*/{RUN}"))


def camera_folders(out_dir: Path) -> list[Path]:
    """The camera folders ``monitor`` wrote into an output folder."""
    return sorted(p.parent for p in out_dir.glob(f"*/{STATUS}") if is_camera(p.parent))


def is_camera(folder: Path) -> bool:
    """A folder ``monitor`` writes: a ``status.json`` and no ``run.json``."""
    return (folder / STATUS).is_file() and not (folder / RUN).is_file()


def read_ok_run(video_dir: Path) -> dict:
    """``run.json`` of a video analysed successfully, else a one-line ``InputError``."""
    if not (video_dir / RUN).is_file():
        raise InputError(video_dir, "not an analysed video folder (no run.json); run analyze first")
    run = read_json(video_dir / RUN)
    if run.get("status") != "ok":
        raise InputError(video_dir, f"analysis failed, nothing to draw ({run.get('reason')})")
    return run


def read_rows(folder: Path, rows: pd.DataFrame | None = None) -> tuple[dict, pd.DataFrame]:
    """Run facts and per-frame rows of an analysed video, or of a monitored camera's
    folder (``status.json`` plus ``part-*.parquet``, refreshed after every part); ``rows``
    given are used instead of reading them."""
    if is_camera(folder):
        if rows is None:
            parts = sorted(folder.glob(f"{PART_PREFIX}*.parquet"))
            rows = (
                pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else None
            )
        if rows is None or rows.empty:
            return {
                "video_id": folder.name,
                "duration_s": 1.0,
            }, schema.DETECTIONS.empty_table().to_pandas()
        return {"video_id": folder.name, "duration_s": float(rows["timestamp_s"].max())}, rows
    run = read_ok_run(folder)
    return run, read_table(folder, DETECTIONS) if rows is None else rows


def read_table(video_dir: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """One Parquet table of a video folder, or a one-line ``InputError`` saying to rerun."""
    try:
        return pd.read_parquet(video_dir / name, columns=columns)
    except (OSError, ValueError) as exc:
        raise InputError(
            video_dir / name, f"missing or unreadable, rerun analyze --force ({exc})"
        ) from None
