"""``lightemo-video export``: rounded text, the format from ``-o``, a whole output folder.

The analysed folders are written by the pipeline's own row builder, aggregates and sinks
from synthetic faces, so these tests need no Ray; ``test_cli_analyze.py`` exports a
folder analysed end to end.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from lightemo_video.pipeline import aggregate, schema
from lightemo_video.pipeline.outputs import write_json
from lightemo_video.pipeline.records import FaceDetections
from lightemo_video.pipeline.sinks import write_table
from typer.testing import CliRunner

from lightemo_video.cli import app

runner = CliRunner()


def write_analysed_video(out, video_id: str, frames: int, seed: int) -> None:
    """``out/<video_id>`` as analyze leaves it: Parquet tables and an ok ``run.json``.

    Times are k * 0.1 s, computed so that some carry float noise (0.30000000000000004).
    """
    rng = np.random.default_rng(seed)
    records = []
    for k in range(frames):
        probs = rng.dirichlet(np.ones(7), size=2).astype(np.float32)
        xyxy = np.array([[10.3, 20.1, 50.7, 60.9], [100, 20, 140, 60]], np.float32)
        records.append(
            FaceDetections(k, k * 0.1, xyxy, np.full(2, 0.9, np.float32), probs, np.array([1, 2]))
        )
    detections = aggregate.detection_rows(video_id, records).to_pandas()
    folder = out / video_id
    write_table(folder / "detections.parquet", detections, schema.DETECTIONS)
    write_table(folder / "timeline.parquet", aggregate.timeline(detections), schema.TIMELINE)
    write_table(folder / "faces.parquet", aggregate.faces(detections), schema.FACES)
    write_json(folder / "run.json", {"video_id": video_id, "status": "ok"})


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """An output folder: two analysed videos and one that failed (no tables)."""
    out = tmp_path_factory.mktemp("out")
    write_analysed_video(out, "alpha", 30, seed=1)
    write_analysed_video(out, "beta", 25, seed=2)
    write_json(
        out / "broken" / "run.json", {"video_id": "broken", "status": "failed", "reason": "x"}
    )
    return out


def _export(*args: str):
    result = runner.invoke(app, ["export", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def _decimals(number: str) -> int:
    return len(number.partition(".")[2].partition("e")[0])


def test_the_fixture_has_float_noise_to_round(out):
    times = pd.read_parquet(out / "alpha" / "detections.parquet")["timestamp_s"]
    assert any(len(repr(t)) > 6 for t in times)  # e.g. 0.30000000000000004


@pytest.mark.parametrize("level", ["frame", "second", "face", "segment"])
def test_csv_has_times_in_milliseconds_and_probabilities_in_6_decimals(out, level):
    text = _export(out / "alpha", "--level", level).stdout
    table = pd.read_csv(io.StringIO(text), dtype=str)
    floats = [c for c in table.columns if table[c].str.fullmatch(r"-?\d+\.\d+").any()]
    assert floats, text[:200]
    for column in floats:
        worst = table[column].map(_decimals).max()
        assert worst <= (3 if column.endswith("_s") else 6), (
            f"{column}: {table[column].tolist()[:5]}"
        )


def test_rounding_keeps_the_values(out):
    stored = pd.read_parquet(out / "alpha" / "detections.parquet")
    back = pd.read_csv(io.StringIO(_export(out / "alpha", "--level", "frame").stdout))
    np.testing.assert_allclose(back["timestamp_s"], stored["timestamp_s"], rtol=0, atol=5e-4)
    np.testing.assert_allclose(back["happy"], stored["happy"], rtol=0, atol=5e-7)


def test_json_is_rounded_too(out):
    text = _export(out / "alpha", "--level", "frame", "--format", "json").stdout
    numbers = re.findall(r'"(\w+)":(-?\d+\.\d+(?:e-?\d+)?)', text.replace(" ", ""))
    assert numbers
    for column, number in numbers:
        assert _decimals(number) <= (3 if column.endswith("_s") else 6), (column, number)
    assert len(json.loads(text)) == 60


@pytest.mark.parametrize(
    "name, flags, reader",
    [
        ("rows.json", [], lambda p: pd.DataFrame(json.loads(p.read_text()))),
        ("rows.JSON", [], lambda p: pd.DataFrame(json.loads(p.read_text()))),
        ("rows.parquet", [], pd.read_parquet),
        ("rows.csv", [], pd.read_csv),
        ("rows.txt", [], pd.read_csv),  # an extension that names no format: CSV as before
        ("rows.json", ["--format", "csv"], pd.read_csv),  # --format wins over the extension
    ],
)
def test_the_format_follows_the_output_extension(out, tmp_path, name, flags, reader):
    target = tmp_path / name
    _export(out / "alpha", "--level", "face", "-o", target, *flags)
    back = reader(target)
    assert back["face_id"].tolist() == [1, 2]


@pytest.mark.parametrize("level, rows", [("frame", 110), ("second", 2 * 3 + 2 * 3), ("face", 4)])
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_an_output_folder_exports_all_its_videos_in_one_table(out, tmp_path, level, rows, suffix):
    target = tmp_path / f"all.{suffix}"
    _export(out, "--level", level, "-o", target)
    back = pd.read_csv(target) if suffix == "csv" else pd.read_parquet(target)
    assert len(back) == rows
    assert back["video_id"].drop_duplicates().tolist() == ["alpha", "beta"]  # failed one left out
    if suffix == "parquet":
        expected = {"frame": schema.DETECTIONS, "second": schema.TIMELINE, "face": schema.FACES}[
            level
        ]
        assert list(back.columns) == expected.names


def test_a_folder_without_analysed_videos_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["export", str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "not an analysed video folder" in result.output and "Traceback" not in result.output


def test_an_export_written_into_the_output_folder_is_not_taken_for_a_video(tmp_path):
    out = tmp_path / "out"
    write_analysed_video(out, "alpha", 30, seed=1)
    write_analysed_video(out, "beta", 25, seed=2)
    _export(out, "--level", "frame", "-o", out / "detections.parquet")  # a careless -o
    _export(out, "--level", "frame", "-o", out / "combined" / "detections.parquet")
    write_analysed_video(out, "gamma", 10, seed=3)  # analysed later
    again = tmp_path / "again.parquet"
    _export(out, "--level", "frame", "-o", again)
    assert pd.read_parquet(again)["video_id"].value_counts().to_dict() == {
        "alpha": 60,
        "beta": 50,
        "gamma": 20,
    }
    _export(out, "--level", "face", "-o", tmp_path / "faces.csv")
    assert len(pd.read_csv(tmp_path / "faces.csv")) == 6


def test_a_video_folder_missing_a_table_is_one_line(tmp_path):
    write_analysed_video(tmp_path, "alpha", 30, seed=1)
    (tmp_path / "alpha" / "faces.parquet").unlink()
    result = runner.invoke(app, ["export", str(tmp_path / "alpha"), "--level", "face"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "faces.parquet: missing or unreadable" in result.output


def test_clock_rounds_before_it_carries():
    from lightemo_video.pipeline.export import clock

    assert [clock(t) for t in (0.04, 59.94, 59.96, 119.967, 3599.97, 3725.3)] == [
        "00:00.0",
        "00:59.9",
        "01:00.0",
        "02:00.0",
        "1:00:00.0",
        "1:02:05.3",
    ]
