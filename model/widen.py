"""Start a wider network from a trained narrower one, computing what it computed.

A network with more filters per convolution cannot take a trained model's weights as
they are. Net2WiderNet (Chen, Goodfellow & Shlens, 2016) fills the extra filters with
copies of trained ones and divides each copied filter's outgoing weights among its
copies, so the wider network starts as the trained one and training goes on from there
instead of from random weights. A little noise on the copies' incoming weights lets them
learn apart (under Adam, exact copies would stay copies).
"""

from __future__ import annotations

import numpy as np

Mapping = tuple[np.ndarray, np.ndarray]
"""For each channel of a layer's output: the trained model's channel it copies, and the
share of that channel's outgoing weights it carries."""


def grow_into(model, trained, rng: np.random.Generator, noise: float = 0.01) -> list[str]:
    """Copy ``trained``'s weights into ``model`` layer by layer (matched by name), widening
    where ``model`` has more filters. Layers absent from ``trained``, of another kind, or
    fed by a layer that was not copied keep their fresh weights.

    Args:
        model: the Keras model to start (built, uncompiled).
        trained: a trained Keras model whose layers share ``model``'s names.
        rng: draws which filters are copied and the noise.
        noise: standard deviation of the noise on copied filters' incoming weights, as a
            fraction of that layer's weight spread (0: exactly the trained function).

    Returns:
        the names of the layers that took trained weights.
    """
    source = {layer.name: layer for layer in trained.layers}
    outputs: dict[str, Mapping | None] = {}
    copied = []
    for layer in model.layers:
        incoming = _incoming(_input_mappings(layer, outputs))
        kind = type(layer).__name__
        src = source.get(layer.name)
        if kind == "InputLayer":
            outputs[layer.name] = _identity(layer.output.shape[-1])
        elif not layer.weights:  # pooling, dropout, add: channels pass through
            outputs[layer.name] = _flattened(layer, incoming) if kind == "Flatten" else incoming
        elif src is None or type(src).__name__ != kind or incoming is None:
            outputs[layer.name] = None
        elif kind in ("Conv2D", "Dense"):
            outputs[layer.name] = _grow_linear(layer, src, incoming, rng, noise)
        elif kind == "BatchNormalization":
            outputs[layer.name] = _grow_norm(layer, src, incoming)
        else:
            outputs[layer.name] = None
        if layer.weights and outputs[layer.name] is not None:
            copied.append(layer.name)
    return copied


def _input_mappings(layer, outputs: dict[str, Mapping | None]) -> list[Mapping | None]:
    if type(layer).__name__ == "InputLayer":
        return []
    tensors = layer.input if isinstance(layer.input, list) else [layer.input]
    return [outputs.get(t._keras_history.operation.name) for t in tensors]


def _incoming(inputs: list[Mapping | None]) -> Mapping | None:
    """The channels a layer receives. Where trained channels meet a fresh branch (a new
    residual block), the sum keeps the trained channels' order."""
    known = [m for m in inputs if m is not None]
    if not known or any(
        not (np.array_equal(m[0], known[0][0]) and np.array_equal(m[1], known[0][1])) for m in known
    ):
        return None
    return known[0]


def _identity(n: int) -> Mapping:
    return np.arange(n), np.ones(n, np.float32)


def _flattened(layer, incoming: Mapping | None) -> Mapping | None:
    """Flattening keeps a plain copy; a widened one would interleave positions and channels."""
    if incoming is None or not np.array_equal(incoming[0], np.arange(len(incoming[0]))):
        return None
    return _identity(layer.output.shape[-1])


def _widen(n_trained: int, n_wanted: int, rng: np.random.Generator) -> Mapping:
    """Which trained channel each of ``n_wanted`` channels copies (each at least once),
    and the share of its outgoing weights each copy carries (1 / number of copies)."""
    extra = rng.choice(n_trained, n_wanted - n_trained, replace=n_wanted - n_trained > n_trained)
    index = np.concatenate([np.arange(n_trained), extra])
    copies = np.bincount(index, minlength=n_trained)
    return index, (1.0 / copies[index]).astype(np.float32)


def _grow_linear(layer, src, incoming: Mapping, rng: np.random.Generator, noise: float):
    kernel, bias = src.get_weights()
    index_in, share_in = incoming
    trained_out, wanted_out = kernel.shape[-1], layer.kernel.shape[-1]
    if layer.kernel.shape[-2] != len(index_in) or kernel.shape[-2] != index_in.max() + 1:
        return None
    if kernel.shape[:-2] != tuple(layer.kernel.shape[:-2]) or wanted_out < trained_out:
        return None
    kernel = kernel[..., index_in, :] * share_in[:, None]
    spread = float(kernel.std())
    index_out, share_out = _widen(trained_out, wanted_out, rng)
    kernel, bias = kernel[..., index_out], bias[index_out]
    if noise and wanted_out > trained_out:  # the copies sit after the trained filters
        shape = (*kernel.shape[:-1], wanted_out - trained_out)
        kernel[..., trained_out:] += rng.normal(0.0, noise * spread, shape).astype(kernel.dtype)
    layer.set_weights([kernel, bias])
    return index_out, share_out


def _grow_norm(layer, src, incoming: Mapping):
    index, _ = incoming
    weights = src.get_weights()
    if len(index) != layer.weights[0].shape[0] or weights[0].shape[0] != index.max() + 1:
        return None
    layer.set_weights([w[index] for w in weights])
    return incoming
