"""``bench``'s price of a face against a frame: the emotion model's budget as a ratio that
holds on any CPU."""

import subprocess

import imageio_ffmpeg
from lightemo_video.jobs.bench import stage_costs
from lightemo_video.pipeline.analyze import AnalyzeConfig


def test_a_face_is_priced_against_a_frame_for_each_model(demo_clip):
    full = stage_costs(demo_clip, AnalyzeConfig(model="ferplus", tta="flip"), frames=10, repeats=1)
    half = stage_costs(demo_clip, AnalyzeConfig(model="fast", tta="none"), frames=10, repeats=1)
    for costs in (full, half):
        assert costs["frames"] == 10 and costs["faces"] >= 10
        assert costs["detector_ms_per_frame"] > 0 and costs["model_ms_per_face"] > 0
        ratio = costs["model_ms_per_face"] / costs["detector_ms_per_frame"]
        assert abs(costs["face_to_frame"] - ratio) < 0.01
    # Two passes of the default network against one of a network with a sixth of its work:
    # an ordering, not a ratio (fixed costs per call make small networks dearer than their
    # arithmetic).
    assert full["model_ms_per_face"] > 1.3 * half["model_ms_per_face"]


def test_a_clip_without_faces_has_no_price(tmp_path):
    clip = tmp_path / "grey.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=gray:s=320x240:d=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(clip),
        ],
        check=True,
    )
    assert stage_costs(clip, AnalyzeConfig(), frames=5, repeats=1) == {"frames": 0}
