"""The stage loop for one video segment: frames -> faces -> emotions -> tracks -> rows.

The same code runs in a plain Python loop (tests, small jobs), inside a Ray task for a
file segment, and inside a Ray actor for a live camera. No Ray in here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from lightemo_video.model.errors import ModelError
from lightemo_video.model.labels import NUM_CLASSES
from lightemo_video.model.runtime import (
    TEST_TIME_AUGMENTATIONS,
    class_prior,
    require_tensorflow,
    resolve_model,
    temperature,
    test_time_augmentation,
)
from lightemo_video.pipeline.appearance import APPEARANCE_DIM, appearance_vectors
from lightemo_video.pipeline.classify import EmotionClassifier
from lightemo_video.pipeline.detect import (
    DEFAULT_DETECTOR,
    Detector,
    make_detector,
    score_threshold,
)
from lightemo_video.pipeline.records import FaceDetections, Frame
from lightemo_video.pipeline.smoothing import Smoothing
from lightemo_video.pipeline.sources import Segment, Source, VideoFileSource, VideoInfo
from lightemo_video.pipeline.track import (
    ConfirmedFaces,
    FaceTracker,
    FollowedBoxes,
    SceneCutDetector,
    TrackerConfig,
)

ROWS_VERSION = 2
"""Raised whenever a change alters the rows ``analyze`` writes for the same input and
parameters (tracking, cropping, decoding, smoothing), so that a rerun redoes older results."""


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
        segment_frames: about this many frames per Ray task for long files (cut by
            time); smaller spreads one file over more workers, larger saves per-task
            start-up (file open and seek). Results do not depend on it.
        tracker: face-id tracker settings.
        smoothing: how each face track's probabilities are smoothed over time.
        scene_cut: correlation of consecutive frames' histograms and pictures below which
            (both) a new shot, and new ids, begins.
    """

    sample_fps: float = 10.0
    detector: str = DEFAULT_DETECTOR
    model: str | None = None
    tta: str | None = None
    margin: float = 0.1
    batch_frames: int = 16
    segment_frames: int = 600
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoothing: Smoothing = field(default_factory=Smoothing)
    scene_cut: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        """Hash of the parameters that change results, of the model file's bytes and of
        ``ROWS_VERSION`` (so results made by an older analysis are redone, not skipped).

        ``batch_frames`` and ``segment_frames`` only change how work is cut up (segments
        are stitched into the same ids), so they are left out.
        """
        results = {
            k: v for k, v in self.to_dict().items() if k not in ("batch_frames", "segment_frames")
        }
        results["rows_version"] = ROWS_VERSION
        digest = hashlib.sha256(json.dumps(results, sort_keys=True).encode())
        if self.tta is not None and self.tta not in TEST_TIME_AUGMENTATIONS:
            raise ModelError(
                "--tta",
                f"unknown test-time augmentation '{self.tta}'; "
                f"choose {' or '.join(TEST_TIME_AUGMENTATIONS)}",
            )
        path = resolve_model(self.model)
        if path.suffix == ".keras":
            require_tensorflow(path)  # fail before any work starts, not in every worker
        digest.update(path.read_bytes())
        tta = self.tta or test_time_augmentation(path)
        digest.update(f"{tta} {temperature(path, tta)}".encode())
        return digest.hexdigest()[:16]


class Stages:
    """The costly, reusable parts of the loop: detector and classifier (model loaded once)."""

    def __init__(self, config: AnalyzeConfig, num_threads: int = 1) -> None:
        self.config = config
        weak = config.tracker.weak_score if config.tracker.weak_score < 1 else None
        self.detector: Detector = make_detector(config.detector, weak_score=weak)
        self.min_score = score_threshold(config.detector)  # faces below it are weak
        self.classifier = EmotionClassifier(config.model, config.margin, num_threads, config.tta)


def classify_frames(
    frames: Source, stages: Stages, followed: FollowedBoxes | None = None
) -> Iterator[tuple[Frame, FaceDetections]]:
    """Detect and classify faces, batching ``batch_frames`` frames per model call.

    Yields each frame with its faces (``probs`` set, no ids yet), also frames without faces.
    ``followed`` carries the marked boxes over from earlier calls on the same source (a
    live camera's frames come one call at a time); ``None`` starts afresh, marking every
    weak box of the first frame.
    """
    batch: list[Frame] = []
    if followed is None:
        followed = FollowedBoxes(stages.config.tracker, stages.min_score)
    for frame in frames:
        batch.append(frame)
        if len(batch) == stages.config.batch_frames:
            yield from _classify_batch(batch, stages, followed)
            batch = []
    if batch:
        yield from _classify_batch(batch, stages, followed)


def _classify_batch(
    batch: list[Frame], stages: Stages, followed: FollowedBoxes
) -> Iterator[tuple[Frame, FaceDetections]]:
    """Classifies the boxes ``followed`` marks (confident faces, and weak ones near a face
    of the previous frame, which may continue it); other weak boxes (tracking only) get
    zeros, as classifying them all would cost about as much as detection. Confident faces
    also get an appearance signature (for re-identification)."""
    found = [stages.detector.detect(frame) for frame in batch]
    marked = [followed.mark(faces) for faces in found]
    chosen = [faces.select(keep) for faces, keep in zip(found, marked, strict=True)]
    classified = stages.classifier.classify(batch, chosen)
    for frame, faces, keep, done in zip(batch, found, marked, classified, strict=True):
        probs = np.zeros((len(faces), NUM_CLASSES), np.float32)
        probs[keep] = done.probs
        strong = faces.score >= stages.min_score
        looks = np.zeros((len(faces), APPEARANCE_DIM), np.float32)
        looks[strong] = appearance_vectors(frame, faces.xyxy[strong])
        yield frame, faces.with_probs(probs).with_appearance(looks)


@dataclass(frozen=True)
class SegmentResult:
    """What analysing one time range of a file gives back to the driver.

    Attributes:
        segment: the range.
        records: faces per analysed frame with ``probs`` but no ids; ``frame_index``
            counts frames from the range's first one.
        cuts: per record, whether a new shot starts there (the first record's is left
            to the driver, who saw the frame before the range).
        first_look, last_look: scene signatures of the first and last analysed frames.
        frames_decoded: every frame of the range, sampled or not.
        end_s: where the range's last frame ends, in seconds.
        error: why decoding stopped early, or None.
        seconds: time the task took.
    """

    segment: Segment
    records: list[FaceDetections]
    cuts: list[bool]
    first_look: np.ndarray | None
    last_look: np.ndarray | None
    frames_decoded: int
    end_s: float
    error: str | None
    seconds: float


def analyze_segment(info: VideoInfo, segment: Segment, stages: Stages) -> SegmentResult:
    """Detect and classify faces in one time range of a file (tracking is left to
    :class:`SegmentJoiner`, which sees the ranges in order)."""
    began = time.perf_counter()
    source = VideoFileSource(info, stages.config.sample_fps, segment)
    scenes = SceneCutDetector(stages.config.scene_cut)
    records, cuts, looks = [], [], []
    for frame, faces in classify_frames(source, stages):
        cuts.append(scenes.is_cut(frame))
        looks.append(scenes.last_look)
        records.append(faces)
    return SegmentResult(
        segment,
        records,
        cuts,
        looks[0] if looks else None,
        looks[-1] if looks else None,
        source.frames_decoded,
        source.end_s,
        source.error,
        time.perf_counter() - began,
    )


class SegmentJoiner:
    """Joins the segments of one video, in order, into one pass: global frame indices,
    scene cuts at segment edges, and one tracker over the whole video, so the ids of a
    segmented run are exactly those of an unsegmented one.

    Records whose faces are not yet confirmed are held back (see :class:`ConfirmedFaces`)
    and come out of a later :meth:`join` or of :meth:`finish`."""

    def __init__(self, config: AnalyzeConfig) -> None:
        self.min_score = score_threshold(config.detector)
        self.tracking = ConfirmedFaces(FaceTracker(config.tracker, min_score=self.min_score))
        self.scenes = SceneCutDetector(config.scene_cut)
        self.frames = 0  # frames of the segments joined so far
        self._last_look: np.ndarray | None = None

    def join(self, result: SegmentResult) -> list[FaceDetections]:
        """The records settled so far, with global ``frame_index`` and ``face_id``: this
        segment's, less those still held, plus those held from earlier segments."""
        tracked = []
        for k, (faces, cut) in enumerate(zip(result.records, result.cuts, strict=True)):
            if k == 0:
                cut = self.scenes.differ(self._last_look, result.first_look)
            faces = replace(faces, frame_index=faces.frame_index + self.frames)
            tracked += self.tracking.push(faces, scene_cut=cut)
        if result.last_look is not None:
            self._last_look = result.last_look
        self.frames += result.frames_decoded
        return tracked

    def confident_faces(self, result: SegmentResult) -> int:
        """Faces the detector found in a segment, weak ones (tracking only) left out."""
        return sum(int((r.score >= self.min_score).sum()) for r in result.records)

    def finish(self) -> list[FaceDetections]:
        """The records still held once the last segment is joined."""
        return self.tracking.flush()


def smoothing_prior(config: AnalyzeConfig) -> np.ndarray | None:
    """The class prior that smoothing divides out of the probabilities of ``config``'s
    model (``pipeline.smoothing``)."""
    return class_prior(resolve_model(config.model))


def model_info(config: AnalyzeConfig) -> dict:
    """Which model file a run uses, for run.json."""
    path = resolve_model(config.model)
    return {
        "name": config.model or path.stem.split(".")[0],
        "file": path.name,
        "bytes": path.stat().st_size,
        "test_time_augmentation": config.tta or test_time_augmentation(path),
    }
