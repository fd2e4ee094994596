"""``lightemo-video evaluate`` on a small labelled split (real FER2013 test images)."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
from lightemo_video.jobs.evaluate import classification_metrics
from lightemo_video.model.labels import EMOTIONS
from typer.testing import CliRunner

from lightemo_video.cli import app
from tests.conftest import shared_path


def test_classification_metrics_by_hand():
    y_true = np.array([0, 0, 3, 3, 3, 6])
    y_pred = np.array([0, 3, 3, 3, 6, 6])
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == round(4 / 6, 4)
    assert m["per_class"]["happy"] == {
        "precision": round(2 / 3, 4),
        "recall": round(2 / 3, 4),
        "f1": round(2 / 3, 4),
        "support": 3,
    }
    assert m["per_class"]["neutral"]["precision"] == 0.5 and m["per_class"]["disgust"]["f1"] == 0.0
    assert m["confusion_matrix"][3] == [0, 0, 0, 2, 0, 0, 1]


def small_split(folder, per_class):
    """A class-folder split of ``per_class`` real FER2013 test images per class."""
    test = shared_path("datasets", "fer2013", "test")
    for name in EMOTIONS:
        (folder / name).mkdir(parents=True)
        for image in sorted((test / name).glob("*.jpg"))[:per_class]:
            shutil.copy(image, folder / name / image.name)
    return folder


def test_evaluate_writes_metrics_plot_and_report(tmp_path):
    split = small_split(tmp_path / "split", 6)
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(split),
            "--model",
            "plus",
            "--out",
            str(out),
            "--latency-runs",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 42 and metrics["parameters"] == 2_651_623
    assert set(metrics["formats"]) == {"keras", "tflite"}
    for key in (
        "accuracy",
        "macro_f1",
        "per_class",
        "confusion_matrix",
        "latency",
        "throughput_images_per_s",
    ):
        assert key in metrics
    assert sum(map(sum, metrics["confusion_matrix"])) == 42
    assert set(metrics["latency"]) == {"runs", "mean_ms", "median_ms", "p95_ms"}
    assert metrics["size_bytes_by_format"]["keras"] > metrics["size_bytes_by_format"]["tflite"]
    assert metrics["machine"]["cpus"] >= 1 and metrics["machine"]["cpu"]  # latency says where
    assert cv2.imread(str(out / "confusion_matrix.png")) is not None
    assert "training" in (out / "model_report.html").read_text().lower()
    assert "happy" in result.output and "macro-F1" in result.output


def test_evaluate_bad_data_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no such file or folder" in result.output
    assert "Traceback" not in result.output


def test_evaluate_on_the_validation_slice_with_flip_averaging(tmp_path):
    from lightemo_video.jobs.evaluate import validation_slice
    from lightemo_video.model.data import load_faces, stratified_split
    from lightemo_video.model.runtime import resolve_model

    train = small_split(tmp_path / "train", 20)
    faces = load_faces(train)
    _, expected = stratified_split(faces.labels, 0.1, seed=42)  # the plus recipe's slice
    chosen = validation_slice(train, resolve_model("plus"))
    np.testing.assert_array_equal(chosen.images, faces.subset(expected).images)

    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(train),
            "--validation",
            "--tta",
            "flip",
            "--model",
            "plus",
            "--out",
            str(out),
            "--latency-runs",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == len(expected) == 14
    assert {m["test_time_augmentation"] for m in metrics["formats"].values()} == {"flip"}
    assert "test-time augmentation: flip" in result.output


def test_validation_needs_a_card_that_names_its_recipe(tmp_path):
    """A file whose JSON beside it is not a model card (a teacher's report) is one line."""
    from lightemo_video.model.runtime import WEIGHTS_DIR

    model = tmp_path / "teacher.int8.tflite"
    shutil.copy(WEIGHTS_DIR / "lightemonet-ferplus.int8.tflite", model)
    (tmp_path / "teacher.json").write_text(json.dumps({"architecture": "resnet"}))
    result = CliRunner().invoke(
        app,
        ["evaluate", "--data", str(small_split(tmp_path / "train", 3)), "--validation"]
        + ["--model", str(model), "--out", str(tmp_path / "eval")],
    )
    assert result.exit_code == 1
    assert "teacher.json" in result.output and "names no recipe" in result.output
    assert "Traceback" not in result.output


def test_a_model_file_elsewhere_is_scored_and_carded_by_its_own_card(tmp_path):
    """A candidate named like a shipped model: its card beside it says FER+ and takes
    the figures; the shipped card is left alone."""
    from lightemo_video.model.runtime import WEIGHTS_DIR

    split = small_split(tmp_path / "test", 3)  # FER+ votes are found by test/<class>/<name>
    candidate = tmp_path / "runs" / "lightemonet-plus.int8.tflite"
    candidate.parent.mkdir()
    shutil.copy(WEIGHTS_DIR / "lightemonet-ferplus.int8.tflite", candidate)
    card = json.loads((WEIGHTS_DIR / "lightemonet-ferplus.json").read_text())
    (candidate.parent / "lightemonet-plus.json").write_text(json.dumps(card))
    shipped = {
        p: p.read_bytes() for p in WEIGHTS_DIR.glob("lightemonet-plus.*") if p.suffix != ".keras"
    }
    try:
        result = CliRunner().invoke(
            app,
            [
                "evaluate",
                "--data",
                str(split),
                "--model",
                str(candidate),
                "--write-card",
                "--out",
                str(tmp_path / "eval"),
                "--latency-runs",
                "5",
            ],
        )
        overwritten = [p.name for p, data in shipped.items() if p.read_bytes() != data]
    finally:  # never leave a shipped file changed, even when this test fails
        for path, data in shipped.items():
            path.write_bytes(data)
    assert result.exit_code == 0, result.output
    assert overwritten == []
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["labels"] == "ferplus"
    written = json.loads((candidate.parent / "lightemonet-plus.json").read_text())
    assert written["metrics"]["publictest_ferplus"]["images"] <= 21  # not the shipped 3,529
