"""Face crop geometry: the square around a detected face, levelled on the eyes.

Any detector's :class:`~emostyle.results.DetectedFace` is cropped here, so the classifier and the
explanations depend on this module and not on one detector's.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from emostyle.results import DetectedFace


def whole_image_face(image: np.ndarray, margin: float) -> DetectedFace:
    """Treat the whole picture as one face crop (for inputs that are already face crops).

    The box is shrunk by ``margin`` so that :func:`crop_face` with the same margin gives back
    exactly the whole picture (centre square for non-square pictures).
    """
    h, w = image.shape[:2]
    side = min(h, w) / (1 + margin)
    return DetectedFace(((w - side) / 2, (h - side) / 2, side, side), (), 1.0)


def crop_transform(face: DetectedFace, size: int, margin: float, align: bool = True
                   ) -> np.ndarray:
    """The 2x3 affine map from picture pixels to the ``size`` x ``size`` face crop.

    Its inverse (``cv2.invertAffineTransform``) takes anything computed on the crop, such as
    a heat map, back onto the picture.
    """
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    side = max(w, h) * (1 + margin)
    angle = 0.0
    if align and len(face.landmarks) >= 2:
        (rx, ry), (lx, ly) = face.landmarks[0], face.landmarks[1]
        angle = math.degrees(math.atan2(ly - ry, lx - rx))
    m = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    m[0, 2] += size / 2 - cx
    m[1, 2] += size / 2 - cy
    return m


def crop_face(image: np.ndarray, face: DetectedFace, size: int, margin: float,
              align: bool = True, gray: bool = True) -> np.ndarray:
    """An upright square crop of ``face``, ``size`` x ``size``, uint8 (gray or RGB).

    The square is centred on the box with side ``max(w, h) * (1 + margin)``, rotated so the eyes
    are level when ``align`` and landmarks exist. Pixels outside the picture replicate its edge
    (as FER2013's own crops do near borders). Big faces are warped to 4x the target and then
    area-resized, so the small crop is not aliased.
    """
    x, y, w, h = face.box
    side = max(w, h) * (1 + margin)
    inter = size if side <= 4 * size else 4 * size
    m = crop_transform(face, inter, margin, align)
    crop = cv2.warpAffine(image, m, (inter, inter), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    if inter != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    if gray:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return crop
