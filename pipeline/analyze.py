"""The stage loop for one video segment: frames -> faces -> emotions -> tracks -> rows.

The same code runs in a plain Python loop (tests, small jobs), inside a Ray task for a
file segment, and inside a Ray actor for a live camera. No Ray in here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

import pyarrow as pa

from model.errors import ModelError
from model.runtime import TEST_TIME_AUGMENTATIONS, resolve_model, test_time_augmentation
from pipeline.aggregate import detection_rows
from pipeline.classify import EmotionClassifier
from pipeline.detect import DEFAULT_DETECTOR, Detector, make_detector
from pipeline.records import FaceDetections, Frame
from pipeline.sources import VideoFileSource, VideoInfo, keep_frame
from pipeline.track import IouTracker, SceneCutDetector, TrackerConfig


@dataclass(frozen=True)
class AnalyzeConfig:
    """Everything that changes what ``analyze`` writes (and so decides rerun skipping).

    Attributes:
        sample_fps: analysed frames per second of video, spread evenly in time; 0 means
            every frame. Higher catches brief expressions at proportional cost.
        detector: face detector name (see ``pipeline.detect.DETECTORS``).
        model: shipped model name or model file path; ``None`` is the default model.
        tta: test-time augmentation, ``none`` or ``flip`` (each face averaged with its
            mirror image: more accurate, twice the classifier cost); ``None``: what the
            model card says.
        margin: box margin used when cropping faces for the classifier.
        batch_frames: frames whose faces are classified in one model call.
        segment_frames: frames per Ray task for long files; smaller spreads one file
            over more workers, larger saves per-task start-up (file open and seek).
        tracker: face-id tracker settings.
        scene_cut: histogram correlation below which a new shot (and new ids) begins.
    """

    sample_fps: float = 10.0
    detector: str = DEFAULT_DETECTOR
    model: str | None = None
    tta: str | None = None
    margin: float = 0.1
    batch_frames: int = 16
    segment_frames: int = 600
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    scene_cut: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        """Hash of the parameters that change results, and of the model file's bytes.

        ``batch_frames`` and ``segment_frames`` only change how work is cut up (segments
        are stitched into the same ids), so they are left out.
        """
        results = {k: v for k, v in self.to_dict().items() if k not in ("batch_frames", "segment_frames")}
        digest = hashlib.sha256(json.dumps(results, sort_keys=True).encode())
        if self.tta is not None and self.tta not in TEST_TIME_AUGMENTATIONS:
            raise ModelError("--tta", f"unknown test-time augmentation '{self.tta}'; choose {' or '.join(TEST_TIME_AUGMENTATIONS)}")
        path = resolve_model(self.model)
        digest.update(path.read_bytes())
        digest.update((self.tta or test_time_augmentation(path)).encode())
        return digest.hexdigest()[:16]


class Stages:
    """The costly, reusable parts of the loop: detector and classifier (model loaded once)."""

    def __init__(self, config: AnalyzeConfig, num_threads: int = 1) -> None:
        self.config = config
        self.detector: Detector = make_detector(config.detector)
        self.classifier = EmotionClassifier(config.model, config.margin, num_threads, config.tta)


def analyze_frames(
    frames: Iterable[Frame], stages: Stages, tracker: IouTracker, scenes: SceneCutDetector
) -> Iterator[FaceDetections]:
    """Run detection, batched classification and tracking over frames, in order.

    Yields one record per frame (faces with ``probs`` and ``face_id``), also for frames
    without faces.
    """
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == stages.config.batch_frames:
            yield from _analyze_batch(batch, stages, tracker, scenes)
            batch = []
    if batch:
        yield from _analyze_batch(batch, stages, tracker, scenes)


def _analyze_batch(
    batch: list[Frame], stages: Stages, tracker: IouTracker, scenes: SceneCutDetector
) -> Iterator[FaceDetections]:
    found = [stages.detector.detect(frame) for frame in batch]
    for frame, faces in zip(batch, stages.classifier.classify(batch, found), strict=True):
        yield tracker.update(faces, scene_cut=scenes.is_cut(frame.image))


@dataclass(frozen=True)
class SegmentResult:
    """Rows of one segment (face ids local to it) and what it cost."""

    start: int
    stop: int
    rows: pa.Table
    frames_decoded: int
    frames_analysed: int
    seconds: float
    starts_with_cut: bool = False  # a new shot begins at the segment's first frame


def analyze_segment(
    video_id: str, info: VideoInfo, start: int, stop: int, stages: Stages
) -> SegmentResult:
    """Analyse frames ``[start, stop)`` of a file with a fresh tracker."""
    began = time.perf_counter()
    config = stages.config
    source = VideoFileSource(info, config.sample_fps, start, stop)
    records = list(
        analyze_frames(source, stages, IouTracker(config.tracker), SceneCutDetector(config.scene_cut))
    )
    return SegmentResult(
        start,
        stop,
        detection_rows(video_id, records),
        source.frames_decoded,
        len(records),
        time.perf_counter() - began,
        _cut_at_start(info, config, start, stop),
    )


def _cut_at_start(info: VideoInfo, config: AnalyzeConfig, start: int, stop: int) -> bool:
    """Whether the segment's first analysed frame starts a new shot, judged against the
    last analysed frame before the segment (the segment's own loop cannot see it), so
    ids are not stitched across a cut that falls on a segment boundary."""
    previous = next((i for i in range(start - 1, -1, -1) if keep_frame(i, info.fps, config.sample_fps)), None)
    if previous is None:
        return False
    frames = [
        next(iter(VideoFileSource(info, config.sample_fps, previous, previous + 1)), None),
        next(iter(VideoFileSource(info, config.sample_fps, start, stop)), None),
    ]
    if any(frame is None for frame in frames):
        return False
    scenes = SceneCutDetector(config.scene_cut)
    scenes.is_cut(frames[0].image)
    return scenes.is_cut(frames[1].image)


def plan_segments(frame_count: int, segment_frames: int) -> list[tuple[int, int]]:
    """Split ``[0, frame_count)`` into consecutive ranges of ``segment_frames``."""
    step = max(1, segment_frames)
    return [(a, min(a + step, frame_count)) for a in range(0, frame_count, step)]


def model_info(config: AnalyzeConfig) -> dict:
    """Which model file a run uses, for run.json."""
    path = resolve_model(config.model)
    return {
        "name": config.model or path.stem.split(".")[0],
        "file": path.name,
        "bytes": path.stat().st_size,
        "test_time_augmentation": config.tta or test_time_augmentation(path),
    }
