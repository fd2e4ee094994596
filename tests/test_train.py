"""A real (tiny) training run: FER2013 images from ../shared, the paper's recipe, 1 epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lightemo_video.cli import app
from tests.conftest import shared_path

pytest.importorskip("keras")


def test_one_epoch_smoke_run_exports_a_usable_model(tmp_path):
    from lightemo_video.jobs.recipes import RECIPES
    from lightemo_video.jobs.train import train
    from lightemo_video.model.runtime import load_model

    data = shared_path("datasets", "fer2013", "train")
    recipe = RECIPES["paper"].with_overrides(epochs=1)
    result = train(
        data, recipe, tmp_path / "run", tmp_path / "out", "smoke", max_images=400, verbose=0
    )
    assert result.epochs_run == 1
    card = json.loads(result.card_path.read_text())
    assert card["recipe"]["batch_size"] == 32 and card["recipe"]["learning_rate"] == 1e-3
    assert card["parameters"] == 2_651_623
    assert card["data"]["train_images"] + card["data"]["validation_images"] == 400
    weights = card["data"]["class_weights"]
    assert weights["disgust"] > weights["angry"] > weights["happy"]
    assert card["files"] == {"keras": "smoke.keras", "tflite": "smoke.int8.tflite"}
    assert card["training"]["machine"]["cpus"] >= 1  # epoch times say which CPU
    probs = load_model(result.tflite_path).predict(
        np.random.default_rng(0).random((5, 48, 48, 1), np.float32)
    )
    assert probs.shape == (5, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.02)
    assert (tmp_path / "run" / "history.csv").is_file()


def test_rerun_keeps_the_best_checkpoint_unless_an_epoch_beats_the_logged_ones(tmp_path):
    import csv

    from lightemo_video.jobs.recipes import RECIPES
    from lightemo_video.jobs.train import train

    data = shared_path("datasets", "fer2013", "train")
    recipe = RECIPES["paper"].with_overrides(epochs=1)
    run = tmp_path / "run"
    train(data, recipe, run, tmp_path / "out", "first", max_images=300, verbose=0)
    log = run / "history.csv"
    rows = list(csv.DictReader(log.open()))
    rows[0]["val_accuracy"] = "0.99"  # an earlier epoch no tiny run can beat
    with log.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = (run / "best.keras").read_bytes()
    train(
        data,
        recipe.with_overrides(epochs=2),
        run,
        tmp_path / "out",
        "second",
        max_images=300,
        verbose=0,
    )
    assert (run / "best.keras").read_bytes() == before


def test_init_from_copies_a_trained_models_weights(tmp_path):
    import keras
    from lightemo_video.jobs.train import build_architecture, start_from
    from lightemo_video.model.errors import DataError
    from lightemo_video.model.runtime import resolve_model

    shipped = resolve_model("paper", "keras")
    model = build_architecture("lightemonet")
    start_from(model, shipped)
    trained = keras.models.load_model(shipped, compile=False)
    for mine, theirs in zip(model.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)

    other = keras.Sequential(
        [keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(7)]
    )
    other.save(tmp_path / "other.keras")
    with pytest.raises(DataError, match="do not match"):
        start_from(build_architecture("lightemonet"), tmp_path / "other.keras")
    with pytest.raises(DataError, match="no such model"):
        start_from(model, tmp_path / "missing.keras")


def test_init_from_a_different_architecture_copies_the_shared_blocks():
    import keras
    from lightemo_video.jobs.train import build_architecture, start_from
    from lightemo_video.model.runtime import resolve_model

    shipped = resolve_model("paper", "keras")
    trained = keras.models.load_model(shipped, compile=False)
    model = build_architecture("lightemonet-pool")
    fresh = {layer.name: layer.get_weights() for layer in model.layers}
    start_from(model, shipped)
    for block in (1, 2, 3):
        for part in ("conv1", "bn1", "conv2", "bn2"):
            name = f"block{block}_{part}"
            mine, theirs = model.get_layer(name), trained.get_layer(name)
            for ours, source in zip(mine.get_weights(), theirs.get_weights(), strict=True):
                np.testing.assert_array_equal(ours, source)
    for name in ("block4_conv1", "probs"):  # absent from LightEmoNet, or another shape there
        for mine, before in zip(model.get_layer(name).get_weights(), fresh[name], strict=True):
            np.testing.assert_array_equal(mine, before)


def test_ferplus_recipe_trains_on_vote_distributions(tmp_path):
    from dataclasses import replace

    from lightemo_video.jobs.recipes import RECIPES
    from lightemo_video.jobs.train import train

    data = shared_path("datasets", "fer2013", "train")
    recipe = replace(RECIPES["ferplus-bf16"], epochs=1, init_from=None, precision="float32")
    result = train(
        data,
        recipe,
        tmp_path / "run",
        tmp_path / "out",
        "fp",
        max_images=400,
        verbose=0,
        ferplus_dir=shared_path("datasets", "ferplus"),
    )
    card = json.loads(result.card_path.read_text())
    assert card["labels"] == "ferplus" and card["test_time_augmentation"] == "flip"
    kept = card["data"]["train_images"] + card["data"]["validation_images"]
    assert 350 < kept < 400  # images without a usable FER+ vote are left out
    assert result.epochs_run == 1


def test_blend_recipe_trains_on_all_faces_and_selects_on_fer2013_labels(tmp_path):
    from dataclasses import replace

    from lightemo_video.jobs.recipes import RECIPES
    from lightemo_video.jobs.train import train

    data = shared_path("datasets", "fer2013", "train")
    recipe = replace(RECIPES["plus-ferplus-blend-f32"], epochs=1, init_from=None)
    result = train(
        data,
        recipe,
        tmp_path / "run",
        tmp_path / "out",
        "blend",
        max_images=400,
        verbose=0,
        ferplus_dir=shared_path("datasets", "ferplus"),
    )
    card = json.loads(result.card_path.read_text())
    assert card["labels"] == "fer2013+ferplus" and card["recipe"]["ferplus_share"] == 0.3
    assert card["data"]["train_images"] + card["data"]["validation_images"] == 400  # none dropped


def test_train_rejects_unknown_labels(tmp_path):
    from dataclasses import replace

    from lightemo_video.jobs.recipes import RECIPES
    from lightemo_video.jobs.train import train
    from lightemo_video.model.errors import DataError

    data = shared_path("datasets", "fer2013", "train")
    with pytest.raises(DataError, match="unknown labels"):
        train(
            data,
            replace(RECIPES["paper"], labels="crowd"),
            tmp_path / "run",
            tmp_path / "out",
            "x",
            max_images=100,
            verbose=0,
        )


def test_train_rejects_an_unknown_precision_in_one_line(tmp_path):
    result = CliRunner().invoke(
        app, ["train", "--recipe", "plus-bf16", "--precision", "float8", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1 and "--precision" in result.output and "float8" in result.output
    assert "Traceback" not in result.output and not list(tmp_path.iterdir())


def test_distilled_half_width_run_records_its_ensemble_teacher(tmp_path):
    """``--teacher`` twice: a model run here and probabilities stored by another machine."""
    from lightemo_video.jobs.train import build_architecture

    model = tmp_path / "teacher.keras"
    build_architecture("lightemonet").save(model)
    data = shared_path("datasets", "fer2013", "train")
    names = sorted(f"{path.parent.name}/{path.name}" for path in data.rglob("*.jpg"))
    stored = tmp_path / "teacher-probs.npz"
    probs = np.random.default_rng(0).dirichlet(np.ones(7), len(names)).astype(np.float32)
    np.savez(stored, probs=probs, names=np.asarray(names))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(data),
            "--recipe",
            "half-distill-f32",
            "--epochs",
            "1",
            "--max-images",
            "300",
            "--teacher",
            str(model),
            "--teacher",
            str(stored),
            "--name",
            "half",
            "--out",
            str(out),
            "--run-dir",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    card = json.loads((out / "half.json").read_text())
    assert card["architecture"] == "lightemonet-half" and card["parameters"] == 664_567
    assert card["recipe"]["teacher"] == [str(model), str(stored)]
    assert card["recipe"]["teacher_share"] == 0.5
    assert (out / "half.int8.tflite").stat().st_size < 1_000_000


def test_train_rejects_a_missing_or_misused_teacher_before_loading_data(tmp_path):
    from dataclasses import replace

    from lightemo_video.jobs.recipes import RECIPES
    from lightemo_video.jobs.train import train
    from lightemo_video.model.errors import DataError

    recipe = RECIPES["half-distill-f32"]
    missing = tmp_path / "no-data"  # never read: the recipe is checked first
    with pytest.raises(DataError, match="no such teacher"):
        train(
            missing,
            replace(recipe, teacher=str(tmp_path / "gone.keras")),
            tmp_path / "run",
            tmp_path / "out",
            "x",
        )
    with pytest.raises(DataError, match="not both"):
        train(
            missing,
            replace(recipe, labels="fer2013+ferplus"),
            tmp_path / "run",
            tmp_path / "out",
            "x",
        )
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(missing),
            "--recipe",
            "ferplus-scratch-f32",
            "--teacher",
            str(tmp_path / "good.keras"),
            "--teacher",
            str(tmp_path / "gone.npz"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "good.keras: no such teacher model or probabilities file" in result.output
