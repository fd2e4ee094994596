"""Widening a trained network: the wider one starts computing what the trained one did."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")


def _trained_looking(model, rng: np.random.Generator):
    """Nothing at its initial value: BatchNorm statistics and scales included."""
    for layer in model.layers:
        weights = layer.get_weights()
        layer.set_weights([rng.normal(0.5, 0.2, w.shape).astype(np.float32) for w in weights])
    return model


def _small(filters, top, **kw):
    from lightemo_video.model.architecture import build_lightemonet

    return build_lightemonet(filters=filters, top_filters=top, dense_units=0, **kw)


def test_a_widened_network_starts_as_the_trained_one():
    from lightemo_video.model.widen import grow_into

    rng = np.random.default_rng(0)
    trained = _trained_looking(_small((4, 8, 8), (8,)), rng)
    wide = _small((4, 8, 12), (20,))  # 20 > 2 x 8: some filters copied more than once
    copied = grow_into(wide, trained, rng, noise=0.0)
    assert copied == [layer.name for layer in wide.layers if layer.weights]
    faces = rng.random((8, 48, 48, 1), dtype=np.float32)
    grown, before = wide(faces, training=False), trained(faces, training=False)
    np.testing.assert_allclose(np.asarray(grown), np.asarray(before), atol=1e-5)


def test_noise_sets_the_copies_apart_and_keeps_the_function_close():
    from lightemo_video.model.widen import grow_into

    rng = np.random.default_rng(1)
    trained = _trained_looking(_small((4, 8, 8), (8,)), rng)
    wide = _small((4, 8, 12), (16,))
    grow_into(wide, trained, rng, noise=0.01)
    kernel = wide.get_layer("block3_conv1").get_weights()[0]
    originals, copies = kernel[..., :8], kernel[..., 8:]
    for j in range(copies.shape[-1]):
        closest = np.abs(originals - copies[..., j : j + 1]).max(axis=(0, 1, 2)).min()
        assert 0 < closest < 0.1  # near one trained filter, equal to none
    faces = rng.random((8, 48, 48, 1), dtype=np.float32)
    grown, before = wide(faces, training=False), trained(faces, training=False)
    np.testing.assert_allclose(np.asarray(grown), np.asarray(before), atol=0.05)


def test_layers_that_cannot_take_trained_weights_keep_fresh_ones():
    from lightemo_video.model.widen import grow_into

    rng = np.random.default_rng(2)
    trained = _trained_looking(_small((4, 8, 8), (8,)), rng)
    narrower = _small((4, 8, 6), (8,))  # a third block with fewer filters than trained
    fresh = {layer.name: layer.get_weights() for layer in narrower.layers}
    copied = grow_into(narrower, trained, rng)
    assert copied == [f"block{b}_{p}" for b in (1, 2) for p in ("conv1", "bn1", "conv2", "bn2")]
    for name in ("block3_conv1", "block4_conv2", "probs"):  # and all that it feeds
        for now, before in zip(narrower.get_layer(name).get_weights(), fresh[name], strict=True):
            np.testing.assert_array_equal(now, before)
