"""Compare emotion models on real video, where there are no labels to score against.

For each model, ``lightemo-video analyze`` runs on the same clips; per clip we report what a
person can check by watching: the share of analysed faces per emotion, the mean confidence
and how often a face's emotion changes from one analysed frame to the next (flicker; real
expressions change far less often than every 0.1 s). Run as
``python -m lightemo_video.jobs.compare_on_video plus ferplus paper``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

CLIPS = [
    Path("../shared/sample_videos/face2face_demo_obama.mp4"),
    Path("../shared/sample_videos/fer_woman2.mp4"),
    Path("../shared/sample_videos/facenet_pytorch_video.mp4"),
]


def clip_summary(detections: pd.DataFrame) -> dict:
    """Emotion shares, mean confidence and flicker of one analysed clip."""
    rows = detections.sort_values(["face_id", "frame_index"])
    previous = rows.groupby("face_id")["emotion"].shift()
    changed = (rows["emotion"] != previous)[previous.notna()]
    shares = rows["emotion"].value_counts(normalize=True).round(2)
    return {
        "faces_analysed": len(rows),
        "confidence": round(float(rows["confidence"].mean()), 3),
        "flicker": round(float(changed.mean()), 3) if len(changed) else None,
        "emotions": ", ".join(f"{e} {s:.0%}" for e, s in shares.items() if s >= 0.05),
    }


def compare(models: list[str], clips: list[Path], out: Path, sample_fps: float) -> pd.DataFrame:
    """Analyse ``clips`` with each model into ``out/<model>/`` and summarise each clip."""
    rows = []
    for model in models:
        folder = out / model.replace("/", "_")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "lightemo_video.cli",
                "analyze",
                *map(str, clips),
                "--out",
                str(folder),
                "--model",
                model,
                "--sample-fps",
                str(sample_fps),
            ],
            check=True,
        )
        for clip in clips:
            detections = pd.read_parquet(folder / clip.stem / "detections.parquet")
            rows.append({"model": model, "clip": clip.stem, **clip_summary(detections)})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="shipped model names or model files")
    parser.add_argument("--clips", nargs="*", type=Path, default=CLIPS)
    parser.add_argument("--out", type=Path, default=Path("outputs/compare"))
    parser.add_argument("--sample-fps", type=float, default=10.0)
    args = parser.parse_args()
    clips = [c for c in args.clips if c.is_file()]
    if not clips:
        sys.exit("no clips found: " + ", ".join(map(str, args.clips)))
    table = compare(args.models, clips, args.out, args.sample_fps)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
