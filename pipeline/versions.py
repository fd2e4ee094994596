"""Versions of the tool and the libraries that decide its results (for run.json)."""

from __future__ import annotations

from importlib import metadata


def versions() -> dict[str, str]:
    """Installed versions of lightemo-video and its result-relevant dependencies."""
    out = {}
    for dist in (
        "lightemo-video",
        "opencv-python-headless",
        "ai-edge-litert",
        "numpy",
        "ray",
        "pyarrow",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def tool_version() -> str:
    """This package's installed version ("unknown" when run from a checkout not installed)."""
    try:
        return metadata.version("lightemo-video")
    except metadata.PackageNotFoundError:
        return "unknown"
