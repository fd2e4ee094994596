"""The Python API: analyse videos and get the tables back as pandas DataFrames.

Example:
    >>> from lightemo_video import analyze
    >>> result = analyze("interview.mp4")                 # tables in memory, nothing kept on disk
    >>> results = analyze(["a.mp4", "b.mov"], out="outputs")  # the CLI's files, plus the tables
    >>> results = analyze(["s3://recordings/day1/", "c.mp4"], out="s3://results/run1/")
    >>> result.faces, result.timeline, result.detections, result.run
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lightemo_video.model.errors import InputError


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
        lightemo_video.model.errors.LightEmoError: for one path given alone that cannot be analysed (in a list, a
            bad input is a result with status ``failed`` and the rest complete).
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
    config = AnalyzeConfig(sample_fps=sample_fps, model=model, tta=tta, smoothing=Smoothing(smoothing, dwell_s))
    config.fingerprint()  # a bad model or option fails here, before Ray starts
    with tempfile.TemporaryDirectory(prefix="lightemo-") as scratch, open_output(out or scratch) as target:
        if out is not None:
            target.check_writable()
        reports = analyze_videos(videos, target, config, workers, ray_address, force) if videos else []
        results = [_result(r, target, keep=out is not None and not storage.is_url(out)) for r in reports]
    results += [
        AnalysisResult(storage.stem_of(e.source), e.source if storage.is_url(e.source) else Path(e.source),
                       "failed", e.reason)
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
    tables = {name.removesuffix(".parquet"): pd.read_parquet(folder / name) for name in outputs.TABLES}
    run = outputs.read_json(folder / outputs.RUN)
    return AnalysisResult(report.video_id, report.path, report.status, None, **tables, run=run,
                          folder=folder if keep else None)

