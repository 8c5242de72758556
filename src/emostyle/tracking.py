"""Following faces across video frames and smoothing their emotions.

Per-frame predictions flicker: the same face reads "sad 0.41" then "neutral 0.44" a frame later.
Users of other tools complain about exactly that. We match each frame's faces to the previous
ones by box overlap (IoU, greedy by best overlap: cheap and enough at video frame rates) and keep an
exponential moving average of each track's probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emostyle.results import Face


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    """One face followed over time."""

    track_id: int
    face: Face
    smoothed: np.ndarray
    last_seen: int
    history: list[tuple[int, np.ndarray]] = field(default_factory=list)


class FaceTracker:
    """Assigns track ids to faces and smooths their probabilities.

    ``alpha`` is the weight of the newest frame in the moving average (1 = no smoothing);
    a track unseen for ``max_age`` processed frames is dropped; a pair of boxes must overlap by
    ``min_iou`` to be the same face.
    """

    def __init__(self, alpha: float = 0.35, min_iou: float = 0.3, max_age: int = 10) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha, self.min_iou, self.max_age = alpha, min_iou, max_age
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, faces: tuple[Face, ...] | list[Face], frame: int) -> list[Track]:
        """Match ``faces`` seen at ``frame`` to tracks; returns the tracks seen in this frame."""
        pairs = sorted(((iou(t.face.box, f.box), tid, i)
                        for tid, t in self.tracks.items() for i, f in enumerate(faces)),
                       reverse=True)
        matched_tracks: set[int] = set()
        matched_faces: dict[int, int] = {}
        for overlap, tid, i in pairs:
            if overlap < self.min_iou:
                break
            if tid in matched_tracks or i in matched_faces:
                continue
            matched_tracks.add(tid)
            matched_faces[i] = tid
        seen = []
        for i, face in enumerate(faces):
            probs = np.asarray(face.probabilities, dtype=np.float64)
            tid = matched_faces.get(i)
            if tid is None:
                tid = self._next_id
                self._next_id += 1
                track = Track(tid, face, probs, frame)
                self.tracks[tid] = track
            else:
                track = self.tracks[tid]
                track.smoothed = self.alpha * probs + (1 - self.alpha) * track.smoothed
                track.face, track.last_seen = face, frame
            seen.append(track)
        for tid in [t for t, tr in self.tracks.items() if frame - tr.last_seen > self.max_age]:
            del self.tracks[tid]
        return seen

    @property
    def started(self) -> int:
        """How many tracks were started so far (faces followed, including dropped ones)."""
        return self._next_id - 1

    @staticmethod
    def smoothed_face(track: Track) -> Face:
        """The track's latest face carrying the smoothed probabilities."""
        f = track.face
        return Face(f.box, f.landmarks, f.detection_score,
                    tuple(float(v) for v in track.smoothed / track.smoothed.sum()))
