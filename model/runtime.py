"""Run LightEmoNet on batches of faces: int8 TFLite (default) or a Keras file.

The TFLite path uses LiteRT (``ai-edge-litert``), so video workers never import
TensorFlow; a ``.keras`` file is loaded with Keras for evaluation and comparisons.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np
from lightemo_video.model.errors import ModelError
from lightemo_video.model.labels import EMOTIONS, NUM_CLASSES
from lightemo_video.model.preprocess import INPUT_SIZE

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# Trained on the FER+ crowd votes: chosen for video on the labelled video benchmark and the
# real sample clips (a neutral crowd reads neutral, a smiling speaker happy, not fear). The
# pooled-head variant: more accurate on FER+ than the earlier lightemonet-ferplus (still
# offered by that name), within the per-face budget of a frame's face detection.
DEFAULT_MODEL = "lightemonet-ferplus-pool"
# Short names users type: the paper-faithful model, the better-trained ones, the fast one.
MODEL_ALIASES = {
    "paper": "lightemonet",
    "plus": "lightemonet-plus-r4",
    "ferplus": DEFAULT_MODEL,
    "fast": "lightemonet-half",  # half width: under 1 ms per face on CPUs without AMX
}


class EmotionModel(Protocol):
    """Anything that maps preprocessed faces (n, 48, 48, 1) to probabilities (n, 7)."""

    def predict(self, faces: np.ndarray) -> np.ndarray: ...


def resolve_model(model: str | Path | None = None, fmt: str = "tflite") -> Path:
    """Turn a shipped model name (e.g. ``lightemonet``) or a path into a model file.

    Args:
        model: a name of a model card in ``model/weights`` (or an alias: ``paper``,
            ``plus``), or a path to a ``.tflite`` or ``.keras`` file; ``None`` means the
            default shipped model.
        fmt: which file of a named model: ``"tflite"`` (int8) or ``"keras"``.
    """
    model = MODEL_ALIASES.get(str(model), model) if model is not None else DEFAULT_MODEL
    path = Path(model)
    if path.suffix in (".tflite", ".keras"):
        if not path.is_file():
            raise ModelError(path, "model file not found")
        return path
    card = WEIGHTS_DIR / f"{model}.json"
    if not card.is_file():
        raise ModelError(
            model, f"no such model; choose {', '.join(MODEL_ALIASES)} or a .tflite/.keras file"
        )
    files = json.loads(card.read_text())["files"]
    found = WEIGHTS_DIR / files[fmt]
    if not found.is_file():
        raise ModelError(found, "model file listed in the model card is missing")
    return found


class TFLiteEmotionModel:
    """An int8 TFLite LightEmoNet; one instance per process, reused for every batch.

    Args:
        path: the ``.tflite`` file.
        num_threads: CPU threads for one invocation; 1 when many workers share a machine.
    """

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        try:
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(self.path, f"not a valid TFLite model ({exc})") from None
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = -1

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities float32 (n, 7) for preprocessed faces float32 (n, 48, 48, 1)."""
        faces = _check_batch(faces)
        if len(faces) == 0:
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        if len(faces) != self._batch:
            self._interpreter.resize_tensor_input(self._input, list(faces.shape))
            self._interpreter.allocate_tensors()
            self._batch = len(faces)
        self._interpreter.set_tensor(self._input, faces)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).astype(np.float32, copy=True)


TRAIN_EXTRA = "pip install 'lightemo-video[train]'"


def has_tensorflow() -> bool:
    """Whether TensorFlow is installed (the ``train`` extra): needed to train, and to
    read ``.keras`` files; video analysis runs on LiteRT without it."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # a broken or blocked install
        return False


def require_tensorflow(what: str | Path) -> None:
    """Raise a one-line ``ModelError`` naming ``what`` when TensorFlow is missing."""
    if not has_tensorflow():
        raise ModelError(what, f"needs TensorFlow, which this install leaves out: {TRAIN_EXTRA}")


class KerasEmotionModel:
    """A ``.keras`` LightEmoNet (imports TensorFlow; for evaluation and training)."""

    def __init__(self, path: str | Path) -> None:
        require_tensorflow(path)
        import keras

        self.path = Path(path)
        try:
            self.model = keras.models.load_model(self.path, compile=False)
        except (ValueError, OSError) as exc:
            raise ModelError(self.path, f"not a valid Keras model ({exc})") from None

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities float32 (n, 7) for preprocessed faces float32 (n, 48, 48, 1)."""
        faces = _check_batch(faces)
        if len(faces) == 0:
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        # A direct call: Model.predict adds milliseconds of set-up to every call.
        return np.concatenate(
            [
                np.asarray(self.model(faces[i : i + 256], training=False), dtype=np.float32)
                for i in range(0, len(faces), 256)
            ]
        )


class FlipAveraged:
    """Test-time augmentation: average the predictions for each face and its mirror image.

    Faces are mirror-symmetric in expression, so the two views give two looks at the same
    label; both go through the model in one call (a batch of 2n).
    """

    def __init__(self, model: EmotionModel) -> None:
        self.model = model

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities float32 (n, 7) for preprocessed faces float32 (n, 48, 48, 1)."""
        faces = _check_batch(faces)
        both = self.model.predict(np.concatenate([faces, faces[:, :, ::-1]]))
        return (both[: len(faces)] + both[len(faces) :]) / 2


class Calibrated:
    """Temperature scaling: probabilities softened (T > 1) or sharpened (T < 1) so that a
    face's confidence matches how often such predictions are right. The temperature is fit
    on the validation slice (``evaluate --calibrate``) and kept in the model card; the
    predicted label never changes."""

    def __init__(self, model: EmotionModel, temperature: float) -> None:
        self.model = model
        self.temperature = temperature

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities float32 (n, 7) for preprocessed faces float32 (n, 48, 48, 1)."""
        return scale_temperature(self.model.predict(faces), self.temperature)


def scale_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / temperature)``, row by row."""
    logits = np.log(np.clip(probs, 1e-12, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


TEST_TIME_AUGMENTATIONS = ("none", "flip")


def card_file(path: str | Path) -> Path:
    """Where a model file's card is: ``<stem>.json`` beside it (how models are shipped
    and exported)."""
    path = Path(path)
    return path.parent / f"{path.name.split('.')[0]}.json"


def model_card(path: str | Path) -> dict:
    """The card of a model file (:func:`card_file`); empty for a file without one."""
    card = card_file(path)
    return json.loads(card.read_text()) if card.is_file() else {}


def test_time_augmentation(path: str | Path) -> str:
    """How a model file is meant to be run: its card's ``test_time_augmentation`` (a
    file without a card runs plainly)."""
    return model_card(path).get("test_time_augmentation", "none")


def temperature(path: str | Path, tta: str) -> float:
    """The calibration temperature a model card stores for running ``path`` with ``tta``
    (1.0 when the card has none, or when it was fit for the other test-time augmentation)."""
    calibration = model_card(path).get("calibration") or {}
    if calibration.get("test_time_augmentation") != tta:
        return 1.0
    return float(calibration.get("temperature", 1.0))


def class_prior(path: str | Path) -> np.ndarray | None:
    """The class frequencies float64 (7,) a model learnt as its prior, in ``EMOTIONS``
    order: the images of each class it saw per epoch (its labels' counts, or more where
    the recipe oversampled) times the class weights its recipe applied. None when the
    card does not say.

    A classifier's probability already holds this prior once; temporal smoothing divides
    it out of each frame, so that it counts once per expression, not once per frame.
    """
    data = model_card(path).get("data") or {}
    counts = data.get("images_per_epoch") or data.get("class_counts")
    weights = data.get("class_weights") or {}
    if not counts or any(name not in counts for name in EMOTIONS):
        return None
    prior = np.array([counts[name] * weights.get(name, 1.0) for name in EMOTIONS], np.float64)
    prior = np.maximum(prior, 1e-6 * prior.sum())
    return prior / prior.sum()


def open_model_file(
    path: str | Path, num_threads: int = 1, tta: str | None = None, calibrated: bool = True
) -> EmotionModel:
    """A runtime for one ``.tflite`` or ``.keras`` file, wrapped in its test-time
    augmentation (``None``: the one its model card asks for) and, when ``calibrated``,
    in the temperature its card stores."""
    path = Path(path)
    tta = test_time_augmentation(path) if tta is None else tta
    if tta not in TEST_TIME_AUGMENTATIONS:
        raise ModelError(
            path,
            f"unknown test-time augmentation '{tta}'; known: {', '.join(TEST_TIME_AUGMENTATIONS)}",
        )
    if path.suffix == ".keras":
        runtime: EmotionModel = KerasEmotionModel(path)
    else:
        runtime = TFLiteEmotionModel(path, num_threads=num_threads)
    if tta == "flip":
        runtime = FlipAveraged(runtime)
    t = temperature(path, tta) if calibrated else 1.0
    return Calibrated(runtime, t) if t != 1.0 else runtime


def load_model(
    model: str | Path | None = None, num_threads: int = 1, tta: str | None = None
) -> EmotionModel:
    """Load a shipped model by name (int8 TFLite) or any ``.tflite``/``.keras`` path,
    run the way its model card says (``tta`` overrides: ``none`` or ``flip``)."""
    return open_model_file(resolve_model(model), num_threads=num_threads, tta=tta)


def _check_batch(faces: np.ndarray) -> np.ndarray:
    faces = np.ascontiguousarray(faces, dtype=np.float32)
    if faces.ndim != 4 or faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 1):
        raise ValueError(
            f"faces must be a 4D array with shape (_, {INPUT_SIZE}, {INPUT_SIZE}, 1), "
            f"but got shape {faces.shape}"
        )
    return faces
