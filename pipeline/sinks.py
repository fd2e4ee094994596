"""Sinks: where analysed rows go. A table appears complete under its final name, or not at all.

Rows stream into a hidden temporary file beside the target (``pipeline.outputs``), renamed
over it only on ``commit``, so a crash, a killed worker or Ctrl-C never leaves a
half-written Parquet file under a name readers look at. The stage loop sees only the
``Sink`` protocol, so another store (object storage, another format) is one more class.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Protocol, runtime_checkable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from lightemo_video.pipeline.outputs import commit, temp_beside


@runtime_checkable
class Sink(Protocol):
    """Receives a video's rows in order; nothing is visible to readers before ``commit``."""

    def append(self, table: pa.Table | pd.DataFrame) -> None:
        """Add rows (matching the sink's declared schema)."""

    def commit(self) -> None:
        """Publish everything appended, as one unit."""


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
        self._tmp = temp_beside(self.path)
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
        try:
            writer.close()
            if exc_type is None:
                commit(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)

    def commit(self) -> None:
        """Close the file and publish it under its final name."""
        self.__exit__(None, None, None)

    def discard(self) -> None:
        """Drop everything appended; the previous file at ``path``, if any, stays."""
        self.__exit__(RuntimeError, None, None)


def write_table(path: str | Path, table: pa.Table | pd.DataFrame, schema: pa.Schema) -> int:
    """Write a whole table atomically; returns the number of rows."""
    with ParquetSink(path, schema) as sink:
        sink.append(table)
    return sink.rows
