"""The command line as a new user meets it: --version, examples in --help, option errors."""

from __future__ import annotations

from importlib import metadata

import pytest
import typer
from lightemo_video.model.runtime import MODEL_ALIASES
from typer.testing import CliRunner

from lightemo_video.cli import app
from tests.conftest import DEMO_CLIP

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)


def test_version_prints_the_installed_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"lightemo-video {metadata.version('lightemo-video')}"


def test_every_command_is_listed():
    assert set(COMMANDS) >= {"analyze", "bench", "evaluate", "export", "monitor", "report", "train"}


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_help_has_a_runnable_example(command):
    args = ["--help"] if command is None else [command, "--help"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output
    examples = [
        line.strip(" │") for line in result.output.splitlines() if "$ lightemo-video " in line
    ]
    assert examples, result.output
    if command is not None:
        assert all(line.startswith(f"$ lightemo-video {command} ") for line in examples), examples


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_summed_up_in_one_line(command):
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    rows = result.output.splitlines()
    row = next(i for i, line in enumerate(rows) if line.startswith(f"│ {command} "))
    summary = rows[row].strip(" │").removeprefix(command).strip()
    assert summary.endswith("."), summary  # a sentence, not the start of a wrapped one
    assert not rows[row + 1].strip(" │").startswith(" "), rows[row + 1]


def test_unknown_model_lists_the_names_users_type():
    result = runner.invoke(app, ["analyze", str(DEMO_CLIP), "--model", "nope"])
    assert result.exit_code == 1
    assert "nope: no such model" in result.output and "Traceback" not in result.output
    assert all(name in result.output for name in MODEL_ALIASES), result.output
    assert "lightemonet" not in result.output  # file stems are not what --help offers


def test_the_camera_table_shows_files_waiting_to_upload_and_why():
    from rich.console import Console

    from lightemo_video.cli import _camera_table

    status = {
        "stream_id": "cam1",
        "state": "live",
        "parts": 4,
        "rows": 120,
        "uploads_waiting": 3,
        "upload_error": "s3://results/cam1/part-3.parquet: cannot reach the storage endpoint",
    }
    console = Console(record=True, width=300)
    console.print(
        _camera_table(
            [status, {**status, "stream_id": "cam2", "uploads_waiting": 0, "upload_error": None}]
        )
    )
    cam1, cam2 = [
        line for line in console.export_text().splitlines() if "cam" in line and "live" in line
    ]
    assert "4/120 (3 to upload)" in cam1 and "cannot reach the storage endpoint" in cam1
    assert "to upload" not in cam2 and "storage" not in cam2
