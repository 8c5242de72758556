"""Drawing results onto pictures: boxes, emoji glyphs and labels.

Drawing works in place on small slices of the picture (no full-size copy), so annotating a
100-megapixel photo costs little memory. Emoji come from bundled PNG glyphs, so they render as
emoji on machines with no emoji font.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from emostyle.emotions import COLORS_BGR
from emostyle.results import Analysis, Face
from emostyle.uncertainty import UNCERTAIN_LABEL

UNCERTAIN_RGB = (150, 150, 150)

EMOJI_DIR = Path(__file__).resolve().parent / "assets" / "emoji"


@lru_cache(maxsize=64)
def emoji_glyph(emotion: str, size: int) -> np.ndarray:
    """RGBA uint8 (size, size, 4) glyph of the emotion's emoji (``"uncertain"``: the
    "can't tell" mark)."""
    with Image.open(EMOJI_DIR / f"{emotion}.png") as img:
        return np.asarray(img.convert("RGBA").resize((size, size), Image.LANCZOS))


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def rgb(emotion: str) -> tuple[int, int, int]:
    b, g, r = COLORS_BGR[emotion]
    return r, g, b


def blend_rgba(image: np.ndarray, rgba: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend ``rgba`` onto ``image`` at (x, y) in place, clipped to the picture."""
    h, w = image.shape[:2]
    gh, gw = rgba.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + gw), min(h, y + gh)
    if x1 <= x0 or y1 <= y0:
        return
    glyph = rgba[y0 - y:y1 - y, x0 - x:x1 - x]
    alpha = glyph[:, :, 3:4].astype(np.float32) / 255.0
    region = image[y0:y1, x0:x1]
    region[:] = (glyph[:, :, :3] * alpha + region * (1 - alpha) + 0.5).astype(np.uint8)


def text_patch(text: str, size: int, fg: tuple[int, int, int], bg: tuple[int, int, int]
               ) -> np.ndarray:
    """An opaque RGBA label: ``text`` on a ``bg`` rounded box."""
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    pad = max(2, size // 4)
    img = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, img.width - 1, img.height - 1), radius=pad, fill=bg + (230,))
    draw.text((pad - left, pad - top), text, font=font, fill=fg + (255,))
    return np.asarray(img)


def draw_face(image: np.ndarray, face: Face, label: bool = True) -> None:
    """Box, emoji and "emotion 93%" label for one face, drawn in place.

    A face too small or unclear to read gets a grey box, the "can't tell" mark and no
    percentage: a confident emoji there would claim what the model cannot see.
    """
    x, y, w, h = (round(v) for v in face.box)
    uncertain = face.uncertain
    color = UNCERTAIN_RGB if uncertain else rgb(face.emotion)
    thick = max(2, round(min(w, h) / 60))
    cv2.rectangle(image, (x, y), (x + w, y + h), color, thick, cv2.LINE_AA)
    size = int(np.clip(0.45 * w, 20, 256))
    ex = min(x + w - size // 2, image.shape[1] - size)
    ey = max(0, y - size // 2)
    blend_rgba(image, emoji_glyph("uncertain" if uncertain else face.emotion, size), ex, ey)
    if label:
        text = UNCERTAIN_LABEL if uncertain else f"{face.emotion} {face.confidence:.0%}"
        dark = sum(color) < 380
        patch = text_patch(text, int(np.clip(0.16 * w, 12, 96)),
                           (255, 255, 255) if dark else (20, 20, 20), color)
        ty = y + h + thick if y + h + thick + patch.shape[0] <= image.shape[0] \
            else max(0, y - patch.shape[0] - thick)
        blend_rgba(image, patch, x, ty)


def annotate(image: np.ndarray, analysis: Analysis, label: bool = True,
             copy: bool = True) -> np.ndarray:
    """The picture with every face drawn; ``copy=False`` draws into ``image`` itself."""
    out = image.copy() if copy else image
    # Smallest faces last so their labels stay visible over bigger neighbours.
    for face in sorted(analysis.faces, key=lambda f: -f.box[2] * f.box[3]):
        draw_face(out, face, label)
    return out
