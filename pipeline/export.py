"""Export one analysed video's results as CSV, JSON or Parquet at a chosen level."""

from __future__ import annotations

import os
import tempfile
from enum import Enum
from pathlib import Path

import pandas as pd

from model.errors import InputError
from pipeline import aggregate, schema
from pipeline.sinks import write_table


class Level(str, Enum):
    """Granularity of an export."""

    frame = "frame"  # one row per (analysed frame, face): detections.parquet
    second = "second"  # one row per (face, second): timeline.parquet
    face = "face"  # one row per face track: faces.parquet
    segment = "segment"  # one row per run of one smoothed dominant emotion


class Format(str, Enum):
    csv = "csv"
    json = "json"
    parquet = "parquet"


_FILES = {Level.frame: "detections.parquet", Level.second: "timeline.parquet", Level.face: "faces.parquet"}
_SCHEMAS = {
    Level.frame: schema.DETECTIONS,
    Level.second: schema.TIMELINE,
    Level.face: schema.FACES,
    Level.segment: schema.SEGMENTS,
}


def load_level(video_dir: Path, level: Level) -> pd.DataFrame:
    """The table of ``level`` for an analysed video folder (``outputs/<video_id>``)."""
    if not (video_dir / "detections.parquet").is_file():
        raise InputError(video_dir, "not an analysed video folder (no detections.parquet); run analyze first")
    if level is Level.segment:
        return aggregate.segments(pd.read_parquet(video_dir / "detections.parquet"))
    return pd.read_parquet(video_dir / _FILES[level])


def clock(seconds: float) -> str:
    """``MM:SS.s`` (or ``H:MM:SS.s``) for people reading a spreadsheet."""
    minutes, secs = divmod(float(seconds), 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes:02d}:{secs:04.1f}"


def export(video_dir: Path, fmt: Format, level: Level, output: Path | None) -> str | None:
    """Write the export to ``output`` atomically, or return it as text when ``output`` is
    None (CSV and JSON only)."""
    table = load_level(video_dir, level)
    if fmt is Format.parquet:
        if output is None:
            raise InputError("-o", "Parquet is binary: give an output file with -o FILE")
        write_table(output, table, _SCHEMAS[level])
        return None
    if level is Level.segment:
        table = table.assign(start=table["start_s"].map(clock), end=table["end_s"].map(clock))
    text = (
        table.to_csv(index=False)
        if fmt is Format.csv
        else table.to_json(orient="records", indent=1, double_precision=6) + "\n"
    )
    if output is None:
        return text
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + output.name, dir=output.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, output)
    return None
