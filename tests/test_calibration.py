"""Calibrated confidence: the temperature fit, and that a card's temperature is applied."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from lightemo_video.jobs.evaluate import calibration_error, fit_temperature, log_loss
from lightemo_video.model.runtime import (
    WEIGHTS_DIR,
    load_model,
    open_model_file,
    scale_temperature,
    temperature,
)


def _overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softened probabilities, reported as sharper ones (temperature 2)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 7))
    honest = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(7, p=p) for p in honest])
    return scale_temperature(honest, 0.5), labels  # the model claims more than it knows


def test_the_fit_recovers_the_temperature_and_lowers_the_calibration_error():
    probs, labels = _overconfident()
    t = fit_temperature(probs, labels)
    assert t == pytest.approx(2.0, rel=0.1)
    assert log_loss(probs, labels, t) < log_loss(probs, labels, 1.0)
    assert calibration_error(scale_temperature(probs, t), labels) < 0.5 * calibration_error(
        probs, labels
    )
    assert np.array_equal(scale_temperature(probs, t).argmax(axis=1), probs.argmax(axis=1))


def test_a_cards_temperature_is_applied_for_the_augmentation_it_was_fit_for(tmp_path):
    for name in ("lightemonet-half.int8.tflite", "lightemonet-half.json"):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / name)
    card = json.loads((tmp_path / "lightemonet-half.json").read_text())
    card["calibration"] = {"temperature": 2.0, "test_time_augmentation": "none"}
    (tmp_path / "lightemonet-half.json").write_text(json.dumps(card))
    model = tmp_path / "lightemonet-half.int8.tflite"
    faces = np.random.default_rng(1).random((5, 48, 48, 1)).astype(np.float32)
    raw = open_model_file(model, tta="none", calibrated=False).predict(faces)
    calibrated = load_model(model, tta="none")  # the card's temperature was fit with tta none
    assert np.allclose(calibrated.predict(faces), scale_temperature(raw, 2.0), atol=1e-5)
    assert temperature(model, "flip") == 1.0  # fit for another augmentation: not applied


def test_shipped_models_carry_their_calibration():
    shipped = (
        "lightemonet-ferplus-pool-r2",
        "lightemonet-ferplus-pool",
        "lightemonet-ferplus",
        "lightemonet-plus-r4",
        "lightemonet-half",
        "lightemonet",
    )
    for name in shipped:
        calibration = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())["calibration"]
        assert calibration["ece_after"] <= calibration["ece_before"], name
