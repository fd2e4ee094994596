"""Face detectors: one image in, face boxes with scores out.

Two families, swappable through ``make_detector``:

- ``haar``: OpenCV's frontal-face Haar cascade, the detector of the LightEmoNet paper. Kept for
  comparison with the paper; it is slow and fires on flags, seals and birds.
- ``blazeface`` / ``blazeface-full``: MediaPipe's BlazeFace SSD models run with LiteRT. The
  model files ship with this package (``blazeface/``, Apache-2.0, see ``SOURCE.md`` there);
  anchors, decoding and suppression are ours.

``jobs/detector_report.md`` holds the measurement that chose ``DEFAULT_DETECTOR``.

Example:
    >>> detector = make_detector()  # DEFAULT_DETECTOR, "blazeface-full"
    >>> faces = detector.detect(frame)  # FaceDetections with xyxy float32 (n, 4)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from lightemo_video.model.errors import LightEmoError, ModelError
from lightemo_video.pipeline.records import FaceDetections, Frame
from lightemo_video.pipeline.track import iou_matrix


class Detector(Protocol):
    """Finds faces in one frame."""

    def detect(self, frame: Frame) -> FaceDetections:
        """Faces in ``frame``, boxes clipped to it, scores in [0, 1]; empty when none."""
        ...


@dataclass(frozen=True)
class DetectConfig:
    """Filters every detector applies to its raw boxes.

    Attributes:
        min_score: boxes scoring below this are dropped. Higher rejects more background
            (flags, birds) but loses turned, blurred or partly hidden faces.
        min_face: smallest kept face side, as a fraction of the frame's shorter side
            (0.04 is 29 px in 720p, 43 px in 1080p). Lower keeps distant faces, whose
            emotion is barely readable once scaled to the classifier's 48x48 input.
        weak_score: when set (below ``min_score``), boxes scoring from it up to
            ``min_score`` are returned too, for the tracker to keep a face's track alive
            through a turned or blurred moment; they never start a face or make a row.
            None returns confident boxes only.
    """

    min_score: float = 0.5
    min_face: float = 0.04
    weak_score: float | None = None

    def __post_init__(self) -> None:
        for name in ("min_score", "min_face", "weak_score"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise LightEmoError(f"detector option {name}", f"must be in [0, 1], got {value}")


@dataclass(frozen=True)
class HaarConfig(DetectConfig):
    """Settings of ``HaarDetector``.

    Attributes:
        min_score: see ``DetectConfig``; Haar scores are ``w / (w + 5)`` of the cascade's
            last-stage weight ``w`` (``HaarDetector``). The default 0.3 (``w >= 2.1``) drops
            only the weakest boxes: on the sample clips real faces reach ``w`` 5-10 but the
            flag/seal behind Obama and the cockatoo also reach 3-7, and the astronaut photo's
            face only 4.6, so no threshold separates them.
        max_side: the frame is downscaled so its longer side is at most this before the scan.
            Lower is faster (the scan cost grows with the pixel count) but loses faces
            narrower than about ``24 * longer_side / max_side`` px (the cascade's window).
        scale_factor: step between scanned window sizes. Closer to 1 finds more faces and is
            slower.
        min_neighbors: overlapping hits needed to keep a box. Higher drops false faces and
            some real ones.
    """

    min_score: float = 0.3
    max_side: int = 480
    scale_factor: float = 1.1
    min_neighbors: int = 5


@dataclass(frozen=True)
class BlazeFaceConfig(DetectConfig):
    """Settings of ``BlazeFaceDetector``.

    Attributes:
        min_score: see ``DetectConfig``; BlazeFace's sigmoid score. MediaPipe uses 0.5,
            right for ``"full"``; ``"short"`` needs 0.8 to ignore a cockatoo's head.
        model: ``"full"`` (192x192 input, faces up to ~5 m, ~4.4 ms per 720p frame) or
            ``"short"`` (128x128 input, faces within ~2 m, ~1.8 ms, misses the faces of a
            1080p street scene). The whole frame is letterboxed into the input, so a face
            must span roughly 1/10 (short) or 1/20 (full) of the frame's longer side.
        nms_iou: boxes overlapping a better one by more than this IoU are merged into it
            (score-weighted mean, as MediaPipe does). Lower merges faces that touch in a
            crowd; higher lets duplicates through.
        num_threads: LiteRT CPU threads. Keep 1 when one worker runs per core (Ray).
    """

    model: Literal["short", "full"] = "full"
    nms_iou: float = 0.3
    num_threads: int = 1


def _finish(
    frame: Frame, xyxy: np.ndarray, score: np.ndarray, config: DetectConfig
) -> FaceDetections:
    """Clips boxes to the frame and applies the score and size filters every detector shares.

    Args:
        frame: the frame the boxes belong to.
        xyxy: float (n, 4) boxes in frame pixels, possibly reaching outside the frame.
        score: float (n,) confidences in [0, 1].
        config: the thresholds.
    """
    if len(score) == 0:
        return FaceDetections.empty(frame.frame_index, frame.timestamp_s)
    h, w = frame.height, frame.width
    xyxy = np.clip(xyxy, 0, [w, h, w, h]).astype(np.float32)
    side = np.minimum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1])
    keep = (score >= _lowest_score(config)) & (side >= config.min_face * min(h, w)) & (side > 0)
    if not keep.any():
        return FaceDetections.empty(frame.frame_index, frame.timestamp_s)
    return FaceDetections(
        frame.frame_index, frame.timestamp_s, xyxy[keep], score[keep].astype(np.float32)
    )


def _lowest_score(config: DetectConfig) -> float:
    """The lowest score a detector returns: ``weak_score`` when asked for, else ``min_score``."""
    if config.weak_score is None:
        return config.min_score
    return min(config.weak_score, config.min_score)


def _merge_weak_apart(
    xyxy: np.ndarray, score: np.ndarray, min_score: float, nms_iou: float
) -> tuple[np.ndarray, np.ndarray]:
    """``weighted_nms`` run on confident and weak boxes apart, weak ones overlapping a
    confident one dropped, so confident boxes are exactly those of a run without weak ones."""
    strong = score >= min_score
    boxes, scores = weighted_nms(xyxy[strong], score[strong], nms_iou)
    weak_boxes, weak_scores = weighted_nms(xyxy[~strong], score[~strong], nms_iou)
    if len(weak_scores) and len(scores):
        apart = iou_matrix(weak_boxes, boxes).max(axis=1) <= nms_iou
        weak_boxes, weak_scores = weak_boxes[apart], weak_scores[apart]
    return np.concatenate([boxes, weak_boxes]), np.concatenate([scores, weak_scores])


class HaarDetector:
    """OpenCV ``haarcascade_frontalface_default`` on a downscaled gray frame.

    Score: with ``outputRejectLevels=True`` the cascade reports, per box, the weight sum
    ``w`` of its last stage (how far past the final threshold the window got). It is
    squashed into [0, 1) as ``w / (w + 5)``: 0.5 at ``w`` 5, about where the sample clips'
    real faces start (their ``w`` is 5-10), though background hits reach that too.
    """

    _HALF_SCORE_WEIGHT = 5.0
    _WINDOW = 24  # the cascade's native window, px

    def __init__(self, config: HaarConfig | None = None) -> None:
        self.config = config or HaarConfig()
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ModelError(
                path, "cannot load the Haar cascade; reinstall opencv-python-headless<5"
            )

    def detect(self, frame: Frame) -> FaceDetections:
        """Faces in ``frame``; see ``Detector``."""
        cfg = self.config
        h, w = frame.height, frame.width
        scale = min(1.0, cfg.max_side / max(h, w))
        gray = frame.gray_region(0, 0, w, h)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        min_px = max(self._WINDOW, round(cfg.min_face * min(h, w) * scale))
        rects, _, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=cfg.scale_factor,
            minNeighbors=cfg.min_neighbors,
            minSize=(min_px, min_px),
            outputRejectLevels=True,
        )
        xywh = np.asarray(rects, dtype=np.float32).reshape(-1, 4) / scale
        weight = np.clip(np.asarray(weights, dtype=np.float32).ravel(), 0.0, None)
        score = weight / (weight + self._HALF_SCORE_WEIGHT)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        return _finish(frame, xyxy, score, cfg)


@dataclass(frozen=True)
class _BlazeFaceModel:
    """A BlazeFace variant: file, square input size and SSD anchor layout.

    ``grids`` lists ``(stride, anchors_per_cell)``; MediaPipe's anchor calculator merges
    consecutive layers with the same stride into one grid with 2 anchors per layer.
    """

    filename: str
    size: int
    grids: tuple[tuple[int, int], ...]


_BLAZEFACE_MODELS = {
    "short": _BlazeFaceModel("face_detection_short_range.tflite", 128, ((8, 2), (16, 6))),
    "full": _BlazeFaceModel("face_detection_full_range.tflite", 192, ((4, 1),)),
}
BLAZEFACE_DIR = Path(__file__).resolve().parent / "blazeface"
"""MediaPipe's BlazeFace models, as shipped with this package."""


def blazeface_model_path(filename: str) -> Path:
    """Path of a BlazeFace model file shipped with this package.

    Raises:
        ModelError: the file is missing (a damaged install).
    """
    path = BLAZEFACE_DIR / filename
    if not path.is_file():
        raise ModelError(path, "BlazeFace model missing; reinstall lightemo-video")
    return path


def ssd_anchor_centres(size: int, grids: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Centres of BlazeFace's SSD anchors, in the model's output order.

    BlazeFace uses fixed-size anchors (width = height = 1), so only their centres matter:
    one per cell centre of each ``size / stride`` grid, repeated per anchor of the cell,
    rows outer, columns inner.

    Args:
        size: the square model input side, px.
        grids: ``(stride, anchors_per_cell)`` per feature map.

    Returns:
        float32 (n, 2) anchor centres x, y normalised to [0, 1].
    """
    parts = []
    for stride, per_cell in grids:
        cells = size // stride
        centre = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        cy, cx = np.meshgrid(centre, centre, indexing="ij")
        parts.append(np.repeat(np.stack([cx.ravel(), cy.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(parts)


def weighted_nms(xyxy: np.ndarray, score: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression.

    Takes the best remaining box, merges every remaining box overlapping it by more than
    ``iou`` into one box (their score-weighted mean, steadier from frame to frame than the
    single best box) with the best score, and repeats.

    Args:
        xyxy: float32 (n, 4) boxes.
        score: float32 (n,) scores.
        iou: overlap above which boxes are merged.

    Returns:
        float32 (m, 4) merged boxes and float32 (m,) scores, best first, m <= n.
    """
    order = np.argsort(-score, kind="stable")
    xyxy, score = xyxy[order], score[order]
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    boxes, scores = [], []
    rest = np.arange(len(score))
    while rest.size:
        top = rest[0]
        wh = np.clip(
            np.minimum(xyxy[top, 2:], xyxy[rest, 2:]) - np.maximum(xyxy[top, :2], xyxy[rest, :2]),
            0,
            None,
        )
        inter = wh[:, 0] * wh[:, 1]
        overlap = inter / np.maximum(area[top] + area[rest] - inter, 1e-9)
        merge = overlap > iou
        merge[0] = True
        weight = score[rest[merge]]
        boxes.append(weight @ xyxy[rest[merge]] / weight.sum())
        scores.append(score[top])
        rest = rest[~merge]
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32)


class BlazeFaceDetector:
    """MediaPipe BlazeFace (short- or full-range) on LiteRT, decoded with numpy.

    The frame is letterboxed (aspect kept, black bars) into the square model input, RGB
    scaled to [-1, 1]. The model returns, per anchor, a raw score and 16 regressors: box
    centre offset and size in input pixels, then 6 keypoints (unused here). Boxes above
    ``min_score`` are decoded, merged by ``weighted_nms`` and mapped back to frame pixels.

    Raises:
        ModelError: the model file is missing or does not load.
    """

    _RAW_SCORE_LIMIT = 80.0  # keeps exp() in float32 range, as MediaPipe's decoders do

    def __init__(self, config: BlazeFaceConfig | None = None) -> None:
        self.config = config or BlazeFaceConfig()
        if self.config.model not in _BLAZEFACE_MODELS:
            raise LightEmoError(
                "detector option model",
                f"must be one of {sorted(_BLAZEFACE_MODELS)}, got {self.config.model!r}",
            )
        self._model = _BLAZEFACE_MODELS[self.config.model]
        path = blazeface_model_path(self._model.filename)
        try:
            self._interpreter = Interpreter(
                model_path=str(path), num_threads=self.config.num_threads
            )
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(path, f"cannot load the BlazeFace model: {exc}") from exc
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {d["shape"][-1]: d["index"] for d in self._interpreter.get_output_details()}
        self._regressors, self._scores = outputs[16], outputs[1]
        self._anchors = ssd_anchor_centres(self._model.size, self._model.grids)
        self._tensor = np.full((1, self._model.size, self._model.size, 3), -1.0, np.float32)
        self._frame_size: tuple[int, int] | None = None  # the size the padding was made for

    def detect(self, frame: Frame) -> FaceDetections:
        """Faces in ``frame``; see ``Detector``."""
        cfg, size = self.config, self._model.size
        h, w = frame.height, frame.width
        scale = size / max(h, w)
        rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
        pad_x, pad_y = (size - rw) // 2, (size - rh) // 2
        small = frame.shrunk(rw, rh)
        if self._frame_size != (w, h):  # another shape: blank the bars its pixels may have left
            self._tensor.fill(-1.0)
            self._frame_size = (w, h)
        self._tensor[0, pad_y : pad_y + rh, pad_x : pad_x + rw] = small[:, :, ::-1] / 127.5 - 1.0
        self._interpreter.set_tensor(self._input, self._tensor)
        self._interpreter.invoke()
        raw_score = self._interpreter.get_tensor(self._scores)[0, :, 0]
        raw_score = np.clip(raw_score, -self._RAW_SCORE_LIMIT, self._RAW_SCORE_LIMIT)
        score = 1.0 / (1.0 + np.exp(-raw_score))
        hit = np.flatnonzero(score >= _lowest_score(cfg))
        if hit.size == 0:
            return FaceDetections.empty(frame.frame_index, frame.timestamp_s)
        reg = self._interpreter.get_tensor(self._regressors)[0, hit, :4]
        centre = self._anchors[hit] * size + reg[:, :2]  # input pixels
        half = reg[:, 2:4] / 2
        xyxy = np.concatenate([centre - half, centre + half], axis=1)
        xyxy = (xyxy - [pad_x, pad_y, pad_x, pad_y]) / scale  # frame pixels
        xyxy, score = _merge_weak_apart(
            xyxy.astype(np.float32), score[hit].astype(np.float32), cfg.min_score, cfg.nms_iou
        )
        return _finish(frame, xyxy, score, cfg)


def _blazeface(**preset: object) -> Callable[..., Detector]:
    """A factory whose ``preset`` config fields the caller's keywords override."""
    return lambda **config: BlazeFaceDetector(BlazeFaceConfig(**{**preset, **config}))


DETECTORS: dict[str, Callable[..., Detector]] = {
    "haar": lambda **config: HaarDetector(HaarConfig(**config)),
    "blazeface": _blazeface(model="short", min_score=0.8),
    "blazeface-full": _blazeface(model="full", min_score=0.6),
}
"""Detector name (the CLI's ``--detector``) -> factory taking config fields as keywords.

``blazeface`` (short range) raises ``min_score`` to 0.8: at 0.5 it finds a face in 19% of
the cockatoo clip's frames, at 0.8 in none, while real faces score 0.89 or more.
``blazeface-full`` uses 0.6: at 0.5 it boxes a spoon in the demo clip's coffee shot
(score 0.56); at 0.6 it still finds faces in 94% of the 1080p crowd clip's frames
(2.0 per frame), at 0.65 only in 70%.
"""

DEFAULT_DETECTOR = "blazeface-full"
"""Chosen by ``python -m lightemo_video.jobs.measure_detectors``; see
``jobs/detector_report.md``."""


@functools.cache
def score_threshold(name: str = DEFAULT_DETECTOR) -> float:
    """The ``min_score`` of detector ``name`` as ``make_detector`` builds it: faces below it
    are weak (tracking only, never rows)."""
    return make_detector(name).config.min_score


def make_detector(name: str = DEFAULT_DETECTOR, **config: object) -> Detector:
    """Builds the detector called ``name`` with config fields given as keywords.

    Args:
        name: a key of ``DETECTORS``.
        **config: fields of the detector's config dataclass, e.g. ``min_score=0.6``.

    Raises:
        LightEmoError: unknown name or option; ``ModelError`` when the model is missing.

    Example:
        >>> make_detector("haar", max_side=320).detect(frame)
    """
    if name not in DETECTORS:
        choices = ", ".join(DETECTORS)
        raise LightEmoError("--detector", f"unknown detector {name!r}; choose one of {choices}")
    try:
        return DETECTORS[name](**config)
    except TypeError as exc:
        raise LightEmoError("--detector", f"bad option for detector {name!r}: {exc}") from exc
