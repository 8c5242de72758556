"""Per-pixel style weights for painting every person in the style of their own emotion.

The style network's conditional instance norm takes a style-weight *map* (one blend per
pixel, see ``training/style_net.py``), so a picture with a happy and a sad face can be painted
in one pass: each person's region in the style of their emotion, the rest of the picture in
the picture's mood, with smooth transitions between them.

A face box covers the head only; the region painted in that face's style is grown over the
person it probably belongs to: an ellipse around the head reaching ``PERSON_WIDTH`` face widths
to each side and ``PERSON_BELOW`` face heights below the chin (shoulders and torso), softened by
a Gaussian of ``SOFTNESS`` face widths, so that no seam is sharper than about a fifth of a face.
Where people overlap, their styles mix in proportion to their masks.

The map is built at a low resolution (``MAP_SIDE`` long side): the network resizes it to each of
its layers anyway, and a smooth map loses nothing by it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

PERSON_WIDTH = 1.1  # half-width of a person's region, in face widths
PERSON_ABOVE = 0.6  # how far the region reaches above the face box, in face heights
PERSON_BELOW = 3.0  # how far it reaches below the face box, in face heights
SOFTNESS = 0.25  # Gaussian sigma of the region's edge, in face widths
MAP_SIDE = 256  # long side of the map, in map pixels


def person_mask(box: Sequence[float], size: tuple[int, int], scale: float) -> np.ndarray:
    """A soft mask (h, w) float32 in 0..1 of the person whose face is ``box`` (x, y, w, h in
    picture pixels), on a map of ``size`` (h, w) that is ``scale`` map pixels per picture pixel.
    """
    x, y, w, h = (float(v) * scale for v in box)
    cx = x + w / 2
    top, bottom = y - PERSON_ABOVE * h, y + h + PERSON_BELOW * h
    cy, ry, rx = (top + bottom) / 2, (bottom - top) / 2, PERSON_WIDTH * w
    mh, mw = size
    yy, xx = np.mgrid[0:mh, 0:mw].astype(np.float32) + 0.5
    inside = (((xx - cx) / max(rx, 1e-3)) ** 2 + ((yy - cy) / max(ry, 1e-3)) ** 2 <= 1.0)
    mask = inside.astype(np.float32)
    sigma = max(0.5, SOFTNESS * w)
    k = int(2 * round(3 * sigma) + 1)
    return cv2.GaussianBlur(mask, (k, k), sigma, borderType=cv2.BORDER_REPLICATE)


def map_size(height: int, width: int, side: int = MAP_SIDE) -> tuple[tuple[int, int], float]:
    """The map's (h, w) for a picture, and its scale (map pixels per picture pixel)."""
    scale = min(1.0, side / max(height, width))
    return (max(1, round(height * scale)), max(1, round(width * scale))), scale


def region_weights(height: int, width: int, background: np.ndarray,
                   faces: Sequence[tuple[Sequence[float], np.ndarray]],
                   side: int = MAP_SIDE) -> np.ndarray:
    """The (h, w, S) style-weight map of a picture: ``background`` (S,) everywhere except over
    each face's person, where that face's vector (S,) takes over smoothly.

    Every pixel's weights sum to 1: a pixel covered by masks m_i gets
    ``sum_i m_i v_i + (1 - sum_i m_i) background`` with the m_i scaled down where they add up
    to more than 1 (overlapping people share).
    """
    (mh, mw), scale = map_size(height, width, side)
    background = np.asarray(background, np.float32)
    out = np.broadcast_to(background, (mh, mw, len(background))).copy()
    if not faces:
        return out
    masks = np.stack([person_mask(box, (mh, mw), scale) for box, _ in faces])
    total = masks.sum(0)
    masks /= np.maximum(total, 1.0)[None]
    covered = masks.sum(0)
    out *= (1.0 - covered)[:, :, None]
    for mask, (_, vector) in zip(masks, faces, strict=True):
        out += mask[:, :, None] * np.asarray(vector, np.float32)[None, None, :]
    return out
