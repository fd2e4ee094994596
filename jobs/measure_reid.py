"""Re-identification measurements: detector boxes and appearance signatures of a few clips
are computed once (the task's work), then replayed through tracker settings (the driver's
work), so every setting sees the same boxes. Results go in ``jobs/tracking_report.md``.

Run:
``python -m lightemo_video.jobs.measure_reid CACHE_DIR [--bench BENCH_DIR] [--clips CLIP ...]``.
"""

from __future__ import annotations

import argparse
import pickle
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from lightemo_video.jobs.video_benchmark import TRUTH_FILE, detection_scores
from lightemo_video.pipeline.analyze import AnalyzeConfig
from lightemo_video.pipeline.appearance import APPEARANCE_DIM, appearance_vectors
from lightemo_video.pipeline.detect import make_detector, score_threshold
from lightemo_video.pipeline.records import FaceDetections
from lightemo_video.pipeline.sources import VideoFileSource, probe_video
from lightemo_video.pipeline.track import (
    ConfirmedFaces,
    FaceTracker,
    SceneCutDetector,
    TrackerConfig,
)


def detect_clip(
    path: Path, config: AnalyzeConfig
) -> tuple[list[FaceDetections], list[bool], float]:
    """Every analysed frame's boxes (weak ones too) with signatures of the confident ones,
    scene cuts, and the mean milliseconds the signatures took per frame."""
    detector = make_detector(config.detector, weak_score=config.tracker.weak_score)
    min_score = score_threshold(config.detector)
    scenes = SceneCutDetector(config.scene_cut)
    records, cuts, spent = [], [], 0.0
    for frame in VideoFileSource(probe_video(path), config.sample_fps):
        faces = detector.detect(frame)
        keep = faces.score >= min_score
        began = time.perf_counter()
        looks = np.zeros((len(faces), APPEARANCE_DIM), np.float32)
        looks[keep] = appearance_vectors(frame, faces.xyxy[keep])
        spent += time.perf_counter() - began
        records.append(faces.with_appearance(looks))
        cuts.append(scenes.is_cut(frame))
    return records, cuts, 1000 * spent / max(len(records), 1)


def replay(
    video_id: str, records: list, cuts: list, tracker: TrackerConfig, min_score: float
) -> tuple[pd.DataFrame, float]:
    """Rows (video_id, frame_index, face_id, x, y, w, h) a tracker gives, and its ms per frame."""
    tracking = ConfirmedFaces(FaceTracker(tracker, min_score=min_score))
    began = time.perf_counter()
    out = [r for faces, cut in zip(records, cuts, strict=True) for r in tracking.push(faces, cut)]
    out += tracking.flush()
    ms = 1000 * (time.perf_counter() - began) / max(len(records), 1)
    rows = [
        {
            "video_id": video_id,
            "frame_index": r.frame_index,
            "face_id": int(i),
            "x": b[0],
            "y": b[1],
            "w": b[2] - b[0],
            "h": b[3] - b[1],
        }
        for r in out
        for i, b in zip(r.face_id, r.xyxy, strict=True)
    ]
    return pd.DataFrame(
        rows, columns=["video_id", "frame_index", "face_id", "x", "y", "w", "h"]
    ), ms


def cached(cache: Path, path: Path, config: AnalyzeConfig) -> tuple:
    file = cache / f"{path.parent.name}-{path.stem}-{config.sample_fps:g}.pkl"
    if not file.exists():
        file.write_bytes(pickle.dumps(detect_clip(path, config)))
    return pickle.loads(file.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cache", type=Path)
    parser.add_argument("--bench", type=Path, nargs="*", default=[])
    parser.add_argument("--clips", type=Path, nargs="*", default=[])
    parser.add_argument(
        "--thresholds", type=float, nargs="*", default=[0.0, 0.2, 0.25, 0.3, 0.35, 0.4]
    )
    parser.add_argument("--margin", type=float, default=TrackerConfig.reid_margin)
    parser.add_argument("--sample-fps", type=float, default=AnalyzeConfig.sample_fps)
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    config = AnalyzeConfig(sample_fps=args.sample_fps)
    min_score = score_threshold(config.detector)
    settings = {
        f"reid<{t:g}" if t else "no reid": replace(
            TrackerConfig(),
            reid_threshold=t,
            reid_margin=args.margin,
            reid_window_s=60.0 if t else 0.0,
        )
        for t in args.thresholds
    }
    for clip in args.clips:
        records, cuts, look_ms = cached(args.cache, clip, config)
        for name, tracker in settings.items():
            rows, ms = replay(clip.stem, records, cuts, tracker, min_score)
            print(
                f"{clip.name} {name}: {rows['face_id'].nunique()} ids, {len(rows)} rows, "
                f"tracking {ms:.2f} ms/frame, signatures {look_ms:.2f} ms/frame"
            )
    for bench in args.bench:
        truth = pd.read_parquet(bench / TRUTH_FILE)
        raw = replace(config, sample_fps=0)
        clips = {p.stem: cached(args.cache, p, raw) for p in sorted(bench.glob("clip-*.mp4"))}
        for name, tracker in settings.items():
            rows = pd.concat(
                [replay(v, r, c, tracker, min_score)[0] for v, (r, c, _) in clips.items()]
            )
            s = detection_scores(truth, rows)
            print(
                f"{bench.name} {name}: IDF1 {s['idf1']}, id switches {s['id_switches']}, "
                f"ids {s['ids']} "
                f"(true people {s['true_people']}), recall {s['recall']}"
            )


if __name__ == "__main__":
    main()
