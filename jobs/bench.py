"""End-to-end throughput benchmark of ``analyze`` against decode-only speed (and, when
asked, the ``fer`` package's ``Video.analyze`` on the same file, measured side by side).

Run as ``lightemo-video bench`` or ``python -m lightemo_video.jobs.bench``. Figures go to
``OUT/bench.json``; they are measurements of this machine at this moment, not targets.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import pandas as pd
from lightemo_video.jobs.machine import describe
from lightemo_video.model.runtime import resolve_model, test_time_augmentation
from lightemo_video.pipeline.analyze import AnalyzeConfig
from lightemo_video.pipeline.orchestration import analyze_videos, init_ray, use_cluster_token
from lightemo_video.pipeline.outputs import write_json
from lightemo_video.pipeline.records import Frame
from lightemo_video.pipeline.sources import VideoFileSource, probe_video
from lightemo_video.pipeline.track import SceneCutDetector

DEFAULT_CLIP = Path("../shared/sample_videos/face2face_demo_obama.mp4")
DETECTOR_INPUT = (192, 108)  # the default detector's picture of a 16:9 frame


def decode_fps(path: Path, repeats: int = 3) -> dict:
    """Frames per CPU second of decoding on one thread, best of ``repeats``, interleaved.

    ``pyav``: the pipeline's source (PyAV, presentation times, pixels left as decoded);
    ``pyav_bgr``: the same, each whole frame converted to BGR; ``opencv``: OpenCV's
    reader, which always converts to BGR. ``*_ready``: each frame also made ready for
    the stages that look at every frame (detector input and scene signature), the work a
    face-free frame costs before the detector runs.
    """
    cv2.setNumThreads(1)
    info = probe_video(path)
    size = DETECTOR_INPUT

    def pyav(convert: bool = False, ready: bool = False) -> int:
        frames = 0
        for frame in VideoFileSource(info, sample_fps=0, threads=1):
            frames += 1
            if convert:
                frame.image  # noqa: B018 (the conversion is what is timed)
            if ready:
                frame.shrunk(*size)
                SceneCutDetector.signature(frame)
        return frames

    def opencv(ready: bool = False) -> int:
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        frames = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            frames += 1
            if ready:
                frame = Frame(frames, 0.0, image)
                frame.shrunk(*size)
                SceneCutDetector.signature(frame)
        cap.release()
        return frames

    runs = {
        "pyav": pyav,
        "pyav_bgr": lambda: pyav(convert=True),
        "opencv": opencv,
        "pyav_ready": lambda: pyav(ready=True),
        "opencv_ready": lambda: opencv(ready=True),
    }
    best = dict.fromkeys(runs, 0.0)
    for _ in range(repeats):
        for name, decode in runs.items():
            began = time.process_time()
            frames = decode()
            best[name] = max(best[name], round(frames / (time.process_time() - began), 1))
    return best


def _decode_figures(fps: dict) -> dict:
    return {
        "decode_only_frames_per_s": fps["pyav"],
        "decode_only_opencv_frames_per_s": fps["opencv"],
        "decode_frames_per_cpu_s": fps,
    }


def analyze_fps(path: Path, config: AnalyzeConfig) -> dict:
    """Analyse every frame of ``path`` on Ray (already started, so start-up is not timed)
    and report frames/s plus how often a face was found and how often more than one."""
    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        [report] = analyze_videos([path], Path(out), config, force=True)
        wall = time.perf_counter() - began
        if report.status != "ok":
            raise RuntimeError(f"{path}: {report.reason}")
        rows = pd.read_parquet(Path(out) / report.video_id / "detections.parquet")
    per_frame = rows.groupby("frame_index").size()
    return {
        "frames_analysed": report.frames_analysed,
        "seconds": round(wall, 2),
        "frames_per_s": round(report.frames_analysed / wall, 1),
        "frames_with_face": round(len(per_frame) / report.frames_analysed, 4),
        "frames_with_more_than_one_face": int((per_frame > 1).sum()),
        "face_tracks": int(rows["face_id"].nunique()),
    }


def peer_fps(python: str, clip: Path, script: Path) -> dict:
    """Run the ``fer`` peer's timing script in its own interpreter; parse its one line."""
    with tempfile.TemporaryDirectory() as scratch:  # fer writes data.csv into its cwd
        done = subprocess.run(
            [python, str(script.resolve()), str(clip.resolve())],
            capture_output=True, text=True, check=True, cwd=scratch,
        )
    line = next(l for l in done.stdout.splitlines() if l.startswith("fer "))
    fields = dict(item.split("=") for item in line.split()[1:])
    return {k: float(v) for k, v in fields.items()}


def bench(
    clip: Path = DEFAULT_CLIP,
    out_dir: Path = Path("outputs/bench"),
    workers: int | None = None,
    ray_address: str | None = None,
    detector: str | None = None,
    peer_python: str | None = None,
    model: str | None = None,
    tta: str | None = None,
) -> dict:
    """Decode-only and end-to-end frames/s on ``clip`` (every frame analysed) with the
    given detector, model and test-time augmentation (``None``: the defaults)."""
    use_cluster_token(ray_address)
    import ray

    info = probe_video(clip)
    config = AnalyzeConfig(
        sample_fps=0, segment_frames=128, model=model, tta=tta, **({"detector": detector} if detector else {})
    )
    config.fingerprint()  # a bad --model or --tta fails here, in one line, before Ray starts
    result = {
        "clip": str(clip),
        "resolution": f"{info.width}x{info.height}",
        "frames": info.frame_count,
        "cpus": os.cpu_count(),
        "machine": describe(),
        "detector": config.detector,
        "model": resolve_model(model).stem.split(".")[0],
        "tta": tta or test_time_augmentation(resolve_model(model)),
        **_decode_figures(decode_fps(clip)),
    }
    init_ray(workers, ray_address)
    try:
        analyze_fps(clip, config)  # warm-up: every worker loads the model once
        result["analyze"] = analyze_fps(clip, config)
    finally:
        ray.shutdown()
    if peer_python:
        script = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "peer_fer_video.py"
        result["fer_peer"] = peer_fps(peer_python, clip, script)
        result["speedup_vs_fer"] = round(result["analyze"]["frames_per_s"] / result["fer_peer"]["fps"], 1)
    write_json(out_dir / "bench.json", result)
    return result


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
