"""The Python API: ``lightemo_video.analyze`` on real files with the real pipeline."""

from __future__ import annotations

import shutil

import pytest
from lightemo_video.model.errors import InputError
from lightemo_video.pipeline import schema

import lightemo_video
from tests.conftest import DEMO_CLIP


def test_one_path_returns_tables_in_memory(tmp_path):
    result = lightemo_video.analyze(DEMO_CLIP, sample_fps=2, workers=1)
    assert isinstance(result, lightemo_video.AnalysisResult)
    assert result.status == "ok" and result.folder is None
    assert list(result.detections.columns) == schema.DETECTIONS.names
    assert list(result.timeline.columns) == schema.TIMELINE.names
    assert list(result.faces.columns) == schema.FACES.names
    assert len(result.faces) >= 1 and result.run["video_id"] == "astronaut_demo"
    assert result.run["parameters"]["sample_fps"] == 2


def test_a_list_writes_the_cli_files_and_reports_bad_inputs_alone(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    results = lightemo_video.analyze([DEMO_CLIP, bad, tmp_path / "missing.mp4"], out=tmp_path / "out",
                                     sample_fps=2, workers=1)
    assert [r.status for r in results] == ["ok", "failed", "failed"]
    ok = results[0]
    assert ok.folder == tmp_path / "out" / "astronaut_demo"
    assert {"detections.parquet", "timeline.parquet", "faces.parquet", "run.json"} <= {
        p.name for p in ok.folder.iterdir()
    }
    assert "not a video" in results[1].reason and "no such file" in results[2].reason
    again = lightemo_video.analyze([DEMO_CLIP], out=tmp_path / "out", sample_fps=2, workers=1)
    assert again[0].status == "skipped" and again[0].faces.equals(ok.faces)


def test_a_folder_gives_a_list_with_its_bad_files_reported_alone(tmp_path):
    folder = tmp_path / "recordings"
    (folder / "day2").mkdir(parents=True)
    shutil.copy(DEMO_CLIP, folder / "day1.mp4")
    shutil.copy(DEMO_CLIP, folder / "day2" / "day2.mp4")
    (folder / "day2" / "broken.mp4").write_text("not a video")
    results = lightemo_video.analyze(folder, sample_fps=1, workers=1)
    assert sorted((r.video_id, r.status) for r in results) == [
        ("broken", "failed"), ("day1", "ok"), ("day2", "ok")
    ]
    assert all(len(r.faces) >= 1 for r in results if r.status == "ok")


def test_one_bad_path_raises_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        lightemo_video.analyze(tmp_path / "missing.mp4")
    assert lightemo_video.__version__
