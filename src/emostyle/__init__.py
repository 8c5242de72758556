"""emostyle: read the emotion on every face, show it as an emoji, repaint the picture in its mood.

>>> import emostyle
>>> result = emostyle.analyze("examples/astronaut.jpg")    # doctest: +SKIP
>>> [(f.emotion, f.emoji, round(f.confidence, 2)) for f in result.faces]   # doctest: +SKIP
[('happy', '😄', 0.97)]
"""

from emostyle.classifier import EmotionClassifier
from emostyle.emotions import EMOJI, EMOTIONS
from emostyle.errors import EmostyleError
from emostyle.faces import FaceDetector
from emostyle.images import read_image, write_image
from emostyle.overlay import annotate
from emostyle.pipeline import Analyzer, analyze
from emostyle.results import Analysis, Face

__version__ = "0.1.0"

__all__ = [
    "EMOJI", "EMOTIONS", "Analysis", "Analyzer", "EmostyleError", "EmotionClassifier", "Face",
    "FaceDetector", "analyze", "annotate", "read_image", "write_image", "__version__",
]
