"""What the default options say about real people on the sample clips (skipped when
../shared is absent): a neutral crowd reads neutral, a smiling speaker is not afraid, and
labels do not flicker."""

from __future__ import annotations

import pandas as pd
import pytest
from lightemo_video.pipeline.analyze import AnalyzeConfig
from lightemo_video.pipeline.orchestration import analyze_videos

from tests.conftest import shared_path


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> dict[str, pd.DataFrame]:
    clips = [
        shared_path("sample_videos", name)
        for name in ("facenet_pytorch_video.mp4", "fer_woman2.mp4")
    ]
    out = tmp_path_factory.mktemp("truth")
    reports = analyze_videos(clips, out, AnalyzeConfig(), workers=2)
    assert all(r.status == "ok" for r in reports)
    return {r.video_id: pd.read_parquet(out / r.video_id / "detections.parquet") for r in reports}


def test_a_walking_crowd_reads_mostly_neutral(analysed):
    shares = analysed["facenet_pytorch_video"]["smoothed_emotion"].value_counts(normalize=True)
    assert shares.get("neutral", 0) >= 0.5, shares.to_dict()


def test_a_smiling_speaker_is_not_afraid_and_does_not_flicker(analysed):
    rows = analysed["fer_woman2"]
    shares = rows["smoothed_emotion"].value_counts(normalize=True)
    assert shares.get("fear", 0) <= 0.05, shares.to_dict()
    main = rows[rows["face_id"] == rows["face_id"].value_counts().index[0]].sort_values(
        "frame_index"
    )
    changes = (main["smoothed_emotion"] != main["smoothed_emotion"].shift())[1:].mean()
    raw = (main["emotion"] != main["emotion"].shift())[1:].mean()
    assert changes <= 0.10 and changes < raw, (changes, raw)
