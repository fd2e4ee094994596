"""Per-track smoothing: what it removes, what it keeps, and that it is stated in seconds."""

from __future__ import annotations

import numpy as np
import pytest
from lightemo_video.model.errors import LightEmoError
from lightemo_video.model.labels import EMOTIONS
from lightemo_video.pipeline.smoothing import LiveSmoother, Smoothing, smooth_track


def _track(labels: list[str], fps: float, p: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    probs = np.full((len(labels), 7), (1 - p) / 6)
    for i, label in enumerate(labels):
        probs[i, EMOTIONS.index(label)] = p
    return np.arange(len(labels)) / fps, probs


def _labels(probs: np.ndarray) -> list[str]:
    return [EMOTIONS[k] for k in probs.argmax(axis=1)]


@pytest.mark.parametrize("method", ["hmm", "ema", "window"])
def test_a_one_frame_flicker_is_removed_and_a_held_change_is_kept(method):
    labels = ["neutral"] * 20 + ["angry"] + ["neutral"] * 19 + ["happy"] * 40  # 10 fps
    t, probs = _track(labels, fps=10)
    smoothed = smooth_track(t, probs, Smoothing(method, dwell_s=1.0))
    out = _labels(smoothed)
    assert "angry" not in out
    assert out[:35] == ["neutral"] * 35 and out[-30:] == ["happy"] * 30
    assert np.allclose(smoothed.sum(axis=1), 1.0)


def test_parameters_are_seconds_so_the_sample_rate_does_not_matter():
    slow = ["neutral"] * 10 + ["happy"] * 10  # 5 fps, switch at 2 s
    fast = ["neutral"] * 40 + ["happy"] * 40  # 20 fps, switch at 2 s
    for labels, fps in ((slow, 5), (fast, 20)):
        t, probs = _track(labels, fps)
        out = np.array(_labels(smooth_track(t, probs, Smoothing("hmm", dwell_s=2.0))))
        switch = t[np.flatnonzero(out == "happy")[0]]
        assert switch == pytest.approx(2.0, abs=0.25), fps


PRIOR = np.array([0.13, 0.04, 0.07, 0.22, 0.15, 0.15, 0.24])  # a model's training prior


def test_the_prior_counts_once_per_expression_not_once_per_frame():
    """Frames that say nothing beyond the prior leave it as it is; frames that favour a
    rarer expression than its prior, frame after frame, add up to that expression."""
    t = np.arange(50) / 10
    plain = smooth_track(t, np.tile(PRIOR, (50, 1)), Smoothing("hmm", dwell_s=2.0), prior=PRIOR)
    assert np.allclose(plain, PRIOR)
    fear = PRIOR * np.where(np.arange(7) == EMOTIONS.index("fear"), 2.5, 1.0)
    fear /= fear.sum()  # fear 0.16 (2.3x its prior) but neutral still 0.22 in every frame
    said = _labels(
        smooth_track(t, np.tile(fear, (50, 1)), Smoothing("hmm", dwell_s=2.0), prior=PRIOR)
    )
    assert said[-1] == "fear" and said.count("fear") > 40
    # without the prior each frame's own prior is multiplied in again: neutral wins
    assert set(_labels(smooth_track(t, np.tile(fear, (50, 1)), Smoothing("hmm", dwell_s=2.0)))) == {
        "neutral"
    }


@pytest.mark.parametrize("prior", [None, PRIOR])
def test_live_smoothing_is_causal_and_equals_the_forward_pass(prior):
    labels = ["neutral"] * 10 + ["sad"] * 3 + ["neutral"] * 10
    t, probs = _track(labels, fps=10)
    live = LiveSmoother(Smoothing("hmm", dwell_s=1.0), prior)
    online = np.vstack(
        [live.update(np.array([7]), ti, p[None])[0] for ti, p in zip(t, probs, strict=True)]
    )
    assert np.allclose(
        online, smooth_track(t, probs, Smoothing("hmm", dwell_s=1.0), causal=True, prior=prior)
    )
    # the future cannot change the past: the same prefix gives the same values
    prefix = smooth_track(
        t[:12], probs[:12], Smoothing("hmm", dwell_s=1.0), causal=True, prior=prior
    )
    assert np.allclose(prefix, online[:12])
    batch = smooth_track(t, probs, Smoothing("hmm", dwell_s=1.0), prior=prior)
    assert not np.allclose(batch[:12], online[:12])  # batch looks ahead


def test_none_returns_the_raw_values_and_bad_settings_are_one_line_errors():
    t, probs = _track(["happy", "sad", "happy"], fps=10)
    assert np.array_equal(smooth_track(t, probs, Smoothing("none")), probs)
    with pytest.raises(LightEmoError, match="unknown method 'median'"):
        Smoothing("median")
    with pytest.raises(LightEmoError, match="must be positive"):
        Smoothing("hmm", dwell_s=0)
