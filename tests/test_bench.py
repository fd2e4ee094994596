"""``lightemo-video bench`` on the bundled clip: real decoding, real Ray, real model."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pipeline.cli import app
from tests.conftest import DEMO_CLIP

runner = CliRunner()


def test_bench_times_the_chosen_model_and_records_it(tmp_path):
    result = runner.invoke(app, ["bench", "--clip", str(DEMO_CLIP), "--out", str(tmp_path), "--workers", "1",
                                 "--model", "paper", "--tta", "none"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["model"] == "lightemonet" and report["tta"] == "none"
    assert report["frames"] == report["analyze"]["frames_analysed"] == 200  # every frame
    assert report["decode_only_frames_per_s"] > 0 and report["analyze"]["frames_per_s"] > 0
    # the astronaut 0-4 s and 5.5-8 s, a coffee cup between: a face in 6.5 of 8 s (81%)
    assert 0.7 < report["analyze"]["frames_with_face"] < 0.9
    assert report["machine"]["cpus"] >= 1


def test_bench_rejects_an_unknown_model_in_one_line(tmp_path):
    result = runner.invoke(app, ["bench", "--clip", str(DEMO_CLIP), "--out", str(tmp_path), "--model", "huge"])
    assert result.exit_code == 1 and "huge" in result.output and "no such model" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "bench.json").exists()
