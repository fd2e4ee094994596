"""Shared test helpers: where the real media lives and small files the tests write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

# Every Ray the tests start (embedded or `ray start`) listens on loopback only; set before
# Ray is imported, as the CLI does.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEMO_CLIP = ROOT / "sample_videos" / "astronaut_demo.mp4"
FER_TRAIN = SHARED / "datasets" / "fer2013" / "train"
FER_TEST = SHARED / "datasets" / "fer2013" / "test"


def missing_system_component(reason: str) -> NoReturn:
    """Skip a test whose system component (GStreamer, Chromium, an FFmpeg encoder, a
    command) is absent, or fail it when ``CI=true``: CI installs every component
    (``scripts/test.sh``), so there a skip would hide a broken set-up."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and a system component is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test cleanly when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def write_face_folder(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """A class-folder tree of random 48x48 grayscale JPEGs."""
    rng = np.random.default_rng(seed)
    for name, count in per_class.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            cv2.imwrite(
                str(folder / f"img_{i}.jpg"), rng.integers(0, 256, (48, 48), dtype=np.uint8)
            )
    return root


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write BGR frames as an MPEG-4 Part 2 .mp4 with OpenCV (no external encoder)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="session")
def demo_clip() -> Path:
    return DEMO_CLIP
