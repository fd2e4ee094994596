"""Give each face a ``face_id`` that stays the same while it is on screen.

ByteTrack-style: every track's box is predicted by a constant-velocity Kalman filter, so
a face that walks keeps overlapping its prediction; this frame's confident boxes are
matched first (IoU, Hungarian), then weak boxes (below the detector's score threshold)
may continue a track seen on the last frame through a turned or blurred moment, as rows
of its face, but never start a track. A new track becomes a face, with the next id, only
once confident boxes have been seen in ``confirm_frames`` analysed frames spanning
``confirm_s``, so a one-frame false face never gets an id. A lost track waits
``max_age_s`` for its face; every track ends at a scene cut.

Re-identification: a confirmed track keeps the appearance signatures
(``pipeline.appearance``) of its few best boxes; when it ends it joins a gallery for
``reid_window_s``. A newly confirming track first looks there (and among lost tracks not
seen since it began): if one looks clearly alike, it takes that face's id, so a face that
was occluded, left and came back, or reappears after a cut or a camera outage stays one
face. A track that overlaps the new one in time is never a candidate, so two people seen
together never share an id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from lightemo_video.pipeline.appearance import appearance_distance, mean_signature
from lightemo_video.pipeline.records import FaceDetections, Frame
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings (times in seconds, so they hold at any sample rate).

    Attributes:
        iou_threshold: minimum overlap between a track's predicted box and a confident
            box to continue it. Lower follows erratic motion at low sample rates but risks
            swapping ids between nearby faces.
        weak_iou_threshold: minimum overlap for a weak box (below the detector's score
            threshold) to keep a track alive; stricter, as weak boxes are often background.
        weak_score: weak boxes down to this detector score are looked at; 1 turns the
            second stage off. A weak box that continues a face seen on the last frame
            becomes one of its rows (once it is confirmed; weak boxes neither start nor
            confirm a face). Lower finds
            more of a face's turned or blurred frames, and classifies more boxes.
        follow_iou: a weak box is classified (may become a row) only if it overlaps, by
            this IoU, a box kept on the previous analysed frame (see :class:`FollowedBoxes`),
            so background boxes far from any face cost nothing.
        max_age_s: how long a lost track waits for its face to come back. Longer bridges
            missed detections and occlusions; too long can hand a departed face's id to
            a newcomer near the predicted spot.
        confirm_frames: analysed frames a new track must be seen in before it becomes a
            face. Higher drops more false faces; a real face's first frames wait longer.
        confirm_s: and the time those frames must span, so the rule holds at high
            sample rates (at 25 fps, 3 frames are only 0.08 s).
        tentative_age_s: how long a track not yet confirmed waits for its next confident
            box. 0 ends it at its first miss (ByteTrack); longer lets a face that the
            detector finds only every other frame confirm, and a flickering false one too.
        reid_window_s: how long an ended face waits in the gallery for its person to
            come back; 0 turns re-identification off. Longer bridges longer absences,
            at more risk of handing an id to a look-alike.
        reid_threshold: appearance distance (Hellinger, 0-1) below which a new track is
            the same person as a gallery face. Higher re-identifies more returns (and
            under changed light) but may merge two similarly dressed people.
        reid_margin: the best candidate must also be this much closer than the next one,
            so an ambiguous match (two look-alikes in the gallery) keeps a new id.
        reid_crops: boxes (the largest, most confident) whose signatures describe a track.
    """

    iou_threshold: float = 0.2
    weak_iou_threshold: float = 0.5
    weak_score: float = 0.3
    follow_iou: float = 0.5
    max_age_s: float = 1.0
    confirm_frames: int = 3
    confirm_s: float = 0.2
    tentative_age_s: float = 0.5
    reid_window_s: float = 60.0
    reid_threshold: float = 0.3
    reid_margin: float = 0.05
    reid_crops: int = 5


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (n, 4) and b (m, 4), xyxy; float32 (n, m)."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def match_boxes(a: np.ndarray, b: np.ndarray, iou_threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs (i, j) of boxes a[i], b[j] maximising total IoU, each >= threshold."""
    if len(a) == 0 or len(b) == 0:
        return []
    iou = iou_matrix(a, b)
    rows, cols = linear_sum_assignment(-iou)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if iou[i, j] >= iou_threshold]


class BoxFilter:
    """Constant-velocity Kalman filter of one box: centre and size, and their rates per second.

    Noises scale with the box height (as in ByteTrack), so near and far faces are followed
    alike; they are per second, so prediction holds at any sample rate or a variable one.
    """

    _MEASURE = 0.05  # box measurement std, in box heights
    _POSITION_DRIFT = 0.075  # position variance added per second, in heights^2
    _VELOCITY_DRIFT = 1.0  # velocity variance added per second, in (heights/s)^2
    _VELOCITY_PRIOR = 2.0  # velocity std of a new track, heights/s

    def __init__(self, xyxy: np.ndarray) -> None:
        self.x = np.concatenate([_to_cxcywh(xyxy), np.zeros(4)])
        h = self.x[3]
        self.p = np.diag([(2 * self._MEASURE * h) ** 2] * 4 + [(self._VELOCITY_PRIOR * h) ** 2] * 4)

    def predict(self, dt: float) -> None:
        """Move the state ``dt`` seconds ahead."""
        if dt <= 0:
            return
        f = np.eye(8)
        f[:4, 4:] = dt * np.eye(4)
        h2 = self.x[3] ** 2
        q = np.diag([self._POSITION_DRIFT * h2 * dt] * 4 + [self._VELOCITY_DRIFT * h2 * dt] * 4)
        self.x = f @ self.x
        self.p = f @ self.p @ f.T + q

    def correct(self, xyxy: np.ndarray) -> None:
        """Fold in a measured box."""
        r = np.eye(4) * (self._MEASURE * self.x[3]) ** 2
        s = self.p[:4, :4] + r
        gain = np.linalg.solve(s, self.p[:4, :]).T
        self.x = self.x + gain @ (_to_cxcywh(xyxy) - self.x[:4])
        self.p = self.p - gain @ self.p[:4, :]

    @property
    def box(self) -> np.ndarray:
        """The current estimate as xyxy float32 (4,)."""
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def _to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = np.asarray(xyxy, np.float64)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, max(y2 - y1, 1.0)])


@dataclass
class _Track:
    key: int  # internal, every track (confirmed or not) has one
    motion: BoxFilter
    first_s: float
    last_s: float  # last time a box matched
    confident_s: float  # last time a confident box matched
    hits: int = 1
    face_id: int = 0  # 0 until confirmed
    missed: bool = False  # confirmed, but no box matched on the last analysed frame
    looks: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (quality, signature)

    def see(self, xyxy: np.ndarray, now: float, confident: bool = True) -> None:
        """A box continues the track; only confident ones count toward confirmation."""
        self.motion.correct(xyxy)
        self.last_s, self.hits, self.missed = now, self.hits + int(confident), False
        if confident:
            self.confident_s = now

    def remember(self, quality: float, signature: np.ndarray | None, keep: int) -> None:
        """Keep ``signature`` if it is among the ``keep`` best-quality ones seen."""
        if signature is None or not signature.any():
            return
        self.looks.append((quality, signature))
        self.looks.sort(key=lambda look: -look[0])
        del self.looks[keep:]

    @property
    def appearance(self) -> np.ndarray | None:
        """The mean of the kept signatures (each region renormalised), or None."""
        if not self.looks:
            return None
        return mean_signature(np.stack([look for _, look in self.looks]))


class FollowedBoxes:
    """Marks the boxes worth classifying, frame after frame: confident ones, and weak ones
    (down to ``weak_score``) that overlap, by ``follow_iou``, a box marked on the previous
    analysed frame whose chain of such overlaps leads back to a confident box at most
    ``max_age_s`` ago. Only those weak boxes can continue a face as rows; a weak box that
    stays put in the background stops being marked once no confident box is near it.

    The analysing task and the tracker both run it; a task that starts mid-video knows no
    previous frame and marks every weak box of its first frame as if just confident, so it
    classifies a superset of what the tracker, which saw the frames before, will use.
    """

    def __init__(self, config: TrackerConfig, min_score: float) -> None:
        self.config, self.min_score = config, min_score
        self._boxes: np.ndarray | None = None  # boxes marked on the last frame
        self._since: np.ndarray = np.zeros(0)  # when each one's chain left a confident box

    def mark(self, faces: FaceDetections) -> np.ndarray:
        """bool (n,): which of this frame's faces are marked (call once per frame)."""
        now = faces.timestamp_s
        strong = faces.score >= self.min_score
        weak = ~strong & (faces.score >= self.config.weak_score)
        since = np.where(strong, now, -np.inf)
        if self._boxes is None:
            since[weak] = now
        elif len(self._boxes) and weak.any():
            overlap = iou_matrix(faces.xyxy, self._boxes) >= self.config.follow_iou
            chained = np.where(overlap, self._since[None, :], -np.inf).max(axis=1)
            since[weak] = chained[weak]
        marked = now - since <= self.config.max_age_s
        self._boxes, self._since = faces.xyxy[marked], since[marked]
        return marked

    def pause(self, seconds: float) -> None:
        """Takes ``seconds`` (a camera outage) off the clock of every chain."""
        self._since = self._since + seconds


@dataclass
class FaceTracker:
    """Per-video (or per-stream) tracker; all state lives in the instance.

    Call :meth:`update` (or :meth:`track`) once per analysed frame, in time order, even
    when the frame has no faces, so tracks age correctly. Confirmed faces get ids from
    ``first_id`` on, consecutive, in the order they confirm.

    Args:
        config: settings.
        first_id: id of the first confirmed face.
        min_score: the detector's score threshold: faces scoring below it are weak (see
            ``TrackerConfig.weak_score``). 0 treats every face as confident.
    """

    config: TrackerConfig = field(default_factory=TrackerConfig)
    first_id: int = 1
    min_score: float = 0.0
    _tracks: list[_Track] = field(default_factory=list, init=False)
    _next_id: int = field(default=0, init=False)
    _next_key: int = field(default=1, init=False)
    _now: float | None = field(default=None, init=False)
    _gallery: list[_Track] = field(default_factory=list, init=False)  # ended faces, newest last
    _followed: FollowedBoxes = field(init=False)

    def __post_init__(self) -> None:
        self._next_id = self.first_id
        self._followed = FollowedBoxes(self.config, self.min_score)

    def update(self, faces: FaceDetections, scene_cut: bool = False) -> FaceDetections:
        """The confirmed, confident faces of this frame, with ``face_id`` set.

        A face's frames before its track confirms are left out (live use); batch use keeps
        them with :class:`ConfirmedFaces`.

        Args:
            faces: this frame's faces, weak ones included.
            scene_cut: True when this frame starts a new shot; every live track ends.
        """
        tracked = self.track(faces, scene_cut)
        return tracked.select(tracked.face_id > 0)

    def track(self, faces: FaceDetections, scene_cut: bool = False) -> FaceDetections:
        """All of this frame's faces with a code in ``face_id``: the id of a confirmed track
        for a confident face (or a weak one, marked by :class:`FollowedBoxes`, that
        continues it), minus the key of an unconfirmed track for the faces continuing it
        (see :meth:`fate`), 0 for the other weak faces (never rows)."""
        now = faces.timestamp_s
        previous = self._now
        self._advance(now, scene_cut)
        codes = np.zeros(len(faces), dtype=np.int64)
        strong = faces.score >= self.min_score
        weak = ~strong & (faces.score >= self.config.weak_score)
        marked = self._followed.mark(faces)
        confirmed = [t for t in self._tracks if t.face_id]
        tentative = [t for t in self._tracks if not t.face_id]
        # 1. confident boxes continue confirmed tracks, lost ones included;
        lost = self._associate(
            confirmed, faces, np.flatnonzero(strong), self.config.iou_threshold, codes
        )
        # 2. weak boxes continue those of them that were seen on the last frame;
        recent = [t for t in lost if not t.missed]
        follows = np.zeros(len(faces), dtype=np.int64)
        weak_iou = self.config.weak_iou_threshold
        self._associate(recent, faces, np.flatnonzero(weak), weak_iou, follows, weak=True)
        for t in lost:
            t.missed = t.last_s < now
        # 3. the other confident boxes continue unconfirmed tracks, then weak ones those
        # of them seen on the last frame (rows if the track confirms);
        rest = np.flatnonzero(strong & (codes == 0))
        unseen = self._associate(tentative, faces, rest, self.config.iou_threshold, codes)
        recent = [t for t in unseen if previous is not None and t.last_s >= previous]
        free = np.flatnonzero(weak & (follows == 0))
        self._associate(recent, faces, free, weak_iou, follows, weak=True)
        codes = np.where(weak & marked, follows, codes)
        # Only confident boxes keep an unconfirmed track alive: weak ones alone would hold
        # its frames (and every frame after them) back forever.
        ended = [t for t in unseen if now - t.confident_s > self.config.tentative_age_s]
        self._tracks = [t for t in self._tracks if all(t is not e for e in ended)]
        # 4. confident boxes left start new tracks.
        for j in np.flatnonzero(strong & (codes == 0)):
            codes[j] = self._start(faces, j)
        return faces.with_ids(codes)

    def end_tracks(self) -> None:
        """Ends every track now (a new shot, or a camera back after a long outage); the
        confirmed ones wait in the gallery, so their faces can still be re-identified."""
        self._retire([t for t in self._tracks if t.face_id])
        self._tracks = []

    def _advance(self, now: float, scene_cut: bool) -> None:
        """Ends the tracks a scene cut or a long absence ends; predicts the others to
        ``now``; forgets gallery faces older than the re-identification window."""
        if scene_cut:
            self.end_tracks()
        max_age = self.config.max_age_s
        old = [t for t in self._tracks if t.face_id and now - t.last_s > max_age]
        self._retire(old)
        self._tracks = [t for t in self._tracks if all(t is not o for o in old)]
        window = self.config.reid_window_s
        self._gallery = [t for t in self._gallery if now - t.last_s <= window]
        dt = 0.0 if self._now is None else now - self._now
        self._now = now
        for t in self._tracks:
            t.motion.predict(dt)

    def _retire(self, tracks: list[_Track]) -> None:
        """Moves ended confirmed tracks with a known look into the gallery."""
        if self.config.reid_window_s > 0:
            self._gallery += [t for t in tracks if t.looks]

    def _start(self, faces: FaceDetections, j: int) -> int:
        """Starts a track at face ``j``; returns the box's code."""
        now = faces.timestamp_s
        track = _Track(self._next_key, BoxFilter(faces.xyxy[j]), now, now, now)
        self._next_key += 1
        self._remember(track, faces, j)
        self._tracks.append(track)
        self._confirm_if_due(track)
        return track.face_id or -track.key

    def _remember(self, track: _Track, faces: FaceDetections, j: int) -> None:
        """Offers face ``j``'s signature to ``track``; larger, more confident boxes win."""
        if faces.appearance is None:
            return
        x1, y1, x2, y2 = faces.xyxy[j]
        quality = float(faces.score[j]) * float(max(x2 - x1, 0) * max(y2 - y1, 0))
        track.remember(quality, faces.appearance[j], self.config.reid_crops)

    def pause(self, seconds: float) -> None:
        """Lets ``seconds`` pass without ageing or moving any track (a camera outage short
        enough to keep ids): they are taken off every track's clock."""
        for t in [*self._tracks, *self._gallery]:
            t.first_s, t.last_s = t.first_s + seconds, t.last_s + seconds
            t.confident_s += seconds
        self._followed.pause(seconds)
        if self._now is not None:
            self._now += seconds

    @property
    def next_id(self) -> int:
        """The id the next confirmed face will get."""
        return self._next_id

    def fate(self, key: int) -> int | None:
        """What became of the unconfirmed track ``key`` as of the last frame: its face id
        once confirmed, 0 if it ended unconfirmed, None while it is still undecided."""
        for t in self._tracks:
            if t.key == key:
                return t.face_id or None
        return 0

    def _associate(
        self,
        tracks: list[_Track],
        faces: FaceDetections,
        candidates: np.ndarray,
        iou_threshold: float,
        codes: np.ndarray,
        weak: bool = False,
    ) -> list[_Track]:
        """Match ``tracks`` to the faces at indices ``candidates``; update the matched ones
        and write their codes (a weak box's look is not remembered). Returns the
        unmatched tracks."""
        if not tracks:
            return []
        predicted = np.stack([t.motion.box for t in tracks])
        matched = set()
        for i, j in match_boxes(predicted, faces.xyxy[candidates], iou_threshold):
            track, face = tracks[i], int(candidates[j])
            track.see(faces.xyxy[face], faces.timestamp_s, confident=not weak)
            if not weak:
                self._remember(track, faces, face)
            self._confirm_if_due(track)
            codes[face] = track.face_id or -track.key
            matched.add(i)
        return [t for i, t in enumerate(tracks) if i not in matched]

    def _confirm_if_due(self, track: _Track) -> None:
        """Give ``track`` a face id once it has been seen long enough: a returning face's
        old one (:meth:`_reidentify`), else the next."""
        seen = track.hits >= self.config.confirm_frames
        long = track.last_s - track.first_s >= self.config.confirm_s - 1e-6
        if track.face_id or not (seen and long):
            return
        known = self._reidentify(track)
        if known is not None:  # described by its new pictures only (the light may differ;
            track.face_id = known.face_id  # keeping the old ones measured worse)
            self._gallery = [t for t in self._gallery if t is not known]
            self._tracks = [t for t in self._tracks if t is not known]
        else:
            track.face_id = self._next_id
            self._next_id += 1

    def _reidentify(self, track: _Track) -> _Track | None:
        """The ended or lost face ``track`` is, by appearance, or None.

        Candidates: gallery faces and confirmed tracks unseen since ``track`` began (so
        never one seen at the same time). The closest must be under ``reid_threshold``
        and ``reid_margin`` closer than the next, else the match is left undecided.
        """
        look = track.appearance
        if look is None or self.config.reid_window_s <= 0:
            return None
        lost = [t for t in self._tracks if t.face_id and t.looks]
        candidates = [t for t in [*self._gallery, *lost] if t.last_s < track.first_s]
        if not candidates:
            return None
        distances = np.array([appearance_distance(look, t.appearance) for t in candidates])
        order = np.argsort(distances)
        best = distances[order[0]]
        runner_up = distances[order[1]] if len(order) > 1 else 1.0
        if best < self.config.reid_threshold and runner_up - best >= self.config.reid_margin:
            return candidates[order[0]]
        return None


class ConfirmedFaces:
    """Batch tracking that keeps a face's frames from before its track confirmed.

    Each record is held back until every unconfirmed track in it has confirmed (its faces
    then get the id) or ended (its faces are dropped), then released with only the rows
    users see: confirmed, confident faces. Held records span at most the confirmation
    window (``confirm_s`` plus ``tentative_age_s`` gaps), so memory stays small and a live
    stream's rows are only that much late; :meth:`flush` releases the rest at the end.
    """

    def __init__(self, tracker: FaceTracker) -> None:
        self.tracker = tracker
        self._held: list[FaceDetections] = []
        self.current: FaceDetections | None = None  # the last frame's confirmed faces

    def push(self, faces: FaceDetections, scene_cut: bool = False) -> list[FaceDetections]:
        """Track one analysed frame (in time order); returns the records now settled."""
        tracked = self.tracker.track(faces, scene_cut)
        self.current = tracked.select(tracked.face_id > 0)
        self._held.append(tracked)
        self._held = [self._settle(r) for r in self._held]
        done = 0
        while done < len(self._held) and not (self._held[done].face_id < 0).any():
            done += 1
        released, self._held = self._held[:done], self._held[done:]
        return [r.select(r.face_id > 0) for r in released]

    def flush(self) -> list[FaceDetections]:
        """The held records, their still unconfirmed faces dropped (the video ended)."""
        released, self._held = self._held, []
        return [r.select(r.face_id > 0) for r in released]

    def _settle(self, record: FaceDetections) -> FaceDetections:
        """``record`` with the codes of unconfirmed tracks that have since been decided
        replaced by their face id (or 0)."""
        if not (record.face_id < 0).any():
            return record
        codes = record.face_id.copy()
        for j in np.flatnonzero(codes < 0):
            fate = self.tracker.fate(int(-codes[j]))
            if fate is not None:
                codes[j] = fate
        return record.with_ids(codes)


class SceneCutDetector:
    """Flags a new shot when a frame stops resembling the last one in both its gray
    histogram and its picture (a 32x18 thumbnail, brightness and contrast normalised).

    A lighting change or a camera's exposure alters the histogram but not the picture; a
    person walking close alters the picture but not the histogram; a cut alters both.
    Histograms alone split the tracks of every face in a scene whose light swings.

    Args:
        threshold: correlation (of the histograms, and of the thumbnails) below which a cut
            is declared. Higher catches soft cuts but may split a shot on a fast pan or a flash.
    """

    BINS = 32
    THUMB = (32, 18)

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.last_look: np.ndarray | None = None  # signature of the last frame seen

    def is_cut(self, frame: Frame) -> bool:
        """True if ``frame`` starts a new shot."""
        look = self.signature(frame)
        cut = self.differ(self.last_look, look)
        self.last_look = look
        return cut

    def differ(self, before: np.ndarray | None, after: np.ndarray | None) -> bool:
        """True if two frames' signatures belong to different shots (False if one is missing)."""
        if before is None or after is None:
            return False
        bins = self.BINS
        histograms = cv2.compareHist(before[:bins], after[:bins], cv2.HISTCMP_CORREL)
        pictures = float(np.dot(before[bins:], after[bins:]))
        return bool(histograms < self.threshold and pictures < self.threshold)

    @classmethod
    def signature(cls, frame: Frame) -> np.ndarray:
        """float32 (32 + 32*18,): a frame's normalised gray histogram, then its thumbnail
        with zero mean and unit norm (small enough to send between processes)."""
        gray = frame.shrunk_gray(64, 36)
        hist = cv2.calcHist([gray], [0], None, [cls.BINS], [0, 256])
        cv2.normalize(hist, hist)
        thumb = cv2.resize(gray, cls.THUMB, interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
        thumb -= thumb.mean()
        norm = float(np.linalg.norm(thumb))
        picture = thumb / norm if norm > 0 else thumb
        return np.concatenate([hist.ravel(), picture]).astype(np.float32)
