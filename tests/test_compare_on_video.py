"""The real-video model comparison: its per-clip summary, and one real run."""

from __future__ import annotations

import pandas as pd
from lightemo_video.jobs.compare_on_video import clip_summary, compare

from tests.conftest import DEMO_CLIP


def test_flicker_counts_changes_within_each_face():
    rows = pd.DataFrame(
        {
            "face_id": [1, 1, 1, 1, 2, 2],
            "frame_index": [0, 1, 2, 3, 0, 1],
            "emotion": ["happy", "happy", "sad", "sad", "neutral", "neutral"],
            "confidence": [0.5] * 6,
        }
    )
    summary = clip_summary(rows)
    assert summary["flicker"] == 0.25  # 1 change in 4 consecutive pairs (3 of face 1, 1 of face 2)
    assert summary["emotions"] == "happy 33%, sad 33%, neutral 33%"
    assert summary["faces_analysed"] == 6 and summary["confidence"] == 0.5


def test_compare_runs_each_model_on_each_clip(tmp_path):
    table = compare(["paper", "plus"], [DEMO_CLIP], tmp_path, sample_fps=2)
    assert table["model"].tolist() == ["paper", "plus"]
    assert (table["faces_analysed"] > 0).all() and table["clip"].eq(DEMO_CLIP.stem).all()
