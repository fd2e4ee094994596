from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from lightemo_video.model.architecture import build_lightemonet  # noqa: E402


def test_output_shape_and_probabilities():
    model = build_lightemonet()
    out = model(np.random.default_rng(0).random((3, 48, 48, 1), dtype=np.float32), training=False)
    assert out.shape == (3, 7)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, atol=1e-5)


def test_parameter_count_matches_the_described_layers():
    # The paper claims 2,143,751; the layers it lists add up to this.
    model = build_lightemonet()
    assert model.count_params() == 2_651_623
    assert [layer.filters for layer in model.layers if hasattr(layer, "filters")] == [
        32,
        32,
        64,
        64,
        128,
        128,
    ]
    assert model.get_layer("dense").units == 512


def test_output_is_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_lightemonet()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    out = model(np.zeros((1, 48, 48, 1), dtype=np.float32))
    assert out.dtype == "float32"


def test_half_width_variant_has_a_quarter_of_the_convolution_work():
    from lightemo_video.model.architecture import build_architecture

    model = build_architecture("lightemonet-half")
    assert [layer.filters for layer in model.layers if hasattr(layer, "filters")] == [
        16,
        16,
        32,
        32,
        64,
        64,
    ]
    assert model.get_layer("dense").units == 256
    assert model.count_params() == 664_567
    assert model.output_shape == (None, 7)


def test_pooled_variant_trades_the_dense_head_for_a_fourth_block():
    from lightemo_video.model.architecture import build_architecture

    model = build_architecture("lightemonet-pool")
    widths = [layer.filters for layer in model.layers if hasattr(layer, "filters")]
    assert widths == [32, 32, 64, 64, 128, 128, 256, 256]
    assert model.get_layer("block4_conv2").output.shape == (None, 6, 6, 256)  # no pooling after it
    assert "dense" not in [layer.name for layer in model.layers]
    assert model.count_params() == 1_177_319
    out = model(np.random.default_rng(0).random((2, 48, 48, 1), dtype=np.float32), training=False)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, atol=1e-5)


def _trained_looking_pooled_model(rng: np.random.Generator):
    """A pooled model with no weight at its initial value, as a trained one would be."""
    from lightemo_video.model.architecture import build_architecture

    pooled = build_architecture("lightemonet-pool")
    for layer in pooled.layers:
        weights = layer.get_weights()
        layer.set_weights([rng.normal(0.5, 0.2, w.shape).astype(np.float32) for w in weights])
    return pooled


def test_residual_variant_starts_as_the_pooled_model_it_grows_from(tmp_path):
    from lightemo_video.jobs.train import start_from
    from lightemo_video.model.architecture import build_architecture

    rng = np.random.default_rng(1)
    pooled = _trained_looking_pooled_model(rng)
    model = build_architecture("lightemonet-pool-res")
    assert model.count_params() == 2_359_527
    assert model.get_layer("res1_add").output.shape == (None, 6, 6, 256)
    path = tmp_path / "pooled.keras"
    pooled.save(path)
    start_from(model, path)
    faces = rng.random((4, 48, 48, 1), dtype=np.float32)
    grown, before = model(faces, training=False), pooled(faces, training=False)
    np.testing.assert_allclose(np.asarray(grown), np.asarray(before), atol=1e-6)
    widths = [layer.filters for layer in model.layers if hasattr(layer, "filters")]
    assert widths == [32, 32, 64, 64, 128, 128, 256, 256, 256, 256]


def test_wide_variant_starts_close_to_the_pooled_model_it_widens(tmp_path):
    from lightemo_video.jobs.train import start_from
    from lightemo_video.model.architecture import build_architecture

    rng = np.random.default_rng(2)
    pooled = _trained_looking_pooled_model(rng)
    model = build_architecture("lightemonet-pool-wide")
    assert model.count_params() == 2_507_239
    path = tmp_path / "pooled.keras"
    pooled.save(path)
    start_from(model, path)
    faces = rng.random((4, 48, 48, 1), dtype=np.float32)
    grown, before = model(faces, training=False), pooled(faces, training=False)
    np.testing.assert_allclose(np.asarray(grown), np.asarray(before), atol=0.02)
    widths = [layer.filters for layer in model.layers if hasattr(layer, "filters")]
    assert widths == [32, 32, 64, 64, 192, 192, 384, 384]


def test_upscaled_variant_is_the_pooled_model_on_a_larger_face(tmp_path):
    import tensorflow as tf
    from lightemo_video.jobs.train import start_from
    from lightemo_video.model.architecture import build_architecture, build_lightemonet

    rng = np.random.default_rng(3)
    pooled = _trained_looking_pooled_model(rng)
    model = build_architecture("lightemonet-pool-up64")
    assert model.count_params() == pooled.count_params()
    assert model.input_shape == (None, 48, 48, 1)
    assert model.get_layer("block4_conv2").output.shape == (None, 8, 8, 256)
    path = tmp_path / "pooled.keras"
    pooled.save(path)
    start_from(model, path)
    at_64 = build_lightemonet(input_shape=(64, 64, 1), top_filters=(256,), dense_units=0)
    at_64.set_weights(pooled.get_weights())
    faces = rng.random((4, 48, 48, 1), dtype=np.float32)
    enlarged = tf.image.resize(faces, (64, 64), method="bilinear")
    np.testing.assert_allclose(
        np.asarray(model(faces, training=False)),
        np.asarray(at_64(enlarged, training=False)),
        atol=1e-5,
    )
    assert not np.allclose(np.asarray(model(faces)), np.asarray(pooled(faces)), atol=1e-3)


def test_training_names_unknown_architectures_in_one_line():
    from lightemo_video.jobs.train import build_architecture
    from lightemo_video.model.errors import DataError

    known = (
        "lightemonet, lightemonet-half, lightemonet-pool, lightemonet-pool-res, "
        "lightemonet-pool-wide, lightemonet-pool-up64"
    )
    with pytest.raises(DataError, match=f"unknown architecture; known: {known}"):
        build_architecture("resnet")
