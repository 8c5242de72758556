"""Picture in, :class:`Analysis` out; analysis and a :class:`StyleRequest` in, painting out.

``analyze``: detect faces, crop, classify them all in one batch. ``paint``: decide which style
(or blend of styles) the request and the picture's mood call for, and repaint the picture in it.
Every front end (CLI, web app, video, Ray) paints through :func:`paint`, so one photo gets the
same style weights and the same picture wherever it is painted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emostyle.classifier import EmotionClassifier
from emostyle.crops import whole_image_face
from emostyle.detection import DEFAULT_MIN_SCORE, MIN_SIDE, FaceFinder
from emostyle.emotions import EMOJI, EMOTIONS, SYNONYMS, canonical
from emostyle.errors import InputError
from emostyle.images import read_image
from emostyle.results import Analysis, Face
from emostyle.style_map import region_weights

if TYPE_CHECKING:
    from emostyle.stylizer import Stylizer


class Analyzer:
    """Face detector + emotion classifier, loaded once and reused for many pictures.

    ``detect=False`` treats each picture as one ready-made face crop (FER2013-style inputs).
    ``min_score`` drops faces whose detection score is below it (``min_detection_score`` is its
    former name, still accepted). ``detector`` replaces YuNet with any :class:`FaceFinder`.
    ``use``: how the process uses the networks (:data:`emostyle.model_files.SESSION_USES`).
    """

    def __init__(self, model: str | Path = "default", face_model: str | Path | None = None,
                 detect: bool = True, min_score: float = DEFAULT_MIN_SCORE,
                 detect_max_side: int = 960, threads: int | None = None, *,
                 detector: FaceFinder | None = None,
                 min_detection_score: float | None = None, use: str = "service") -> None:
        if min_detection_score is not None:
            min_score = min_detection_score
        # With a detector, detection and cropping work between two runs of the emotion model,
        # and ONNX Runtime's idle workers, spinning for a next run that is not coming yet,
        # took their cores: whole-photo analysis on 2 cores, back to back, took 21.6 ms at
        # 640x480 and 35.2 ms at 1920x1080 with spinning, 12.6 and 21.6 ms without
        # (``benchmarks/bench_vs_fer.py``'s pause study, when YuNet ran in OpenCV). So its
        # workers sleep at once, and so do the detector's (``FaceDetector``).
        self.classifier = EmotionClassifier(model, threads=threads,
                                            use="command" if detect else use)
        self.detect = detect
        self.min_score = float(min_score)
        if detector is None and detect:
            from emostyle.faces import FaceDetector

            detector = FaceDetector(face_model, min_score=min_score, max_side=detect_max_side,
                                    threads=threads)
        self.detector: FaceFinder | None = detector if detect else None

    def analyze(self, image: np.ndarray | str | Path, source: str | None = None) -> Analysis:
        """Faces and emotions of one picture (an RGB uint8 array or a path)."""
        if not isinstance(image, np.ndarray):
            source = source or str(image)
            image = read_image(image)
        return self.analyze_many([image], [source])[0]

    def analyze_many(self, images: list[np.ndarray], sources: list[str | None] | None = None
                     ) -> list[Analysis]:
        """Several pictures at once: faces of all of them are classified in one batch."""
        sources = sources or [None] * len(images)
        found_per_image, notes_per_image, crops = [], [], []
        for image in images:
            h, w = image.shape[:2]
            notes: list[str] = []
            if self.detector is None:
                found = [whole_image_face(image, self.classifier.pre.crop_margin)]
            else:
                found = self.detector.detect(image)
                if min(h, w) < MIN_SIDE:
                    notes.append(f"image is {w}x{h} px, too small to hold a face")
                elif not found:
                    notes.append("no face found")
            found_per_image.append(found)
            notes_per_image.append(tuple(notes))
            crops.append(self.classifier.crops(image, found))
        probs = self.classifier.predict_proba(np.concatenate(crops)) if crops else []
        out, k = [], 0
        for image, found, notes, source in zip(images, found_per_image, notes_per_image,
                                               sources, strict=True):
            faces = tuple(Face(f.box, f.landmarks, f.score, tuple(float(v) for v in probs[k + i]))
                          for i, f in enumerate(found))
            k += len(found)
            out.append(Analysis(faces, image.shape[1], image.shape[0], source, notes))
        return out


@lru_cache(maxsize=4)
def _shared_analyzer(model: str, face_model: str | None, detect: bool) -> Analyzer:
    return Analyzer(model, face_model, detect)


def shared_analyzer(model: str | Path = "default", face_model: str | Path | None = None,
                    detect: bool = True) -> Analyzer:
    """The analyzer :func:`analyze` uses: built on first use, then reused (up to 4 kept)."""
    return _shared_analyzer(str(model), None if face_model is None else str(face_model), detect)


def analyze(image: np.ndarray | str | Path, model: str = "default",
            face_model: str | None = None, detect: bool = True) -> Analysis:
    """Faces and emotions of one picture; models are loaded on first use and reused.

    >>> result = emostyle.analyze("examples/astronaut.jpg")   # doctest: +SKIP
    >>> result.faces[0].emotion, result.faces[0].emoji          # doctest: +SKIP
    ('happy', '😄')
    """
    return shared_analyzer(model, face_model, detect).analyze(image)


# ------------------------------------------------------------------------------------ painting

# How a request can pick the style; "per_face" paints each person in the style of their own
# emotion and the rest of the picture as "auto" would (emostyle.style_map).
PAINT_MODES = ("auto", "emotion", "blend", "per_face")
# The long side the style network runs at unless a request says otherwise (docs/styles.md).
DEFAULT_PAINT_SIDE = 1024
# In a blend, emotions with less of the mood than this are left out: they change no visible
# pixel, and leaving them out keeps the weights (and cache keys) stable from frame to frame.
MIN_BLEND_WEIGHT = 0.01


@dataclass(frozen=True)
class StyleRequest:
    """How a picture should be painted.

    ``mode``: ``auto`` (the style of the mood's most likely emotion), ``emotion`` (the style of
    ``emotion``, which may also name a style of the model), ``blend`` (the styles mixed by the
    mood's probabilities) or ``per_face`` (every readable face's person in the style of that
    face's emotion, the rest as ``auto``; faces too small or unclear to read keep the rest's).
    A picture without a face, or whose mood the style model has no style
    for, is painted in ``fallback``'s style. ``strength`` 0 keeps the photo, 1 is the full
    painting; ``keep_colors`` keeps the photo's colours; the network runs on a copy at most
    ``max_side`` long (None: full resolution, in tiles when big).
    """

    mode: str = "auto"
    emotion: str = "neutral"
    strength: float = 1.0
    keep_colors: bool = False
    max_side: int | None = DEFAULT_PAINT_SIDE
    fallback: str = "neutral"

    def __post_init__(self) -> None:
        if self.mode not in PAINT_MODES:
            raise InputError(f"unknown painting mode {self.mode!r}; expected one of: "
                             f"{', '.join(PAINT_MODES)}")
        try:
            canonical(self.fallback)
        except ValueError as exc:
            raise InputError(f"fallback: {exc}") from None

    @property
    def needs_analysis(self) -> bool:
        """Whether the style depends on the faces (so the picture must be analysed first)."""
        return self.mode != "emotion"

    def tags(self) -> set[str]:
        """Every :attr:`StyleChoice.tag` a picture may get (for its file name) before its mood
        is known, so that every file a run might write can be checked first."""
        if self.mode == "emotion":
            return {self.emotion.strip().lower()}
        fallback = canonical(self.fallback)
        if self.mode == "blend":
            return {"blend", fallback}
        # per_face: "per-face", or the auto style when no face can be read
        return {*EMOTIONS, fallback, *(("per-face",) if self.mode == "per_face" else ())}


@dataclass(frozen=True)
class StyleChoice:
    """The style a request resolves to for one picture, and a sentence saying so.

    Exactly one of ``style`` (an emotion or style name) and ``weights`` (``{emotion: weight}``,
    summing to 1) is set. ``fallback`` says the request's fallback was used; ``tag`` names the
    choice in file names (the emotion, the style, or ``blend``).
    """

    style: str | None
    weights: dict[str, float] | None
    description: str
    fallback: bool = False
    # per_face: (face box, that face's style) for every face painted in its own style; the
    # rest of the picture takes ``style``/``weights``.
    faces: tuple[tuple[tuple[float, float, float, float], str], ...] = ()

    @property
    def key(self) -> tuple:
        return (self.style, tuple(sorted((self.weights or {}).items())), self.faces)

    @property
    def tag(self) -> str:
        if self.faces:
            return "per-face"
        return "blend" if self.style is None else self.style.strip().lower()


@dataclass(frozen=True)
class Painting:
    """A painted picture, the choice behind it and the style-weight vector the network got."""

    image: np.ndarray
    choice: StyleChoice
    style_weights: np.ndarray  # (S,) in the style model's order, sums to 1 (per_face: the rest)
    weight_map: np.ndarray | None = None  # per_face: (h, w, S) per-pixel weights


def _styled_emotions(stylizer: Stylizer | None) -> frozenset[str]:
    """The emotions the style model has a style for (all seven when it is not known yet)."""
    if stylizer is None:
        return frozenset(EMOTIONS)
    return frozenset(stylizer.catalogue.emotion_weights)


def _named(emotion: str) -> str:
    key = SYNONYMS.get(emotion.strip().lower(), emotion.strip().lower())
    return f"{EMOJI[key]} {emotion}" if key in EMOJI else emotion


def choose_style(analysis: Analysis | None, request: StyleRequest,
                 stylizer: Stylizer | None = None) -> StyleChoice:
    """Resolve ``request`` against the picture's mood: the one place this is decided.

    Rules: ``emotion`` takes the named emotion or style as it is. ``auto`` takes the mood's
    most likely emotion among those the style model has a style for. ``blend`` weights the
    styled emotions by their share of the mood, leaving out shares under 1% and normalising the
    rest to sum 1. No face (or no styled emotion in the mood): the ``fallback`` style. Give the
    ``stylizer`` so its catalogue (and a user's styles.toml) decides which emotions are styled.
    """
    if request.mode == "emotion":
        return StyleChoice(request.emotion, None, f"in the {_named(request.emotion)} style, "
                                                  "as chosen")
    if request.mode == "per_face":
        return _per_face_choice(analysis, request, stylizer)
    fallback = canonical(request.fallback)
    probs = None if analysis is None else analysis.mood_probabilities
    if probs is None:
        why = "no face, so no mood" + (" to blend" if request.mode == "blend" else "")
        return StyleChoice(fallback, None, f"in the {fallback} style: {why}", fallback=True)
    styled = _styled_emotions(stylizer)
    mood = {e: float(p) for e, p in zip(EMOTIONS, probs, strict=True) if e in styled and p > 0}
    if request.mode == "blend":
        kept = {e: p for e, p in mood.items() if p >= MIN_BLEND_WEIGHT}
        total = sum(kept.values())
        if total > 0:
            weights = {e: round(p / total, 4) for e, p in kept.items()}
            top = sorted(weights.items(), key=lambda kv: -kv[1])[:3]
            parts = ", ".join(f"{EMOJI[e]} {e} {p:.0%}" for e, p in top)
            return StyleChoice(None, weights,
                               f"in a blend of styles weighted by the mood: {parts}")
    elif mood:
        best = max(mood, key=mood.get)
        if best == analysis.mood:
            return StyleChoice(best, None, f"in the style of the mood, {EMOJI[best]} {best}")
        return StyleChoice(best, None, f"in the {EMOJI[best]} {best} style: the mood, "
                                       f"{analysis.mood}, has no style in this model")
    return StyleChoice(fallback, None, f"in the {fallback} style: this style model has no "
                                       "style for the mood", fallback=True)


def _per_face_choice(analysis: Analysis | None, request: StyleRequest,
                     stylizer: Stylizer | None) -> StyleChoice:
    """Each readable face's most likely styled emotion; the rest of the picture as ``auto``."""
    rest = choose_style(analysis, replace(request, mode="auto"), stylizer)
    styled = _styled_emotions(stylizer)
    faces = []
    for face in () if analysis is None else analysis.faces:
        if face.uncertain:
            continue
        probs = {e: p for e, p in zip(EMOTIONS, face.probabilities, strict=True) if e in styled}
        if probs:
            faces.append((tuple(float(v) for v in face.box), max(probs, key=probs.get)))
    if not faces:
        return rest
    named = ", ".join(f"{EMOJI[e]} {e}" for _, e in faces)
    return StyleChoice(rest.style, rest.weights,
                       f"each face in its own style ({named}); the rest {rest.description}",
                       rest.fallback, tuple(faces))


def paint_choice(stylizer: Stylizer, image: np.ndarray, choice: StyleChoice,
                 request: StyleRequest,
                 on_tile: Callable[[int, int], None] | None = None) -> Painting:
    """``image`` repainted as an already made ``choice`` says, with ``request``'s settings.

    ``on_tile(done, total)`` follows a picture painted in tiles (see :meth:`Stylizer.stylize`).
    """
    vector = stylizer.style_weights(choice.style, choice.weights)
    weight_map = None
    if choice.faces:
        weight_map = region_weights(image.shape[0], image.shape[1], vector,
                                    [(box, stylizer.style_weights(style))
                                     for box, style in choice.faces])
        out = stylizer.stylize(image, strength=request.strength,
                               keep_colors=request.keep_colors, max_side=request.max_side,
                               weight_map=weight_map, on_tile=on_tile)
    else:
        out = stylizer.stylize(image, style=choice.style, weights=choice.weights,
                               strength=request.strength, keep_colors=request.keep_colors,
                               max_side=request.max_side, on_tile=on_tile)
    return Painting(out, choice, vector, weight_map)


def paint(stylizer: Stylizer, image: np.ndarray, analysis: Analysis | None,
          request: StyleRequest | None = None,
          on_tile: Callable[[int, int], None] | None = None) -> Painting:
    """Repaint ``image`` (RGB uint8) as ``request`` asks, given the picture's ``analysis``.

    >>> st = emostyle.Stylizer("styles")                                  # doctest: +SKIP
    >>> photo = emostyle.read_image("examples/astronaut.jpg")            # doctest: +SKIP
    >>> p = emostyle.paint(st, photo, emostyle.analyze(photo),            # doctest: +SKIP
    ...                    emostyle.StyleRequest("blend", strength=0.8))
    >>> p.choice.weights, p.image.shape                                   # doctest: +SKIP
    ({'happy': 1.0}, (512, 512, 3))

    ``analysis`` may be None for ``mode="emotion"``, which does not look at the faces.
    ``on_tile(done, total)`` follows a big picture painted in tiles, for a progress bar.
    """
    request = request or StyleRequest()
    return paint_choice(stylizer, image, choose_style(analysis, request, stylizer), request,
                        on_tile)
