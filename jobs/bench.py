"""End-to-end throughput benchmark of ``analyze`` against decode-only speed (and, when
asked, the ``fer`` package's ``Video.analyze`` on the same file, measured side by side),
and how throughput scales with workers on a long file (:func:`scaling`), with the nodes a
daily volume of recordings would need (:func:`nodes_needed`).

Run as ``lightemo-video bench`` or ``python -m lightemo_video.jobs.bench``. Figures go to
``OUT/bench.json``; they are measurements of this machine at this moment, not targets.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import imageio_ffmpeg
import pandas as pd
from lightemo_video.jobs.machine import describe
from lightemo_video.model.runtime import resolve_model, test_time_augmentation
from lightemo_video.pipeline.analyze import AnalyzeConfig, Stages
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


def stage_costs(path: Path, config: AnalyzeConfig, frames: int = 60, repeats: int = 3) -> dict:
    """CPU milliseconds on one thread for the detector on one frame and for the emotion
    model on one face (cropped, prepared and classified alone, with the model's test-time
    augmentation), best of ``repeats`` passes over the first ``frames`` frames with a face.

    ``face_to_frame`` is the emotion model's budget: a face may cost up to what detecting
    one frame costs. Being a ratio measured in one run, it holds on any CPU where the
    milliseconds do not."""
    cv2.setNumThreads(1)
    stages = Stages(config)
    picked = []
    for frame in VideoFileSource(probe_video(path), sample_fps=0, threads=1):
        faces = stages.detector.detect(frame)
        faces = faces.select(faces.score >= stages.min_score)
        if len(faces):
            picked.append((frame, faces))
        if len(picked) == frames:
            break
    if not picked:
        return {"frames": 0}
    detect = face = math.inf
    count = sum(len(faces) for _, faces in picked)
    for _ in range(repeats):
        began = time.process_time()
        for frame, _ in picked:
            stages.detector.detect(frame)
        detect = min(detect, (time.process_time() - began) / len(picked))
        began = time.process_time()
        for frame, faces in picked:
            for one in range(len(faces)):
                stages.classifier.classify([frame], [faces.select([one])])
        face = min(face, (time.process_time() - began) / count)
    return {
        "frames": len(picked),
        "faces": count,
        "detector_ms_per_frame": round(detect * 1000, 3),
        "model_ms_per_face": round(face * 1000, 3),
        "face_to_frame": round(face / detect, 3),
    }


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
            capture_output=True,
            text=True,
            check=True,
            cwd=scratch,
        )
    line = next(text for text in done.stdout.splitlines() if text.startswith("fer "))
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
        sample_fps=0,
        segment_frames=128,
        model=model,
        tta=tta,
        **({"detector": detector} if detector else {}),
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
        "stage_costs": stage_costs(clip, config),
    }
    init_ray(workers, ray_address)
    try:
        analyze_fps(clip, config)  # warm-up: every worker loads the model once
        result["analyze"] = analyze_fps(clip, config)
    finally:
        ray.shutdown()
    if peer_python:
        script = (
            Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "peer_fer_video.py"
        )
        result["fer_peer"] = peer_fps(peer_python, clip, script)
        result["speedup_vs_fer"] = round(
            result["analyze"]["frames_per_s"] / result["fer_peer"]["fps"], 1
        )
    write_json(out_dir / "bench.json", result)
    return result


def concat_clip(clip: Path, repeats: int, folder: Path) -> Path:
    """``clip`` played ``repeats`` times in one file, streams copied (FFmpeg's concat
    demuxer, no re-encoding): a long recording for scaling figures, made in seconds."""
    listing = folder / "concat.txt"
    quoted = str(Path(clip).resolve()).replace("'", "'\\''")
    listing.write_text(f"file '{quoted}'\n" * repeats)
    target = folder / f"{Path(clip).stem}-x{repeats}{Path(clip).suffix}"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-c",
            "copy",
            str(target),
        ],
        check=True,
    )
    return target


def scaling(
    clip: Path = DEFAULT_CLIP,
    out_dir: Path = Path("outputs/bench"),
    repeats: int = 10,
    worker_counts: Sequence[int] = (1, 2),
    sample_fps: float = 10.0,
    cores_per_node: int = 16,
    hours_per_day: float = 1000.0,
) -> dict:
    """Throughput of ``analyze`` on ``clip`` repeated ``repeats`` times, with each of
    ``worker_counts`` workers (an embedded Ray per count, warmed up on ``clip``), the
    scaling efficiency against one worker, and :func:`nodes_needed` from these figures.
    Written to ``OUT/scaling.json``."""
    import ray

    config = AnalyzeConfig(sample_fps=sample_fps)
    config.fingerprint()
    decode = decode_fps(clip)["pyav"]
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        long = concat_clip(clip, repeats, Path(scratch))
        info = probe_video(long)
        for workers in worker_counts:
            init_ray(workers, None)
            try:
                analyze_fps(clip, config)  # warm-up: every worker loads the model once
                run = analyze_fps(long, config)
            finally:
                ray.shutdown()
            runs.append(
                {
                    "workers": workers,
                    "seconds": run["seconds"],
                    "video_frames_per_s": round(info.frame_count / run["seconds"], 1),
                    "analysed_frames_per_s": run["frames_per_s"],
                    "realtime_factor": round(info.duration_s / run["seconds"], 2),
                }
            )
    one = runs[0]["video_frames_per_s"] / runs[0]["workers"]
    for run in runs:
        run["efficiency"] = round(run["video_frames_per_s"] / (run["workers"] * one), 3)
    result = {
        "clip": f"{Path(clip).name} x{repeats}",
        "resolution": f"{info.width}x{info.height}",
        "frames": info.frame_count,
        "duration_s": round(info.duration_s, 1),
        "fps": round(info.fps, 3),
        "sample_fps": sample_fps,
        "machine": describe(),
        "decode_only_frames_per_s": decode,
        "runs": runs,
    }
    result["estimate"] = nodes_needed(result, hours_per_day, cores_per_node)
    write_json(out_dir / "scaling.json", result)
    return result


def nodes_needed(
    scaling_result: dict,
    hours_per_day: float = 1000.0,
    cores_per_node: int = 16,
    pixel_factor: float = 1920 * 1080 / (1280 * 720),
) -> dict:
    """Nodes that keep up with ``hours_per_day`` of 1080p recordings, from a
    :func:`scaling` measurement at 720p.

    Assumptions: one worker per core; decoding costs ``pixel_factor`` times more per frame
    at 1080p (it scales with pixels; the measured 720p decode-only speed gives its share
    of a worker's time) while detection and classification cost the same (they see
    downscaled frames and face crops); the largest measured worker count's efficiency
    holds across a node and across nodes (segments of different files share nothing).
    """
    one = scaling_result["runs"][0]
    widest = scaling_result["runs"][-1]
    worker_s_per_video_s = one["workers"] / one["realtime_factor"]  # 720p, one worker
    decode_s = scaling_result["fps"] / scaling_result["decode_only_frames_per_s"]
    at_1080p = worker_s_per_video_s + (pixel_factor - 1) * decode_s
    video_s_per_s = hours_per_day * 3600 / 86_400
    cores = video_s_per_s * at_1080p / widest["efficiency"]
    return {
        "hours_per_day": hours_per_day,
        "cores_per_node": cores_per_node,
        "worker_seconds_per_video_second_720p": round(worker_s_per_video_s, 3),
        "worker_seconds_per_video_second_1080p": round(at_1080p, 3),
        "efficiency_assumed": widest["efficiency"],
        "cores": math.ceil(cores),
        "nodes": math.ceil(cores / cores_per_node),
    }


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
