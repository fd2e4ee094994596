"""lightemo-video: per-face emotion timelines from recordings and live cameras.

Example:
    >>> import lightemo_video
    >>> result = lightemo_video.analyze("interview.mp4")
    >>> result.faces[["face_id", "emotion", "first_seen_s", "last_seen_s"]]
    >>> result.timeline.groupby("second")["emotion"].agg(lambda s: s.mode()[0])

The subpackages ``lightemo_video.pipeline`` (analysis), ``lightemo_video.model`` (the
network and its runtime) and ``lightemo_video.jobs`` (training, evaluation, benchmarks)
hold the rest; importing this package starts nothing and does not import TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

# In a source checkout the subpackages are the repository's top-level folders; installed,
# they sit inside this package.
_checkout = Path(__file__).resolve().parent.parent
if (
    not (Path(__file__).resolve().parent / "pipeline").is_dir()
    and (_checkout / "pipeline" / "__init__.py").is_file()
):
    __path__.append(str(_checkout))  # noqa: F821 (the package's own __path__)

from lightemo_video.api import AnalysisResult, ImageAnalyzer, analyze, analyze_image  # noqa: E402

__all__ = ["AnalysisResult", "ImageAnalyzer", "analyze", "analyze_image", "__version__"]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from lightemo_video.pipeline.versions import tool_version

        return tool_version()
    raise AttributeError(name)
