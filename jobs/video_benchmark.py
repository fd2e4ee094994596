"""A labelled video benchmark made from FER2013 faces, and its scoring.

Single images do not show what users see on video: detector misses, flicker, faces that
move, cross and leave. Here each clip is rendered from labelled faces, so every frame has a
truth: which face is where and which emotion it shows.

Rendering: a FER2013 face is a tight 48x48 grayscale crop, which detectors barely find when
pasted as a square (BlazeFace full-range found 20-46% of them at 150-250 px). Drawn as a
person (skin-tinted face with feathered oval edges over a head of hair, neck and
shoulders) on a 640x360 frame, BlazeFace full-range finds 84% at 60 px and 96-98% at
100-160 px; the measured rate of each build is in its ``benchmark.json``. Each person holds an
expression for 1-4 s (a new face image of that emotion), sometimes neutral, drifts with
jitter, may cross others or leave and come back; lighting, blur, noise and H.264
compression vary by clip. Everything follows from the seed.

Scoring runs the real ``analyze`` path on the clips and matches its detections to the true
boxes (Hungarian, IoU), and separately classifies the true boxes directly ("oracle boxes"),
so detector misses and classifier errors are never confused.

Example:
    >>> build_benchmark(
    ...     Path("../shared/datasets/fer2013"), Path("outputs/video-bench/validation"), "validation"
    ... )
    >>> score_benchmark(Path("outputs/video-bench/validation"), AnalyzeConfig(model="ferplus"))
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
from lightemo_video.jobs.evaluate import classification_metrics, confidence_gap
from lightemo_video.model.data import FaceSet, load_faces, stratified_split
from lightemo_video.model.errors import DataError
from lightemo_video.model.ferplus import DEFAULT_FERPLUS_DIR, vote_distributions
from lightemo_video.model.labels import EMOTIONS, NUM_CLASSES
from lightemo_video.pipeline.analyze import AnalyzeConfig, Stages, smoothing_prior
from lightemo_video.pipeline.outputs import write_json
from lightemo_video.pipeline.records import FaceDetections
from lightemo_video.pipeline.smoothing import Smoothing, smooth_detections
from lightemo_video.pipeline.track import iou_matrix
from scipy.optimize import linear_sum_assignment

TRUTH_FILE = "truth.parquet"
SPLITS = ("validation", "test")


@dataclass(frozen=True)
class BenchmarkSpec:
    """What a benchmark build looks like; stored in ``benchmark.json``."""

    clips: int = 16
    seconds: float = 8.0
    fps: float = 10.0  # the analysis rate of ``analyze``'s default, so every frame is analysed
    width: int = 640
    height: int = 360
    face_px: tuple[int, int] = (60, 160)
    max_people: int = 4
    seed: int = 0


# ----- building ---------------------------------------------------------------------------


def benchmark_faces(
    data: Path, split: str, ferplus_dir: Path = DEFAULT_FERPLUS_DIR
) -> tuple[FaceSet, np.ndarray]:
    """The faces a split draws from, and their FER+ plurality labels (-1 where FER+ has none).

    ``validation`` is the slice of FER2013 train that shipped models are selected on
    (10%, seed 42, as their recipes draw it); ``test`` is PublicTest.
    """
    if split not in SPLITS:
        raise DataError("--split", f"unknown split {split!r}; choose validation or test")
    if split == "validation":
        faces = load_faces(data, split="train" if data.is_dir() else "Training")
        _, index = stratified_split(faces.labels, 0.1, seed=42)
        faces = faces.subset(index)
    else:
        faces = load_faces(data, split="test" if data.is_dir() else "PublicTest")
    try:
        usable, votes = vote_distributions(faces, ferplus_dir)
        ferplus = np.where(usable, votes.argmax(axis=1), -1)
    except DataError:
        ferplus = np.full(len(faces), -1)
    return faces, ferplus


def build_benchmark(
    data: Path,
    out_dir: Path,
    split: str,
    spec: BenchmarkSpec = BenchmarkSpec(),
    ferplus_dir: Path = DEFAULT_FERPLUS_DIR,
) -> Path:
    """Render ``spec.clips`` clips (``clip-NNN.mp4``) and ``truth.parquet`` into ``out_dir``."""
    faces, ferplus = benchmark_faces(Path(data), split, Path(ferplus_dir))
    rng = np.random.default_rng(spec.seed + (0 if split == "validation" else 1_000_003))
    by_class = [np.flatnonzero(faces.labels == k) for k in range(NUM_CLASSES)]
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = []
    for clip in range(spec.clips):
        rows = _render_clip(out_dir / f"clip-{clip:03d}.mp4", faces, by_class, spec, rng)
        for row in rows:
            row.update(
                video_id=f"clip-{clip:03d}",
                label=EMOTIONS[faces.labels[row["image"]]],
                label_ferplus=EMOTIONS[ferplus[row["image"]]]
                if ferplus[row["image"]] >= 0
                else None,
                image=faces.names[row["image"]],
            )
        truth += rows
    pd.DataFrame(truth).to_parquet(out_dir / TRUTH_FILE, index=False)
    write_json(out_dir / "benchmark.json", {"split": split, "data": str(data), **asdict(spec)})
    return out_dir


@dataclass
class _Person:
    size: float
    x: float
    y: float
    vx: float
    vy: float
    bounds: tuple[float, float]  # x range the face's left edge moves in (beyond the frame: leaves)
    tint: np.ndarray
    hair: int
    holds: list[tuple[float, int]]  # (start s, face image index)


def _render_clip(
    path: Path, faces: FaceSet, by_class: list, spec: BenchmarkSpec, rng
) -> list[dict]:
    frames = round(spec.seconds * spec.fps)
    people = [
        _person(spec, faces, by_class, rng)
        for _ in range(int(rng.integers(1, spec.max_people + 1)))
    ]
    if len(people) > 1 and rng.random() < 0.5:  # two of them walk towards each other and cross
        a, b = people[0], people[1]
        a.x, a.vx, b.x, b.vx = 0.05 * spec.width, 50.0, 0.75 * spec.width, -50.0
        b.y = a.y + rng.uniform(-20, 20)
    background = _background(spec, rng)
    light = rng.uniform(0.15, 0.35), rng.uniform(0.1, 0.5)  # brightness swing, cycles per second
    blur, noise, crf = rng.uniform(0, 1.2), rng.uniform(0, 6), int(rng.integers(23, 31))
    rows = []
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=int(spec.fps))
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for i in range(frames):
            t = i / spec.fps
            pan = int(8 * math.sin(t / 3))
            image = np.roll(background, pan, axis=1).copy()
            owner = np.zeros(image.shape[:2], np.int16)  # who is in front at each pixel
            boxes = [
                _draw_person(image, owner, pid + 1, person, faces, t, spec, rng)
                for pid, person in enumerate(people)
            ]
            for pid, (person, box) in enumerate(zip(people, boxes, strict=True)):
                x, y, w, h = box
                if (
                    w * h >= 0.6 * person.size**2
                    and (owner[y : y + h, x : x + w] == pid + 1).mean() >= 0.6
                ):
                    rows.append(
                        {
                            "frame_index": i,
                            "timestamp_s": t,
                            "face": pid + 1,
                            "x": x,
                            "y": y,
                            "w": w,
                            "h": h,
                            "image": _image_at(person, t),
                        }
                    )
            gain = 1 + light[0] * math.sin(2 * math.pi * light[1] * t)
            image = cv2.convertScaleAbs(image, alpha=gain)
            if blur > 0.3:
                image = cv2.GaussianBlur(image, (0, 0), blur)
            image = np.clip(image + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode(None))
    return rows


def _person(spec: BenchmarkSpec, faces: FaceSet, by_class: list, rng) -> _Person:
    size = float(rng.uniform(*spec.face_px))
    leaves = rng.random() < 0.3
    bounds = (
        (-1.2 * size, spec.width + 0.2 * size) if leaves else (0.1 * size, spec.width - 1.1 * size)
    )
    holds, t = [], 0.0
    while t < spec.seconds:
        k = EMOTIONS.index("neutral") if rng.random() < 0.25 else int(rng.integers(NUM_CLASSES))
        if len(by_class[k]) == 0:
            k = int(np.argmax([len(c) for c in by_class]))
        holds.append((t, int(rng.choice(by_class[k]))))
        t += rng.uniform(1.0, 4.0)
    return _Person(
        size,
        float(rng.uniform(max(bounds[0], 0), max(bounds[1], 1) - size * 0.1)),
        float(
            rng.uniform(0.15 * spec.height, max(0.15 * spec.height + 1, spec.height - 1.9 * size))
        ),
        float(rng.uniform(-40, 40)) * (2.5 if leaves else 1),
        float(rng.uniform(-8, 8)),
        bounds,
        np.array(
            [rng.uniform(0.7, 0.85), rng.uniform(0.82, 0.92), rng.uniform(1.0, 1.12)], np.float32
        ),
        int(rng.integers(15, 80)),
        holds,
    )


def _image_at(person: _Person, t: float) -> int:
    return [image for start, image in person.holds if start <= t][-1]


def _draw_person(
    image, owner, pid: int, person: _Person, faces: FaceSet, t: float, spec: BenchmarkSpec, rng
):
    """Draw one person at time ``t`` over ``image`` (marking its pixels ``pid`` in
    ``owner``); returns the face's box clipped to the frame (x, y, w, h)."""
    lo, hi = person.bounds
    span = max(hi - lo, 1.0)
    travel = (person.x - lo + person.vx * t) % (2 * span)  # bounce between the bounds
    x = lo + (travel if travel <= span else 2 * span - travel)
    y = person.y + person.vy * math.sin(t)
    s = int(round(person.size * (1 + 0.08 * math.sin(0.7 * t))))
    x, y = int(round(x + rng.normal(0, 1.0))), int(round(y + rng.normal(0, 1.0)))
    face = cv2.resize(faces.images[_image_at(person, t)], (s, s), interpolation=cv2.INTER_CUBIC)
    cx, cy, hair = x + s // 2, y + s // 2, person.hair
    skin = float(np.median(face[s // 3 :, s // 4 : 3 * s // 4]))
    shirt = (hair + 40, hair + 30, hair + 20)
    neck = tuple(int(min(255, skin * c)) for c in person.tint)
    for canvas, colors in ((image, (shirt, neck, (hair,) * 3, None)), (owner, (pid,) * 4)):
        cv2.ellipse(
            canvas,
            (cx, y + int(1.75 * s)),
            (int(1.1 * s), int(0.6 * s)),
            0,
            180,
            360,
            colors[0],
            -1,
        )
        cv2.rectangle(canvas, (cx - s // 5, y + s), (cx + s // 5, y + int(1.3 * s)), colors[1], -1)
        cv2.ellipse(
            canvas, (cx, cy - s // 8), (int(0.62 * s), int(0.7 * s)), 0, 0, 360, colors[2], -1
        )
    mask = np.zeros((s, s), np.float32)
    cv2.ellipse(mask, (s // 2, s // 2), (s // 2, int(0.56 * s)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), s / 30)[..., None]
    tinted = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR).astype(np.float32) * person.tint
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + s, spec.width), min(y + s, spec.height)
    if x1 > x0 and y1 > y0:
        region = image[y0:y1, x0:x1].astype(np.float32)
        m, f = mask[y0 - y : y1 - y, x0 - x : x1 - x], tinted[y0 - y : y1 - y, x0 - x : x1 - x]
        image[y0:y1, x0:x1] = np.clip(m * f + (1 - m) * region, 0, 255).astype(np.uint8)
    return x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)


def _background(spec: BenchmarkSpec, rng) -> np.ndarray:
    """A soft room-like scene: a gradient, some furniture-sized blocks and blobs."""
    h, w = spec.height, spec.width
    top, bottom = rng.integers(60, 200, 3), rng.integers(30, 160, 3)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    image = (top * (1 - ramp) + bottom * ramp).repeat(w, axis=1).astype(np.uint8)
    for _ in range(int(rng.integers(4, 10))):
        color = tuple(int(c) for c in rng.integers(30, 220, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.6:
            cv2.rectangle(
                image,
                (x, y),
                (x + int(rng.integers(40, 200)), y + int(rng.integers(40, 200))),
                color,
                -1,
            )
        else:
            cv2.circle(image, (x, y), int(rng.integers(15, 70)), color, -1)
    return cv2.GaussianBlur(image, (0, 0), 3)


# ----- scoring ----------------------------------------------------------------------------


def score_benchmark(
    bench_dir: Path, config: AnalyzeConfig, out_dir: Path, smoothings: list[Smoothing] | None = None
) -> dict:
    """Analyse every clip with ``config`` (real ``analyze`` on Ray) and score it.

    Returns metrics for the pipeline's own detections and for the true boxes, raw and with
    each smoothing in ``smoothings`` (default: ``config.smoothing``), against FER2013 and
    FER+ labels.
    """
    from lightemo_video.pipeline.orchestration import analyze_videos

    bench_dir, out_dir = Path(bench_dir), Path(out_dir)
    truth = pd.read_parquet(bench_dir / TRUTH_FILE)
    clips = sorted(bench_dir.glob("clip-*.mp4"))
    if not clips:
        raise DataError(bench_dir, "no benchmark clips here; build them first")
    raw_config = replace(config, sample_fps=0, smoothing=Smoothing("none"))
    reports = analyze_videos(clips, out_dir / "analysed", raw_config)
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        raise DataError(failed[0].path, f"analysis failed: {failed[0].reason}")
    detections = pd.concat(
        [
            pd.read_parquet(out_dir / "analysed" / r.video_id / "detections.parquet")
            for r in reports
        ],
        ignore_index=True,
    )
    oracle = classify_true_boxes(bench_dir, truth, raw_config)
    smoothings = smoothings or [config.smoothing]
    result = {
        "clips": len(clips),
        "frames": int(truth.groupby("video_id")["frame_index"].max().add(1).sum()),
        "model": config.model or "default",
        "detection": detection_scores(truth, detections),
    }
    for smoothing in [Smoothing("none"), *[s for s in smoothings if s.method != "none"]]:
        name = (
            smoothing.method
            if smoothing.method == "none"
            else f"{smoothing.method}-{smoothing.dwell_s:g}s"
        )
        prior = smoothing_prior(config)
        smoothed = (
            smooth_detections(detections, smoothing, prior)
            if smoothing.method != "none"
            else detections
        )
        truth_smoothed = (
            smooth_detections(oracle, smoothing, prior) if smoothing.method != "none" else oracle
        )
        result[name] = {
            "pipeline": emotion_scores(truth, smoothed, detected=True),
            "oracle_boxes": emotion_scores(truth, truth_smoothed, detected=False),
        }
    write_json(out_dir / "metrics.json", result)
    return result


def detection_scores(truth: pd.DataFrame, detections: pd.DataFrame) -> dict:
    """Recall and precision of face detection over every frame, and how well face ids
    follow people: id switches along each person's matched frames, and IDF1 (the share of
    rows whose id agrees with the best one-to-one pairing of true people and face ids)."""
    pairs = match(truth, detections)
    switches, id_true_positives = 0, 0
    if len(pairs):
        for _, person in pairs.sort_values("frame_index").groupby(["video_id", "face"]):
            ids = person["face_id"].to_numpy()
            switches += int((ids[1:] != ids[:-1]).sum())
        for _, clip in pairs.groupby("video_id"):
            overlap = pd.crosstab(clip["face"], clip["face_id"]).to_numpy()
            rows, cols = linear_sum_assignment(-overlap)
            id_true_positives += int(overlap[rows, cols].sum())
    return {
        "true_faces": len(truth),
        "detections": len(detections),
        "recall": round(len(pairs) / max(len(truth), 1), 4),
        "precision": round(len(pairs) / max(len(detections), 1), 4),
        "id_switches": switches,
        "idf1": round(2 * id_true_positives / max(len(truth) + len(detections), 1), 4),
        "ids": int(detections.groupby("video_id")["face_id"].nunique().sum()),
        "true_people": int(truth.groupby("video_id")["face"].nunique().sum()),
    }


def match(truth: pd.DataFrame, detections: pd.DataFrame, min_iou: float = 0.3) -> pd.DataFrame:
    """One row per matched (true face, detection) pair: the truth columns plus the
    detection's ``face_id`` and probabilities (Hungarian on IoU, per frame)."""
    found = {key: rows for key, rows in detections.groupby(["video_id", "frame_index"])}
    pairs = []
    for key, people in truth.groupby(["video_id", "frame_index"]):
        rows = found.get(key)
        if rows is None:
            continue
        a = _xyxy(people)
        b = _xyxy(rows)
        iou = iou_matrix(a, b)
        for i, j in zip(*linear_sum_assignment(-iou), strict=True):
            if iou[i, j] >= min_iou:
                pairs.append(
                    {
                        **people.iloc[i].to_dict(),
                        **rows.iloc[j].drop(["x", "y", "w", "h"]).to_dict(),
                    }
                )
    return pd.DataFrame(pairs)


def emotion_scores(truth: pd.DataFrame, rows: pd.DataFrame, detected: bool) -> dict:
    """Per-frame accuracy and macro-F1 of the (smoothed) emotion against both label sets,
    and label changes per second of presence, against the truth's own.

    ``detected``: ``rows`` are the pipeline's detections (matched to the truth by IoU);
    otherwise they are the true boxes, ``face_id`` being the true person."""
    pairs = (
        match(truth, rows)
        if detected
        else truth.merge(
            rows.drop(columns=["x", "y", "w", "h", "timestamp_s"]),
            left_on=["video_id", "frame_index", "face"],
            right_on=["video_id", "frame_index", "face_id"],
        )
    )
    column = "smoothed_emotion" if "smoothed_emotion" in pairs else "emotion"
    predicted = pairs[column].map(EMOTIONS.index).to_numpy()
    confidence = pairs[column.replace("emotion", "confidence")].to_numpy()
    scores = {}
    for labels in ("label", "label_ferplus"):
        known = pairs[labels].notna().to_numpy()
        y = pairs.loc[known, labels].map(EMOTIONS.index).to_numpy()
        m = classification_metrics(y, predicted[known])
        right = (predicted[known] == y).astype(float)
        scores[labels] = {
            "faces": int(known.sum()),
            "accuracy": round(m["accuracy"], 4),
            "macro_f1": round(m["macro_f1"], 4),
            "mean_confidence": round(float(confidence[known].mean()), 4),
            "calibration_error": round(confidence_gap(confidence[known], right), 4),
        }
    changes = truth_changes = seconds = 0.0
    for _, person in pairs.sort_values("frame_index").groupby(["video_id", "face"]):
        said, true = person[column].to_numpy(), person["label"].to_numpy()
        t = person["timestamp_s"].to_numpy()
        steps = np.diff(t) < 0.25  # consecutive analysed frames of this person
        changes += float(((said[1:] != said[:-1]) & steps).sum())
        truth_changes += float(((true[1:] != true[:-1]) & steps).sum())
        seconds += float(np.diff(t)[steps].sum())
    scores["label_changes_per_s"] = round(changes / max(seconds, 1e-9), 3)
    scores["true_changes_per_s"] = round(truth_changes / max(seconds, 1e-9), 3)
    return scores


def classify_true_boxes(
    bench_dir: Path, truth: pd.DataFrame, config: AnalyzeConfig
) -> pd.DataFrame:
    """The classifier's probabilities for every true face box (no detector), as
    detections-like rows with the true person as ``face_id``."""
    from lightemo_video.pipeline.aggregate import detection_rows
    from lightemo_video.pipeline.sources import VideoFileSource, probe_video

    stages = Stages(config)
    tables = []
    for video_id, people in truth.groupby("video_id"):
        by_frame = {i: rows for i, rows in people.groupby("frame_index")}
        frames, found = [], []
        for frame in VideoFileSource(probe_video(bench_dir / f"{video_id}.mp4"), sample_fps=0):
            rows = by_frame.get(frame.frame_index)
            if rows is None:
                continue
            xyxy = _xyxy(rows).astype(np.float32)
            frames.append(frame)
            found.append(
                FaceDetections(
                    frame.frame_index,
                    frame.timestamp_s,
                    xyxy,
                    np.ones(len(rows), np.float32),
                    face_id=rows["face"].to_numpy(),
                )
            )
        classified = [
            record
            for batch in range(0, len(frames), 64)
            for record in stages.classifier.classify(
                frames[batch : batch + 64], found[batch : batch + 64]
            )
        ]
        tables.append(detection_rows(str(video_id), classified).to_pandas())
    return pd.concat(tables, ignore_index=True)


def _xyxy(rows: pd.DataFrame) -> np.ndarray:
    x, y, w, h = (rows[c].to_numpy(np.float64) for c in ("x", "y", "w", "h"))
    return np.column_stack([x, y, x + w, y + h])


def summary_table(results: dict[str, dict]) -> pd.DataFrame:
    """One row per (model, smoothing): per-frame macro-F1 on both label sets, pipeline and
    oracle boxes, and label changes per second."""
    rows = []
    for model, result in results.items():
        for name, scores in result.items():
            if not isinstance(scores, dict) or "pipeline" not in scores:
                continue
            p, o = scores["pipeline"], scores["oracle_boxes"]
            rows.append(
                {
                    "model": model,
                    "smoothing": name,
                    "f1_ferplus": p["label_ferplus"]["macro_f1"],
                    "acc_ferplus": p["label_ferplus"]["accuracy"],
                    "f1_fer2013": p["label"]["macro_f1"],
                    "acc_fer2013": p["label"]["accuracy"],
                    "oracle_f1_ferplus": o["label_ferplus"]["macro_f1"],
                    "oracle_f1_fer2013": o["label"]["macro_f1"],
                    "changes_per_s": p["label_changes_per_s"],
                    "true_changes_per_s": p["true_changes_per_s"],
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Build and score the labelled video benchmark.")
    parser.add_argument("split", choices=SPLITS)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/fer2013"))
    parser.add_argument("--out", type=Path, default=Path("outputs/video-benchmark"))
    parser.add_argument("--models", nargs="+", default=["ferplus", "plus", "fast", "paper"])
    parser.add_argument("--clips", type=int, default=BenchmarkSpec.clips)
    parser.add_argument(
        "--smoothing",
        nargs="*",
        default=[f"{m}:{d:g}" for m in ("ema", "window", "hmm") for d in (0.5, 1.0, 2.0, 4.0)],
        help="METHOD:DWELL_S settings to score beside the raw output",
    )
    args = parser.parse_args()
    bench = args.out / args.split
    if not (bench / TRUTH_FILE).is_file():
        build_benchmark(args.data, bench, args.split, replace(BenchmarkSpec(), clips=args.clips))
    grid = [Smoothing(m, float(d)) for m, d in (item.split(":") for item in args.smoothing)]
    results = {
        m: score_benchmark(bench, AnalyzeConfig(model=m), args.out / f"{args.split}-{m}", grid)
        for m in args.models
    }
    table = summary_table(results)
    (args.out / f"{args.split}-summary.json").write_text(
        json.dumps(
            {
                "table": table.to_dict(orient="records"),
                "detection": {m: r["detection"] for m, r in results.items()},
            },
            indent=1,
        )
    )
    with pd.option_context("display.width", 220, "display.max_rows", 200):
        print(table.to_string(index=False))
        print({m: r["detection"] for m, r in results.items()})


if __name__ == "__main__":
    main()
