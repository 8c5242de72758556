"""Test-time augmentation: which views of a face crop a model averages, named in its card.

A card says ``"tta": "flip"`` (the crop and its mirror image) or ``"tta": "flip+rotate"`` (the
same two, each also turned 8 degrees either way: six views). The network's logits are averaged
over the views, so a model's temperature is fitted on exactly what it outputs at inference.

Why rotations: FER2013 faces are registered only roughly, and a real photo's crop is tilted
by however the person held their head. On PublicTest the rotated views gained the committed
ensembles 0.2-0.4 points on top of the mirror, at three times the passes, so ``emostyle
ensemble build`` ships them only when they gain half a point (``members.TTA_MIN_GAIN``).
Older cards carry only ``"tta_flip": true``,
which means ``"flip"``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from emostyle.errors import EmostyleError

ROTATION_DEGREES = 8.0

# Each view: (mirror first?, rotation in degrees). The first view is always the crop itself.
TTA_VIEWS: dict[str, tuple[tuple[bool, float], ...]] = {
    "none": ((False, 0.0),),
    "flip": ((False, 0.0), (True, 0.0)),
    "flip+rotate": ((False, 0.0), (True, 0.0),
                    (False, -ROTATION_DEGREES), (False, ROTATION_DEGREES),
                    (True, -ROTATION_DEGREES), (True, ROTATION_DEGREES)),
}
TTA_MODES = tuple(TTA_VIEWS)


def card_tta(card: Mapping) -> str:
    """The TTA mode a card's JSON asks for (``tta``, or the older ``tta_flip`` flag)."""
    mode = card.get("tta")
    if mode is None:
        return "flip" if card.get("tta_flip") else "none"
    return check_mode(str(mode))


def check_mode(mode: str) -> str:
    if mode not in TTA_VIEWS:
        raise EmostyleError(f"unknown TTA mode {mode!r}; one of {', '.join(TTA_MODES)}")
    return mode


def _rotate(x: np.ndarray, degrees: float) -> np.ndarray:
    """(N, C, H, W) float32 turned about the centre; edges reflected, as training's rotations."""
    import cv2  # here, so that reading a card (model_files) does not load OpenCV

    n, c, h, w = x.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    planes = x.reshape(n * c, h, w)
    out = np.empty_like(planes)
    for i, plane in enumerate(planes):
        out[i] = cv2.warpAffine(plane, m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT_101)
    return out.reshape(n, c, h, w)


def expand(x: np.ndarray, mode: str) -> np.ndarray:
    """The views of a batch (N, C, H, W), stacked view after view: (V*N, C, H, W)."""
    views = TTA_VIEWS[check_mode(mode)]
    if len(views) == 1:
        return x
    out = []
    for mirror, degrees in views:
        v = x[..., ::-1] if mirror else x
        out.append(_rotate(np.ascontiguousarray(v), degrees) if degrees else v)
    return np.ascontiguousarray(np.concatenate(out))


def combine(z: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Average per-view outputs (V*N, K) of :func:`expand`'s batch back to (N, K)."""
    views = len(TTA_VIEWS[check_mode(mode)])
    if views == 1:
        return z
    return z.reshape(views, n, *z.shape[1:]).mean(axis=0)
