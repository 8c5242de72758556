"""What any face detector offers the pipeline, and the one default detection threshold.

:class:`~emostyle.pipeline.Analyzer` talks to a detector only through :class:`FaceFinder`, so a
second detector (another model, a cascade, a test double) is a class with a ``detect`` method,
handed to ``Analyzer(detector=...)``; YuNet (:class:`emostyle.faces.FaceDetector`) is one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # at run time this module imports nothing: the CLI reads its constants
    import numpy as np

    from emostyle.results import DetectedFace

# Faces whose detection score is below this are dropped: the CLI's --min-score, the Analyzer's
# and FaceDetector's ``min_score`` and the app's slider all start here. Chosen on 484
# detections labelled by eye (benchmarks/detector_false_positives.py, docs/detector.md): the
# lowest threshold at which at most 10% of kept detections are not faces while 75% of the
# readable (>= 24 px) faces stay. 0.7 kept 15 non-faces (precision 0.875), 0.8 keeps 7 (0.91)
# and 41 of 51 readable faces. What is left is mostly big animal heads: no minimum size helps.
DEFAULT_MIN_SCORE = 0.8

MIN_SIDE = 16  # below this a picture cannot hold a detectable face


@runtime_checkable
class FaceFinder(Protocol):
    """A face detector: an RGB uint8 picture in, its faces (highest score first) out."""

    def detect(self, image: np.ndarray) -> list[DetectedFace]: ...
