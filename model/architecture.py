"""LightEmoNet as the paper describes it (Kamber & Alkaabi, 2026).

Three blocks of [conv3x3-ReLU, BatchNorm] x2, 2x2 max-pool, dropout 0.25 with 32/64/128
filters ("same" padding), then flatten, dense 512 ReLU, dropout 0.5, dense 7 softmax.
Built as written it has 2,651,623 parameters (2,650,727 trainable); the paper's
2,143,751 does not match its own layer list.

``ARCHITECTURES`` also names a half-width variant (16/32/64 filters, dense 256): a quarter
of the convolution work, for CPUs where the full network misses the 1 ms per face budget;
and a pooled-head variant: the same three blocks, a fourth of 256 filters at 6x6 without
pooling, then global average pooling into the softmax instead of the 2.4M-parameter dense
head (1,177,319 parameters). Its first three blocks keep LightEmoNet's layer names, so a
trained LightEmoNet can start it (``jobs.train.start_from``). The residual variant adds a
residual block of two 256-filter convolutions whose last BatchNorm starts at zero: it begins
as the identity, so a trained pooled-head model starts it computing exactly what it did
(2,359,527 parameters, a third more work per face). The wide variant has half as many
filters again in the last two blocks (192, 384): 2,507,239 parameters, about 1.6x the
pooled model's work per face; ``model.widen`` starts it from a trained pooled model.
The upscaled variant is the pooled model looking at its 48x48 face enlarged to 64x64 inside
the network (bilinear): the same weights, finer feature maps (8x8 at the top instead of
6x6) for about 1.9x the time per face; callers still give it 48x48 faces.
"""

from __future__ import annotations

import keras
from keras import layers
from lightemo_video.model.labels import NUM_CLASSES
from lightemo_video.model.preprocess import INPUT_SIZE


def build_lightemonet(
    input_shape: tuple[int, int, int] = (INPUT_SIZE, INPUT_SIZE, 1),
    num_classes: int = NUM_CLASSES,
    filters: tuple[int, int, int] = (32, 64, 128),
    dense_units: int = 512,
    top_filters: tuple[int, ...] = (),
    residual_blocks: int = 0,
    upscale: int = 0,
    name: str = "lightemonet",
) -> keras.Model:
    """Return the uncompiled LightEmoNet model (the paper's widths unless told otherwise).

    ``top_filters`` adds blocks of two convolutions without pooling after the pooled ones;
    ``dense_units=0`` replaces flatten + dense with global average pooling;
    ``residual_blocks`` adds blocks ``x + BN(conv(BN(conv(x))))`` (ReLU after each conv)
    at the last width, each starting as the identity; ``upscale`` resizes the face to that
    size first (bilinear), so the convolutions see it larger.

    Inputs are preprocessed faces (see ``model.preprocess.preprocess_faces``): float
    (batch, 48, 48, 1) in [0, 1]. Outputs are float32 class probabilities (batch, 7)
    even under a mixed-precision policy.

    Example:
        >>> model = build_lightemonet()
        >>> model.output_shape
        (None, 7)
    """
    inputs = keras.Input(shape=input_shape, name="face")
    x = inputs
    if upscale:
        x = layers.Resizing(upscale, upscale, interpolation="bilinear", name="upscale")(x)
    for block, width in enumerate(filters + top_filters, start=1):
        for conv in (1, 2):
            x = layers.Conv2D(
                width, 3, padding="same", activation="relu", name=f"block{block}_conv{conv}"
            )(x)
            x = layers.BatchNormalization(name=f"block{block}_bn{conv}")(x)
        if block <= len(filters):
            x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        x = layers.Dropout(0.25, name=f"block{block}_dropout")(x)
    for block in range(1, residual_blocks + 1):
        branch = x
        for conv in (1, 2):
            branch = layers.Conv2D(
                x.shape[-1], 3, padding="same", activation="relu", name=f"res{block}_conv{conv}"
            )(branch)
            branch = layers.BatchNormalization(
                gamma_initializer="zeros" if conv == 2 else "ones", name=f"res{block}_bn{conv}"
            )(branch)
        x = layers.Add(name=f"res{block}_add")([x, branch])
    if dense_units:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(dense_units, activation="relu", name="dense")(x)
        x = layers.Dropout(0.5, name="dense_dropout")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


# Architecture keys as recipes and model cards name them.
ARCHITECTURES: dict[str, dict] = {
    "lightemonet": {},
    "lightemonet-half": {"filters": (16, 32, 64), "dense_units": 256, "name": "lightemonet_half"},
    "lightemonet-pool": {"top_filters": (256,), "dense_units": 0, "name": "lightemonet_pool"},
    "lightemonet-pool-res": {
        "top_filters": (256,),
        "dense_units": 0,
        "residual_blocks": 1,
        "name": "lightemonet_pool_res",
    },
    "lightemonet-pool-wide": {
        "filters": (32, 64, 192),
        "top_filters": (384,),
        "dense_units": 0,
        "name": "lightemonet_pool_wide",
    },
    "lightemonet-pool-up64": {
        "top_filters": (256,),
        "dense_units": 0,
        "upscale": 64,
        "name": "lightemonet_pool_up64",
    },
}


def build_architecture(key: str) -> keras.Model:
    """The uncompiled model for an architecture key of ``ARCHITECTURES``."""
    return build_lightemonet(**ARCHITECTURES[key])
