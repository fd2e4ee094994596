"""The labelled video benchmark: deterministic clips that the real detector sees, and
scores from the real analyze path (Ray, int8 model)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from lightemo_video.jobs.video_benchmark import TRUTH_FILE, BenchmarkSpec, build_benchmark, match
from typer.testing import CliRunner

from lightemo_video.cli import app
from tests.conftest import shared_path

SPEC = replace(BenchmarkSpec(), clips=2, seconds=4.0, max_people=2)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    data = shared_path("datasets", "fer2013")
    return build_benchmark(data, tmp_path_factory.mktemp("bench") / "test", "test", SPEC), data


def test_clips_and_truth_follow_from_the_seed(bench, tmp_path):
    folder, data = bench
    truth = pd.read_parquet(folder / TRUTH_FILE)
    assert sorted(p.name for p in folder.glob("clip-*.mp4")) == ["clip-000.mp4", "clip-001.mp4"]
    assert {
        "video_id",
        "frame_index",
        "timestamp_s",
        "face",
        "x",
        "y",
        "w",
        "h",
        "label",
        "label_ferplus",
        "image",
    } <= set(truth.columns)
    assert truth["image"].str.contains("PublicTest").all()  # the test split draws PublicTest faces
    assert truth["w"].between(30, 200).all() and truth["frame_index"].max() == 39
    held = truth.sort_values("frame_index").groupby(["video_id", "face"])["image"]
    assert (held.apply(lambda s: (s != s.shift()).sum()) <= 5).all()  # expressions held 1-4 s
    again = pd.read_parquet(build_benchmark(data, tmp_path / "again", "test", SPEC) / TRUTH_FILE)
    pd.testing.assert_frame_equal(truth, again)


def test_evaluate_on_video_scores_detections_and_true_boxes(bench, tmp_path):
    folder, _ = bench
    out = tmp_path / "scores"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--video-benchmark",
            str(folder),
            "--split",
            "test",
            "--model",
            "fast",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    detection = metrics["detection"]
    assert (
        detection["recall"] >= 0.6 and detection["precision"] >= 0.9
    )  # drawn as people, faces are found
    for name in ("none", "hmm-1s"):
        for where in ("pipeline", "oracle_boxes"):
            scores = metrics[name][where]
            assert 0 < scores["label"]["macro_f1"] <= 1 and scores["label_ferplus"]["faces"] > 0
    assert (
        metrics["hmm-1s"]["pipeline"]["label_changes_per_s"]
        < metrics["none"]["pipeline"]["label_changes_per_s"]
    )
    assert metrics["none"]["oracle_boxes"]["label"]["faces"] == len(
        pd.read_parquet(folder / TRUTH_FILE)
    )
    assert "face recall" in result.output


def test_matching_pairs_each_true_face_with_at_most_one_detection():
    truth = pd.DataFrame(
        {
            "video_id": "v",
            "frame_index": [0, 0],
            "face": [1, 2],
            "x": [0.0, 100.0],
            "y": [0.0, 0.0],
            "w": [50.0, 50.0],
            "h": [50.0, 50.0],
        }
    )
    found = pd.DataFrame(
        {
            "video_id": "v",
            "frame_index": [0, 0, 0],
            "face_id": [7, 8, 9],
            "x": [2.0, 4.0, 300.0],
            "y": [1.0, 0.0, 0.0],
            "w": [50.0] * 3,
            "h": [48.0] * 3,
        }
    )
    pairs = match(truth, found)
    assert len(pairs) == 1 and pairs.loc[0, "face"] == 1 and pairs.loc[0, "face_id"] == 7
    assert np.isclose(pairs.loc[0, "x"], 0.0)  # the truth's box is kept


def test_id_scores_count_switches_and_the_best_pairing():
    from lightemo_video.jobs.video_benchmark import detection_scores

    box = {"x": 0.0, "y": 0.0, "w": 50.0, "h": 50.0}
    truth = pd.DataFrame([{"video_id": "v", "frame_index": i, "face": 1, **box} for i in range(10)])
    ids = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2]  # one switch: the best pairing keeps 6 of 10 rows
    found = pd.DataFrame(
        [{"video_id": "v", "frame_index": i, "face_id": f, **box} for i, f in enumerate(ids)]
    )
    scores = detection_scores(truth, found)
    assert scores["id_switches"] == 1 and scores["recall"] == 1.0
    assert scores["idf1"] == pytest.approx(2 * 6 / 20)
