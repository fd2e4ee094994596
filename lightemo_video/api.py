"""The Python API: analyse videos and get the tables back as pandas DataFrames.

Example:
    >>> from lightemo_video import analyze
    >>> result = analyze("interview.mp4")                 # tables in memory, nothing kept on disk
    >>> results = analyze(["a.mp4", "b.mov"], out="outputs")  # the CLI's files, plus the tables
    >>> results = analyze(["s3://recordings/day1/", "c.mp4"], out="s3://results/run1/")
    >>> result.faces, result.timeline, result.detections, result.run
    >>> ImageAnalyzer()("group.jpg")                       # single pictures: a row per face
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lightemo_video.model.errors import InputError
from lightemo_video.model.labels import EMOTIONS


@dataclass(frozen=True)
class AnalysisResult:
    """One video's outcome and tables (the Parquet schemas of the CLI's files).

    Attributes:
        video_id: the name of its output folder.
        path: the input file, or its URL (credentials masked).
        status: ``ok``, ``skipped`` (already analysed into ``out`` with the same
            parameters; its tables are read back) or ``failed``.
        reason: why it failed, else None.
        detections: one row per (analysed frame, face).
        timeline: one row per (face, second).
        faces: one row per face.
        run: the ``run.json`` facts: input, parameters, model, versions, counts, timings.
        folder: where its files are, or None when ``out`` was not given or is object
            storage.
    """

    video_id: str
    path: Path | str
    status: str
    reason: str | None = None
    detections: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    timeline: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    faces: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    run: dict = field(default_factory=dict, repr=False)
    folder: Path | None = None


def analyze(
    paths: str | Path | Sequence[str | Path],
    out: str | Path | None = None,
    *,
    sample_fps: float = 10.0,
    model: str | None = None,
    smoothing: str = "hmm",
    dwell_s: float = 1.0,
    tta: str | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    force: bool = False,
) -> AnalysisResult | list[AnalysisResult]:
    """Analyse one video (returns an ``AnalysisResult``) or several (returns a list).

    Folders and ``s3://``/``gs://`` prefixes are searched recursively, as on the command
    line, and give a list however many videos they hold; ``http(s)://`` URLs name single
    files. With ``out`` (a folder or an ``s3://`` /
    ``gs://`` prefix) the same files as ``lightemo-video analyze --out`` are written (and
    reused on a rerun); without it the work happens in a temporary folder that is
    removed, and only the tables remain.

    Raises:
        lightemo_video.model.errors.LightEmoError: for one path given alone that cannot be
            analysed (in a list, a bad input is a result with status ``failed`` and the rest
            complete).
    """
    from lightemo_video.pipeline import storage
    from lightemo_video.pipeline.analyze import AnalyzeConfig
    from lightemo_video.pipeline.destinations import open_output
    from lightemo_video.pipeline.orchestration import analyze_videos
    from lightemo_video.pipeline.smoothing import Smoothing
    from lightemo_video.pipeline.sources import find_inputs

    one_path = isinstance(paths, (str, Path))
    videos, missing = find_inputs([paths] if one_path else list(paths))
    single = one_path and _names_a_video(paths, videos)
    if single and missing:
        raise missing[0]
    config = AnalyzeConfig(
        sample_fps=sample_fps, model=model, tta=tta, smoothing=Smoothing(smoothing, dwell_s)
    )
    config.fingerprint()  # a bad model or option fails here, before Ray starts
    with (
        tempfile.TemporaryDirectory(prefix="lightemo-") as scratch,
        open_output(out or scratch) as target,
    ):
        if out is not None:
            target.check_writable()
        reports = (
            analyze_videos(videos, target, config, workers, ray_address, force) if videos else []
        )
        results = [
            _result(r, target, keep=out is not None and not storage.is_url(out)) for r in reports
        ]
    results += [
        AnalysisResult(
            storage.stem_of(e.source),
            e.source if storage.is_url(e.source) else Path(e.source),
            "failed",
            e.reason,
        )
        for e in missing
    ]
    if single:
        [result] = results
        if result.status == "failed":
            raise InputError(result.path, result.reason or "could not be analysed")
        return result
    return results


def _names_a_video(path: str | Path, found: list) -> bool:
    """Whether ``path`` is a video itself rather than a folder or object prefix to search
    (``found``: what searching it gave)."""
    from lightemo_video.pipeline import storage

    if storage.is_url(path):
        return found == [str(path)] or (not found and not str(path).endswith("/"))
    return not Path(path).is_dir()


def _result(report, out, keep: bool) -> AnalysisResult:
    """The tables of one reported video, read from ``out``'s local folder (an
    ``pipeline.destinations.Output``); ``keep``: the folder outlives the call."""
    from lightemo_video.pipeline import outputs

    if report.status == "failed":
        return AnalysisResult(report.video_id, report.path, "failed", report.reason)
    folder = out.folder(report.video_id)
    tables = {
        name.removesuffix(".parquet"): pd.read_parquet(folder / name) for name in outputs.TABLES
    }
    run = outputs.read_json(folder / outputs.RUN)
    return AnalysisResult(
        report.video_id,
        report.path,
        report.status,
        None,
        **tables,
        run=run,
        folder=folder if keep else None,
    )


class ImageAnalyzer:
    """Faces and their emotions in single pictures, with the detector and model loaded once:
    for photos, or frames from a loop of your own. Each picture stands alone (no face ids,
    no smoothing over time); videos and cameras get both from :func:`analyze` and
    ``lightemo-video monitor``. One analyzer serves one thread at a time (the models keep
    state per call): give each thread its own.

    Args:
        model: shipped model name or ``.tflite``/``.keras`` path (``None``: the default).
        detector: face detector name (``None``: the default, as ``analyze`` uses).
        tta: test-time augmentation, ``none`` or ``flip`` (``None``: as the model card says).

    Raises:
        lightemo_video.model.errors.LightEmoError: an unknown model, detector or option.

    Example:
        >>> analyzer = ImageAnalyzer()
        >>> analyzer("group.jpg")[["x", "y", "w", "h", "emotion", "confidence"]]
        >>> ok, frame = cv2.VideoCapture(0).read()
        >>> analyzer(frame)                                    # BGR, as OpenCV gives it
    """

    def __init__(
        self, *, model: str | None = None, detector: str | None = None, tta: str | None = None
    ) -> None:
        from lightemo_video.pipeline.analyze import AnalyzeConfig, Stages

        options = {"detector": detector} if detector is not None else {}
        config = AnalyzeConfig(model=model, tta=tta, batch_frames=1, **options)
        config.fingerprint()  # a bad model or option fails here, in one line
        self._stages = Stages(config)

    def __call__(self, image: np.ndarray | str | Path) -> pd.DataFrame:
        """One row per face found, left to right: ``x y w h`` (pixels, top-left and size),
        ``det_score``, the seven emotion probabilities, ``emotion`` (the most probable) and
        ``confidence`` (its probability), as in ``detections.parquet``.

        Args:
            image: a picture file, or an array: uint8 BGR (h, w, 3), BGRA (h, w, 4) or
                grayscale (h, w).

        Raises:
            lightemo_video.model.errors.InputError: the file cannot be read as a picture,
                or the array is not one.
        """
        from lightemo_video.pipeline.analyze import classify_frames
        from lightemo_video.pipeline.records import Frame

        frame = Frame(0, 0.0, _bgr(image))
        [(_, faces)] = classify_frames([frame], self._stages)
        faces = faces.select(faces.score >= self._stages.min_score)
        order = np.argsort(faces.xyxy[:, 0], kind="stable")
        boxes, probs = faces.xyxy[order], faces.probs[order]
        rows = pd.DataFrame(
            {
                "x": boxes[:, 0],
                "y": boxes[:, 1],
                "w": boxes[:, 2] - boxes[:, 0],
                "h": boxes[:, 3] - boxes[:, 1],
                "det_score": faces.score[order],
                **{emotion: probs[:, i] for i, emotion in enumerate(EMOTIONS)},
            }
        )
        rows["emotion"] = pd.Series([EMOTIONS[i] for i in probs.argmax(axis=1)], dtype=object)
        rows["confidence"] = probs.max(axis=1, initial=0.0)
        return rows


def analyze_image(
    image: np.ndarray | str | Path,
    *,
    model: str | None = None,
    detector: str | None = None,
    tta: str | None = None,
) -> pd.DataFrame:
    """The faces in one picture and their emotions (see :class:`ImageAnalyzer`, which
    loads the detector and model once for many pictures)."""
    return ImageAnalyzer(model=model, detector=detector, tta=tta)(image)


def _bgr(image: np.ndarray | str | Path) -> np.ndarray:
    """The picture as uint8 BGR (h, w, 3), read from a file (turned upright by its EXIF
    orientation) or converted from grayscale or BGRA."""
    import cv2

    if isinstance(image, (str, Path)):
        if not Path(image).is_file():
            raise InputError(str(image), "no such file")
        picture = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if picture is None:
            raise InputError(str(image), "not a picture OpenCV can read")
        return picture
    array = np.asarray(image)
    channels = array.shape[2] if array.ndim == 3 else 1
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or channels not in (1, 3, 4):
        got = f"{array.dtype} {array.shape}"
        raise InputError("image", f"expected a uint8 BGR, BGRA or grayscale array, got {got}")
    if channels == 1:
        return cv2.cvtColor(array.reshape(array.shape[:2]), cv2.COLOR_GRAY2BGR)
    if array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(array)
