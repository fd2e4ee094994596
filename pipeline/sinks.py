"""Atomic writers: a file appears complete under its final name, or not at all.

Data goes to a hidden temporary file beside the target and is renamed over it only
after a clean close, so a crash, a killed worker or Ctrl-C never leaves a half-written
Parquet or JSON file under a name readers look at.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from lightemo_video.model.errors import OutputError

TEMP_PREFIX = ".tmp-"


class ParquetSink:
    """Stream tables into one Parquet file with a declared schema.

    Example:
        >>> with ParquetSink(path, schema.DETECTIONS) as sink:
        ...     sink.append(table)

    Raises:
        ValueError: on ``append`` of a table whose columns or types differ from the schema.
    """

    def __init__(self, path: str | Path, schema: pa.Schema) -> None:
        self.path = Path(path)
        self.schema = schema
        self.rows = 0
        self._tmp: Path | None = None
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> ParquetSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + self.path.name, dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        try:
            self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        except BaseException:  # Ctrl-C can land here too
            self._tmp.unlink(missing_ok=True)
            raise
        return self

    def append(self, table: pa.Table | pd.DataFrame) -> None:
        """Add rows; ``table`` must match the declared schema (column order may differ)."""
        if isinstance(table, pd.DataFrame):
            table = pa.Table.from_pandas(table, preserve_index=False)
        if set(table.column_names) != set(self.schema.names):
            raise ValueError(
                f"{self.path.name}: columns {sorted(table.column_names)} do not match the "
                f"schema {sorted(self.schema.names)}"
            )
        table = table.select(self.schema.names)
        try:
            table = table.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueError(f"{self.path.name}: rows do not fit the schema ({exc})") from None
        if table.num_rows:
            self._writer.write_table(table)
            self.rows += table.num_rows

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is None:  # never opened, or already closed
            return
        writer, self._writer = self._writer, None
        writer.close()
        if exc_type is None:
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def write_table(path: str | Path, table: pa.Table | pd.DataFrame, schema: pa.Schema) -> int:
    """Write a whole table atomically; returns the number of rows."""
    with ParquetSink(path, schema) as sink:
        sink.append(table)
    return sink.rows


def write_json(path: str | Path, payload: dict) -> None:
    """Write JSON atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + path.name, dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle, indent=2, default=str)
        handle.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


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
        fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX + "probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in folder.parents if p.exists())
        raise OutputError(folder, f"cannot create it: {blocker} is a file, not a folder") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(folder, f"cannot write here ({reason})") from None
    return folder


def remove_stale_temps(folder: str | Path) -> None:
    """Delete temporary files left by a process that was killed mid-write."""
    for stale in Path(folder).glob(TEMP_PREFIX + "*"):
        stale.unlink(missing_ok=True)
