"""Export a trained Keras LightEmoNet to an int8 TFLite file for the CPU runtime."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf


def as_float32(model: keras.Model, build: callable) -> keras.Model:
    """A float32 copy of ``model`` (e.g. one trained under mixed_bfloat16).

    ``build`` is the architecture function that made ``model``; it is called under a
    float32 policy and given the trained weights.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        copy = build()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    copy.set_weights([np.asarray(w, dtype=np.float32) for w in model.get_weights()])
    return copy


def export_int8_tflite(model: keras.Model, calibration: np.ndarray, path: str | Path) -> Path:
    """Quantize weights and activations to int8 and write ``path`` atomically.

    Input and output stay float32 (preprocessed faces in, probabilities out), so the
    runtime feeds the same arrays as to the Keras model.

    Args:
        model: a float32 Keras model.
        calibration: float32 (n, 48, 48, 1) preprocessed faces, a few hundred covering
            every class, used to pick the activation ranges.
        path: destination ``.tflite`` file.
    """
    path = Path(path)

    def representative():
        for i in range(len(calibration)):
            yield [calibration[i : i + 1].astype(np.float32)]

    with tempfile.TemporaryDirectory() as saved:
        model.export(saved, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        blob = converter.convert()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(blob)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
