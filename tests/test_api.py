"""The Python API: ``lightemo_video.analyze`` on real files with the real pipeline."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from lightemo_video.model.errors import InputError
from lightemo_video.model.labels import EMOTIONS
from lightemo_video.pipeline import schema

import lightemo_video
from tests.conftest import DEMO_CLIP


def test_one_path_returns_tables_in_memory(tmp_path, first_frame):
    result = lightemo_video.analyze(DEMO_CLIP, sample_fps=2, workers=1)
    assert isinstance(result, lightemo_video.AnalysisResult)
    assert result.status == "ok" and result.folder is None
    assert list(result.detections.columns) == schema.DETECTIONS.names
    assert list(result.timeline.columns) == schema.TIMELINE.names
    assert list(result.faces.columns) == schema.FACES.names
    assert len(result.faces) >= 1 and result.run["video_id"] == "astronaut_demo"
    assert result.run["parameters"]["sample_fps"] == 2
    # the same face on the same frame as a picture: the same box and emotion
    row = result.detections.iloc[0]
    [face] = lightemo_video.analyze_image(first_frame).itertuples()
    assert row["frame_index"] == 0 and (face.emotion, row["emotion"]) == ("happy", "happy")
    assert np.allclose(
        [face.x, face.y, face.w, face.h], row[["x", "y", "w", "h"]].astype(float), atol=4
    )


def test_a_list_writes_the_cli_files_and_reports_bad_inputs_alone(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    results = lightemo_video.analyze(
        [DEMO_CLIP, bad, tmp_path / "missing.mp4"], out=tmp_path / "out", sample_fps=2, workers=1
    )
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
        ("broken", "failed"),
        ("day1", "ok"),
        ("day2", "ok"),
    ]
    assert all(len(r.faces) >= 1 for r in results if r.status == "ok")


def test_one_bad_path_raises_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        lightemo_video.analyze(tmp_path / "missing.mp4")
    assert lightemo_video.__version__


@pytest.fixture(scope="module")
def first_frame() -> np.ndarray:
    capture = cv2.VideoCapture(str(DEMO_CLIP))
    ok, frame = capture.read()
    capture.release()
    assert ok
    return frame


def test_a_picture_gives_a_row_per_face_left_to_right(first_frame, tmp_path):
    analyzer = lightemo_video.ImageAnalyzer()
    pair = np.hstack([first_frame, cv2.flip(first_frame, 1)])  # the astronaut and her mirror
    faces = analyzer(pair)
    assert list(faces.columns) == [
        "x",
        "y",
        "w",
        "h",
        "det_score",
        *EMOTIONS,
        "emotion",
        "confidence",
    ]
    assert len(faces) == 2 and faces["x"].is_monotonic_increasing
    assert faces["x"].iloc[1] > first_frame.shape[1] > faces["x"].iloc[0] + faces["w"].iloc[0]
    assert np.allclose(faces[list(EMOTIONS)].sum(axis=1), 1, atol=1e-3)
    assert (faces["confidence"] == faces[list(EMOTIONS)].max(axis=1)).all()
    cv2.imwrite(str(tmp_path / "pair.png"), pair)
    from_file = analyzer(tmp_path / "pair.png")
    gray = analyzer(cv2.cvtColor(pair, cv2.COLOR_BGR2GRAY))
    with_alpha = analyzer(cv2.cvtColor(pair, cv2.COLOR_BGR2BGRA))
    assert from_file.equals(faces) and with_alpha.equals(faces)
    assert gray["emotion"].tolist() == faces["emotion"].tolist() == ["happy", "happy"]


def test_pictures_without_faces_and_bad_pictures(tmp_path):
    analyzer = lightemo_video.ImageAnalyzer()
    empty = analyzer(np.full((240, 320, 3), 128, np.uint8))
    assert empty.empty and "emotion" in empty.columns
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(InputError, match="notes.jpg: not a picture"):
        analyzer(tmp_path / "notes.jpg")
    with pytest.raises(InputError, match="missing.png: no such file"):
        analyzer(tmp_path / "missing.png")
    with pytest.raises(InputError, match="expected a uint8"):
        analyzer(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(lightemo_video.model.errors.LightEmoError, match="unknown detector"):
        lightemo_video.ImageAnalyzer(detector="nope")
