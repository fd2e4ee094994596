"""Join per-segment face ids into one id space per video.

Each segment of a long file is tracked on its own, with ids starting at 1. Segments are
handed to :class:`TrackStitcher` in order; a track that starts in a segment continues
a track of an earlier one when it begins within ``max_age_s`` of that track's last
sighting and its first box overlaps that track's last box (the tracker's own rule, so
ids behave the same across a boundary as inside a segment).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipeline.track import TrackerConfig, match_boxes


class TrackStitcher:
    """Renumbers local ids of consecutive segments of one video into global ids (1, 2, ...)."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self._next_id = 1
        self._tails: dict[int, tuple[np.ndarray, float]] = {}  # global id -> (last box, last t)

    def add(self, rows: pa.Table, new_scene: bool = False) -> pa.Table:
        """Return ``rows`` (``schema.DETECTIONS``, local ids) with global ``face_id``s.

        ``new_scene``: the segment starts with a scene cut, so no track continues into it.
        """
        if new_scene:
            self._tails = {}
        if rows.num_rows == 0:
            return rows
        local = rows["face_id"].to_numpy()
        t = rows["timestamp_s"].to_numpy()
        x, y = rows["x"].to_numpy(), rows["y"].to_numpy()
        boxes = np.column_stack([x, y, x + rows["w"].to_numpy(), y + rows["h"].to_numpy()])
        ids = np.unique(local)
        first = np.array([np.flatnonzero(local == i)[0] for i in ids])
        last = np.array([np.flatnonzero(local == i)[-1] for i in ids])

        mapping: dict[int, int] = {}
        tails = list(self._tails.items())
        if tails:
            tail_boxes = np.stack([box for _, (box, _) in tails])
            for a, b in match_boxes(tail_boxes, boxes[first], self.config.iou_threshold):
                gap = t[first[b]] - tails[a][1][1]
                if 0 < gap <= self.config.max_age_s:
                    mapping[int(ids[b])] = tails[a][0]
        for i in ids:
            if int(i) not in mapping:
                mapping[int(i)] = self._next_id
                self._next_id += 1
        for i, end in zip(ids, last, strict=True):
            self._tails[mapping[int(i)]] = (boxes[end], float(t[end]))
        newest = float(t.max())
        self._tails = {
            g: tail for g, tail in self._tails.items() if newest - tail[1] <= self.config.max_age_s
        }
        global_ids = np.array([mapping[int(i)] for i in local], dtype=np.int64)
        return rows.set_column(rows.schema.get_field_index("face_id"), "face_id", pa.array(global_ids))
