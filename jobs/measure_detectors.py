"""Measures the face detectors on the sample clips and photos to pick ``DEFAULT_DETECTOR``.

Every detector sees the same decoded frames, one after the other, so the timings share the
CPU load of the moment (a training job may be running): compare speeds within one run.

Usage:
    python -m lightemo_video.jobs.measure_detectors [--shared ../shared] [--out tables.md]

Prints a markdown table per clip and one for the photos; ``jobs/detector_report.md`` holds
the figures of the run that chose the default and the reasoning.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from lightemo_video.pipeline.detect import Detector, make_detector
from lightemo_video.pipeline.records import Frame

SHARED = Path(__file__).resolve().parents[2] / "shared"

# (label, registry name, config) of each measured detector.
VARIANTS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("haar (score>=0, paper)", "haar", {"min_score": 0.0}),
    ("haar (default)", "haar", {}),
    ("haar max_side=320", "haar", {"max_side": 320}),
    ("blazeface (default)", "blazeface", {}),
    ("blazeface min_score=0.5", "blazeface", {"min_score": 0.5}),
    ("blazeface-full (default)", "blazeface-full", {}),
    ("blazeface-full min_score=0.7", "blazeface-full", {"min_score": 0.7}),
)

# clip -> (frame step, true faces per frame: 1, 0 or None for "several").
CLIPS: dict[str, tuple[int, int | None]] = {
    "face2face_demo_obama.mp4": (3, 1),
    "fer_woman2.mp4": (2, 1),
    "facenet_pytorch_video.mp4": (1, None),
    "imageio_cockatoo.mp4": (2, 0),
}

# photo -> faces a person counts (sample_images/SOURCE.md).
PHOTOS: dict[str, int] = {
    "imageio_astronaut.png": 1,
    "imageio_coffee.png": 0,
    "face_recognition_two_people.jpg": 2,
    "face_classification_test_image.jpg": 6,
}


@dataclass
class Tally:
    """Faces per processed frame and time spent in ``detect``.

    ``seconds`` is wall time, inflated when another job holds the cores; ``cpu_seconds`` is
    the CPU time this process used, closer to the cost on an idle machine.
    """

    counts: list[int] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def add(self, detector: Detector, frame: Frame) -> None:
        start, cpu_start = time.perf_counter(), time.process_time()
        faces = detector.detect(frame)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.process_time() - cpu_start
        self.counts.append(len(faces))


def frames(path: Path, step: int) -> Iterator[Frame]:
    """Yields every ``step``-th ``Frame`` of the video at ``path``."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            if index % step == 0:
                yield Frame(index, index / fps, image)
            index += 1
    finally:
        capture.release()


def clip_table(
    name: str, step: int, truth: int | None, detectors: dict[str, Detector], shared: Path
) -> str:
    """Runs every detector on every ``step``-th frame of clip ``name``; returns a markdown table."""
    tallies = {label: Tally() for label in detectors}
    start, decoded = time.perf_counter(), 0
    for frame in frames(shared / "sample_videos" / name, step):
        decoded = frame.frame_index + 1
        for label, detector in detectors.items():
            tallies[label].add(detector, frame)
    detecting = sum(tally.seconds for tally in tallies.values())
    decode_ms = 1000 * (time.perf_counter() - start - detecting) / decoded
    extra = {1: "frames >1 face (false +)", 0: "frames with any face (false +)"}.get(truth)
    head = ["detector", "frames", ">=1 face", "mean faces", "max faces"]
    head += [extra] if extra else []
    head += ["wall ms/frame", "CPU ms/frame", "frames/s (wall)"]
    title = f"### {name} (every {step}. frame; decoding: {decode_ms:.1f} ms per frame read)"
    rows = [title, "", "| " + " | ".join(head) + " |"]
    rows.append("|" + "---|" * len(head))
    for label, tally in tallies.items():
        counts = np.asarray(tally.counts)
        ms, cpu_ms = (1000 * t / len(counts) for t in (tally.seconds, tally.cpu_seconds))
        cells = [label, str(len(counts)), f"{np.mean(counts >= 1):.1%}", f"{counts.mean():.2f}"]
        cells.append(str(counts.max()))
        if truth is not None:
            cells.append(str(int(np.sum(counts > truth))))
        cells += [f"{ms:.1f}", f"{cpu_ms:.1f}", f"{1000 / ms:.0f}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def photo_table(detectors: dict[str, Detector], shared: Path) -> str:
    """Faces found per photo and detector, against a person's count."""
    head = ["detector"] + [f"{name} ({truth})" for name, truth in PHOTOS.items()]
    rows = ["### photos (faces found; true count in brackets)", "", "| " + " | ".join(head) + " |"]
    rows.append("|" + "---|" * len(head))
    images = {name: cv2.imread(str(shared / "sample_images" / name)) for name in PHOTOS}
    for label, detector in detectors.items():
        counts = [str(len(detector.detect(Frame(0, 0.0, image)))) for image in images.values()]
        rows.append("| " + " | ".join([label, *counts]) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder with sample_videos/")
    parser.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core per worker, as in the pipeline
    detectors = {label: make_detector(name, **config) for label, name, config in VARIANTS}
    tables = [photo_table(detectors, args.shared)]
    for name, (step, truth) in CLIPS.items():
        tables.append(clip_table(name, step, truth, detectors, args.shared))
        print(tables[-1], "\n", flush=True)
    print(tables[0])
    if args.out:
        args.out.write_text("\n\n".join(tables) + "\n")


if __name__ == "__main__":
    main()
