"""Result types: what emostyle says about a face and about a picture (frozen dataclasses).

:class:`DetectedFace` is what a face detector finds (box, landmarks, score); :class:`Face` adds
the emotion probabilities; :class:`Analysis` holds every face of one picture and its mood. New
per-face facts (for example a flag for faces too small to read) are added here, as fields with a
default, so every producer and consumer keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emostyle.emotions import EMOJI, EMOTIONS
from emostyle.uncertainty import UNCERTAIN_MOOD_WEIGHT, uncertain_reason


@dataclass(frozen=True)
class DetectedFace:
    """A face found in a picture, in that picture's pixel coordinates (no emotion yet)."""

    box: tuple[float, float, float, float]  # x, y, width, height
    landmarks: tuple[tuple[float, float], ...]  # eyes, nose, mouth corners (may be empty)
    score: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


@dataclass(frozen=True)
class Face:
    """One face: where it is and the calibrated probability of each emotion."""

    box: tuple[float, float, float, float]  # x, y, width, height in picture pixels
    landmarks: tuple[tuple[float, float], ...]  # eyes, nose, mouth corners (may be empty)
    detection_score: float
    probabilities: tuple[float, ...]  # FER2013 order, sums to 1

    @property
    def emotion(self) -> str:
        return EMOTIONS[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        return float(max(self.probabilities))

    @property
    def emoji(self) -> str:
        return EMOJI[self.emotion]

    @property
    def uncertain_reason(self) -> str | None:
        """"too small" or "unclear" when the face cannot be read reliably (see
        :mod:`emostyle.uncertainty`), else None. The probabilities are still reported."""
        return uncertain_reason(self.box, self.probabilities)

    @property
    def uncertain(self) -> bool:
        return self.uncertain_reason is not None

    @property
    def detected(self) -> DetectedFace:
        """Where the face is, without the emotion: what crops and maps are computed from."""
        return DetectedFace(self.box, self.landmarks, self.detection_score)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(EMOTIONS[i], float(self.probabilities[i])) for i in order]

    def to_dict(self) -> dict:
        return {
            "box": [round(v, 1) for v in self.box],
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
            "detection_score": round(self.detection_score, 4),
            "emotion": self.emotion,
            "emoji": self.emoji,
            "confidence": round(self.confidence, 4),
            "uncertain": self.uncertain,
            "uncertain_reason": self.uncertain_reason,
            "probabilities": {e: round(float(p), 4)
                              for e, p in zip(EMOTIONS, self.probabilities, strict=True)},
        }


@dataclass(frozen=True)
class Analysis:
    """Every face of one picture, plus the picture's overall mood."""

    faces: tuple[Face, ...]
    width: int
    height: int
    source: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def mood_probabilities(self) -> tuple[float, ...] | None:
        """Face probabilities averaged with weights proportional to face area.

        Bigger faces are usually the subject; small background faces count, but less, and a
        face too small or unclear to read counts a tenth of a readable one of its size. None
        when there is no face.
        """
        if not self.faces:
            return None
        w = np.array([f.box[2] * f.box[3] * (UNCERTAIN_MOOD_WEIGHT if f.uncertain else 1.0)
                      for f in self.faces], dtype=np.float64)
        p = np.array([f.probabilities for f in self.faces], dtype=np.float64)
        mood = (p * (w / w.sum())[:, None]).sum(0)
        return tuple(float(v) for v in mood / mood.sum())

    @property
    def mood(self) -> str | None:
        probs = self.mood_probabilities
        return None if probs is None else EMOTIONS[int(np.argmax(probs))]

    def to_dict(self) -> dict:
        mood = self.mood_probabilities
        return {
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "faces": [f.to_dict() for f in self.faces],
            "mood": self.mood,
            "mood_probabilities": None if mood is None else {
                e: round(p, 4) for e, p in zip(EMOTIONS, mood, strict=True)},
            "notes": list(self.notes),
        }
