"""emostyle: read the emotion on every face, show it as an emoji, repaint the picture in its mood.

>>> import emostyle
>>> result = emostyle.analyze("examples/astronaut.jpg")    # doctest: +SKIP
>>> [(f.emotion, f.emoji, round(f.confidence, 2)) for f in result.faces]   # doctest: +SKIP
[('happy', '😄', 0.97)]

The public names load on first use (PEP 562), so ``import emostyle.cli`` or any one module
does not pay for numpy, OpenCV and ONNX Runtime it may not need: every command starts faster.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "EMOJI": "emostyle.emotions", "EMOTIONS": "emostyle.emotions",
    "EmostyleError": "emostyle.errors",
    "EmotionClassifier": "emostyle.classifier",
    "FaceDetector": "emostyle.faces",
    "read_image": "emostyle.images", "write_image": "emostyle.images",
    "annotate": "emostyle.overlay",
    "Analyzer": "emostyle.pipeline", "analyze": "emostyle.pipeline",
    "StyleRequest": "emostyle.pipeline", "paint": "emostyle.pipeline",
    "Analysis": "emostyle.results", "Face": "emostyle.results",
    "Stylizer": "emostyle.stylizer",
}

__all__ = [
    "EMOJI", "EMOTIONS", "Analysis", "Analyzer", "EmostyleError", "EmotionClassifier", "Face",
    "FaceDetector", "StyleRequest", "Stylizer", "analyze", "annotate", "paint", "read_image",
    "write_image", "__version__",
]

if TYPE_CHECKING:
    from emostyle.classifier import EmotionClassifier
    from emostyle.emotions import EMOJI, EMOTIONS
    from emostyle.errors import EmostyleError
    from emostyle.faces import FaceDetector
    from emostyle.images import read_image, write_image
    from emostyle.overlay import annotate
    from emostyle.pipeline import Analyzer, StyleRequest, analyze, paint
    from emostyle.results import Analysis, Face
    from emostyle.stylizer import Stylizer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'emostyle' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
