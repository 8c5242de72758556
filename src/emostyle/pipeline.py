"""Picture in, :class:`Analysis` out: detect faces, crop, classify in one batch."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from emostyle.classifier import EmotionClassifier
from emostyle.faces import FaceDetector, whole_image_face
from emostyle.images import read_image
from emostyle.results import Analysis, Face


class Analyzer:
    """Face detector + emotion classifier, loaded once and reused for many pictures.

    ``detect=False`` treats each picture as one ready-made face crop (FER2013-style inputs).
    ``min_confidence`` drops faces whose detection score is below it.
    """

    def __init__(self, model: str | Path = "default", face_model: str | Path | None = None,
                 detect: bool = True, min_detection_score: float = 0.7,
                 detect_max_side: int = 960, threads: int | None = None) -> None:
        self.classifier = EmotionClassifier(model, threads=threads)
        self.detect = detect
        self.detector = (FaceDetector(face_model, score_threshold=min_detection_score,
                                      max_side=detect_max_side) if detect else None)

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
                if min(h, w) < FaceDetector.MIN_SIDE:
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


def analyze(image: np.ndarray | str | Path, model: str = "default",
            face_model: str | None = None, detect: bool = True) -> Analysis:
    """Faces and emotions of one picture; models are loaded on first use and reused.

    >>> result = emostyle.analyze("examples/astronaut.jpg")   # doctest: +SKIP
    >>> result.faces[0].emotion, result.faces[0].emoji          # doctest: +SKIP
    ('happy', '😄')
    """
    return _shared_analyzer(str(model), face_model, detect).analyze(image)
