"""Export analysed videos' results as CSV, JSON or Parquet at a chosen level.

The source is one analysed video folder (``OUT/<video_id>``), a whole output folder
(``OUT``): then every analysed video's rows go into one table, told apart by ``video_id``,
or a monitored camera's folder (``OUT/<stream_id>``): its parts so far, summarised the same
way (frame rows keep their ``captured_at``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import pandas as pd
import pyarrow as pa
from lightemo_video.model.errors import InputError
from lightemo_video.pipeline import aggregate, outputs, schema
from lightemo_video.pipeline.outputs import (
    DETECTIONS,
    FACES,
    RUN,
    TIMELINE,
    is_camera,
    is_complete,
    read_ok_run,
    read_rows,
    read_table,
    write_text,
)
from lightemo_video.pipeline.sinks import write_table

TIME_DECIMALS = 3  # milliseconds: finer than any frame interval
PROB_DECIMALS = 6  # well below the int8 model's resolution (1/256)


class Level(StrEnum):
    """Granularity of an export."""

    frame = "frame"  # one row per (analysed frame, face): detections.parquet
    second = "second"  # one row per (face, second): timeline.parquet
    face = "face"  # one row per face track: faces.parquet
    segment = "segment"  # one row per run of one smoothed dominant emotion


class Format(StrEnum):
    csv = "csv"
    json = "json"
    parquet = "parquet"


_FILES = {
    Level.frame: DETECTIONS,
    Level.second: TIMELINE,
    Level.face: FACES,
}
_SCHEMAS = {
    Level.frame: schema.DETECTIONS,
    Level.second: schema.TIMELINE,
    Level.face: schema.FACES,
    Level.segment: schema.SEGMENTS,
}


def choose_format(fmt: Format | None, output: Path | None) -> Format:
    """``fmt`` when given, else the one ``output``'s extension names, else CSV; so
    ``-o faces.json`` writes JSON without also saying ``--format json``."""
    if fmt is not None:
        return fmt
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    return Format(suffix) if suffix in Format.__members__ else Format.csv


def video_folders(path: Path) -> list[Path]:
    """The analysed video folders an export reads: ``path`` itself when it is one, else
    its subfolders whose ``run.json`` says the analysis finished, by name (failed videos,
    cameras and stray files are not videos).

    Raises:
        InputError: ``path`` is neither, or a video folder whose analysis failed.
    """
    if (path / RUN).is_file():
        read_ok_run(path)
        return [path]
    if is_camera(path):
        return [path]
    folders = [f for f in outputs.video_folders(path) if is_complete(f)] if path.is_dir() else []
    if not folders:
        raise InputError(
            path,
            "not an analysed video folder (no run.json), a camera folder (no status.json) "
            "nor an output folder of analysed videos; run analyze or monitor first",
        )
    return folders


def load_level(path: Path, level: Level) -> pd.DataFrame:
    """The table of ``level`` for an analysed video folder (``OUT/<video_id>``), or of all
    videos of an output folder (``OUT``) in one table."""
    tables = [_load_video(folder, level) for folder in video_folders(path)]
    return tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)


def _load_video(video_dir: Path, level: Level) -> pd.DataFrame:
    if is_camera(video_dir):
        return _camera_level(video_dir, level)
    if level is Level.segment:
        return aggregate.segments(read_table(video_dir, DETECTIONS))
    return read_table(video_dir, _FILES[level])


def _camera_level(camera_dir: Path, level: Level) -> pd.DataFrame:
    """A camera's table of ``level``, computed from its parts (its own summary files
    may lag the newest part while the camera runs)."""
    try:
        _, rows = read_rows(camera_dir)
    except (OSError, ValueError) as exc:
        raise InputError(camera_dir, f"a part is missing or unreadable ({exc})") from None
    if level is Level.frame:
        return rows
    summarise = {
        Level.second: aggregate.timeline,
        Level.face: aggregate.faces,
        Level.segment: aggregate.segments,
    }
    return summarise[level](rows)


def _schema_of(table: pd.DataFrame, level: Level) -> pa.Schema:
    """The schema an export of ``level`` is written with (camera frames: with the UTC
    ``captured_at`` of each frame)."""
    if level is Level.frame and "captured_at" in table.columns:
        return schema.LIVE_DETECTIONS
    return _SCHEMAS[level]


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """Times (``*_s`` columns) to the millisecond and every other float to 6 decimals, so
    text exports read ``1.24`` rather than ``1.2400000000000002`` (or float32's
    ``0.83921569``) and stay small; Parquet keeps the stored values."""
    floats = table.select_dtypes("floating").columns
    decimals = {c: TIME_DECIMALS if c.endswith("_s") else PROB_DECIMALS for c in floats}
    return table.astype({c: "float64" for c in floats}).round(decimals)


def clock(seconds: float) -> str:
    """``MM:SS.s`` (or ``H:MM:SS.s``) for people reading a spreadsheet."""
    tenths = round(float(seconds) * 10)  # rounded first: 59.96 s is 01:00.0, not 00:60.0
    minutes, secs = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    shown = f"{minutes:02d}:{secs // 10:02d}.{secs % 10}"
    return f"{hours}:{shown}" if hours else shown


def export(path: Path, fmt: Format | None, level: Level, output: Path | None) -> str | None:
    """Write the export of a video folder or output folder ``path`` to ``output``
    atomically, or return it as text when ``output`` is None (CSV and JSON only).

    ``fmt`` None follows ``output``'s extension (``.csv``, ``.json``, ``.parquet``).
    """
    fmt = choose_format(fmt, output)
    table = load_level(path, level)
    if fmt is Format.parquet:
        if output is None:
            raise InputError("-o", "Parquet is binary: give an output file with -o FILE")
        write_table(output, table, _schema_of(table, level))
        return None
    table = rounded(table)
    if level is Level.segment:
        table = table.assign(start=table["start_s"].map(clock), end=table["end_s"].map(clock))
    text = (
        table.to_csv(index=False)
        if fmt is Format.csv
        else table.to_json(orient="records", indent=1) + "\n"
    )
    if output is None:
        return text
    write_text(output, text)
    return None
