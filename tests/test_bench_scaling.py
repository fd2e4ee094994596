"""``bench --scaling``'s long file and its nodes estimate (the timing itself runs by hand)."""

from __future__ import annotations

from lightemo_video.jobs.bench import concat_clip, nodes_needed
from lightemo_video.pipeline.sources import probe_video

from tests.conftest import DEMO_CLIP


def test_the_long_file_is_the_clip_repeated_without_re_encoding(tmp_path):
    one = probe_video(DEMO_CLIP)
    long = probe_video(concat_clip(DEMO_CLIP, 3, tmp_path))
    assert long.frame_count == 3 * one.frame_count
    assert abs(long.duration_s - 3 * one.duration_s) < 0.1
    assert (long.width, long.height) == (one.width, one.height)


def test_the_nodes_estimate_follows_from_the_figures():
    measured = {
        "fps": 30.0,
        "decode_only_frames_per_s": 300.0,  # 0.1 worker-s of decoding per video second
        "runs": [
            {"workers": 1, "realtime_factor": 2.0, "efficiency": 1.0},  # 0.5 worker-s per video s
            {"workers": 2, "realtime_factor": 3.6, "efficiency": 0.9},
        ],
    }
    estimate = nodes_needed(measured, hours_per_day=864, cores_per_node=8, pixel_factor=2.0)
    # 864 h a day = 36 video seconds per second, each 0.5 + 0.1 worker-s at 1080p, at 90 %.
    assert estimate["worker_seconds_per_video_second_1080p"] == 0.6
    assert estimate["cores"] == 24 and estimate["nodes"] == 3
