"""The seven emotion labels: order, emoji and display colours.

Everything in emostyle that names an emotion takes it from here, so the label order of a model,
the emoji drawn on a face and the style catalogue can never drift apart. The order is FER2013's,
because every public expression dataset we read is either in that order or remapped to it.
"""

from __future__ import annotations

from typing import Final

EMOTIONS: Final[tuple[str, ...]] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
)

EMOJI: Final[dict[str, str]] = {
    "angry": "\U0001F620",  # 😠
    "disgust": "\U0001F922",  # 🤢
    "fear": "\U0001F628",  # 😨
    "happy": "\U0001F604",  # 😄
    "sad": "\U0001F622",  # 😢
    "surprise": "\U0001F632",  # 😲
    "neutral": "\U0001F610",  # 😐
}

# BGR colours (OpenCV order) for boxes and bars; chosen to be distinguishable for red-green colour
# blindness (Okabe-Ito palette).
COLORS_BGR: Final[dict[str, tuple[int, int, int]]] = {
    "angry": (0, 94, 213),  # vermillion
    "disgust": (115, 158, 0),  # bluish green
    "fear": (167, 121, 204),  # reddish purple
    "happy": (66, 228, 240),  # yellow
    "sad": (178, 114, 0),  # blue
    "surprise": (0, 159, 230),  # orange
    "neutral": (160, 160, 160),  # grey
}

# Names people use for the same classes in folder names and other datasets.
SYNONYMS: Final[dict[str, str]] = {
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "unhappy": "sad",
    "surprised": "surprise",
    "calm": "neutral",
}


def canonical(name: str) -> str:
    """Return the FER2013 label for ``name`` (case-insensitive, synonyms accepted).

    Raises ``ValueError`` naming the valid labels when ``name`` is not an emotion.
    """
    key = name.strip().lower()
    key = SYNONYMS.get(key, key)
    if key not in EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}; expected one of: {', '.join(EMOTIONS)}")
    return key


def index(name: str) -> int:
    """Position of ``name`` in FER2013 order."""
    return EMOTIONS.index(canonical(name))
