"""Drawing results onto pictures: boxes, and a label (emoji, emotion, probability) per face.

Labels are laid out together, so they stay readable in crowds: each goes below, above, right or
left of its face, at the first place that stays inside the picture and overlaps no label placed
before it (nor, where possible, another face). A face too small to carry a label gets a compact
mark instead: its emoji alone, scaled to the face.

In a video or the live mirror the same face is planned frame after frame, and a first-fit
choice made afresh each time jumps between places (below, then above, then below) as the face
moves by a pixel or two. A :class:`LabelPlanner` remembers each tracked face's last label and
hands it to :func:`plan_labels`, which keeps that place while it stays free and keeps a label
full or compact unless the face clearly changed size.

Planning is geometry alone (each label's size comes from its text's measure, no pixel is drawn),
so front ends that draw the labels themselves, such as the live mirror's page, take the same
plan cheaply. Drawing works in place on small slices of the picture (no full-size copy), so
annotating a 100-megapixel photo costs little memory. Emoji come from bundled PNG glyphs, so they
render as emoji on machines with no emoji font.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from emostyle.emotions import COLORS_BGR
from emostyle.results import Analysis, Face
from emostyle.uncertainty import UNCERTAIN_LABEL

UNCERTAIN_RGB = (150, 150, 150)
EMOJI_DIR = Path(__file__).resolve().parent / "assets" / "emoji"

# Faces narrower than this (shorter box side, picture pixels) get the compact mark: the
# smallest label ("sad 51%" at 12 px type) is about 70 px wide, wider than the face it names,
# and a crowd of such labels covers the crowd.
COMPACT_FACE_PX = 40
MIN_TEXT_PX = 12
# A label may cover this share of its own area of other faces' boxes (hair, a shoulder) before
# another place is preferred.
FACE_OVERLAP_TOLERANCE = 0.1
# A tracked face keeps its last place while the label covers at most this share of other faces
# and of its own: twice what a new place may, so a face whose label sits at the edge of the
# rule above does not send it back and forth as its box jitters.
KEEP_OVERLAP_TOLERANCE = 2 * FACE_OVERLAP_TOLERANCE
# A tracked face that had the full label keeps it until it is this much under COMPACT_FACE_PX:
# detector boxes of a still face differ by a few pixels from frame to frame.
COMPACT_HYSTERESIS_PX = 4
# A tracked face keeps its last type size (and compact-mark size) while the size its box asks
# for stays within this share of it: a 1-px box jitter would otherwise resize the label on
# every frame, which reads as flicker.
SIZE_HYSTERESIS = 0.12

Rect = tuple[int, int, int, int]  # x, y, width, height


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


def face_rgb(face: Face) -> tuple[int, int, int]:
    """The colour of a face's box and label: its emotion's, or grey when it is uncertain."""
    return UNCERTAIN_RGB if face.uncertain else rgb(face.emotion)


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


def _glyph_name(face: Face) -> str:
    return "uncertain" if face.uncertain else face.emotion


def _disc(face: Face) -> tuple[int, int, int, int]:
    """The backdrop behind a glyph: light for an emoji (legible on its own colour, yellow on
    yellow), dark for the light grey "can't tell" mark."""
    return (70, 70, 70, 230) if face.uncertain else (255, 255, 255, 200)


def label_text(face: Face) -> str:
    """What a full label says: "happy 93%", or "can't tell" for an uncertain face."""
    return UNCERTAIN_LABEL if face.uncertain else f"{face.emotion} {face.confidence:.0%}"


def ink_rgb(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """The text colour on a label of ``color``: white on dark colours, near-black on light."""
    return (255, 255, 255) if sum(color) < 380 else (20, 20, 20)


@lru_cache(maxsize=16)
def _line_extent(text_px: int) -> tuple[int, int]:
    _, top, _, bottom = _font(text_px).getbbox("Hg%")  # one height for every label of a size
    return top, bottom


# Measuring text is most of a plan's cost; the live mirror measures the same few labels
# ("happy 93%" at one size) frame after frame.
@lru_cache(maxsize=1024)
def _text_span(text: str, text_px: int) -> tuple[int, int]:
    left, _, right, _ = _font(text_px).getbbox(text)
    return left, right


@dataclass(frozen=True)
class _LabelGeometry:
    text: str
    pad: int
    glyph: int  # side of the emoji
    inner: int  # height inside the padding
    left: int  # the text's ink starts this far right of its origin
    width: int
    height: int


def _label_geometry(face: Face, text_px: int) -> _LabelGeometry:
    """The full label's size and inner layout, measured, not drawn: what plan and patch share."""
    text = label_text(face)
    left, right = _text_span(text, text_px)
    top, bottom = _line_extent(text_px)
    pad = max(2, text_px // 4)
    glyph = round(1.25 * text_px)
    inner = max(glyph, bottom - top)
    return _LabelGeometry(text, pad, glyph, inner, left,
                          pad + glyph + pad + right - left + pad, inner + 2 * pad)


def label_patch(face: Face, text_px: int) -> np.ndarray:
    """The full label, RGBA: the emoji, then "happy 93%" (or "can't tell"), on a rounded box
    in the face's colour."""
    geo = _label_geometry(face, text_px)
    color = face_rgb(face)
    font = _font(text_px)
    top, bottom = _line_extent(text_px)
    pad, inner = geo.pad, geo.inner
    glyph = emoji_glyph(_glyph_name(face), geo.glyph)
    img = Image.new("RGBA", (geo.width, geo.height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, img.width - 1, img.height - 1), radius=pad, fill=color + (235,))
    gx, gy = pad, pad + (inner - glyph.shape[0]) // 2
    draw.ellipse((gx, gy, gx + glyph.shape[1] - 1, gy + glyph.shape[0] - 1), fill=_disc(face))
    img.alpha_composite(Image.fromarray(glyph), (gx, gy))
    draw.text((2 * pad + glyph.shape[1] - geo.left, pad + (inner - (bottom - top)) // 2 - top),
              geo.text, font=font, fill=ink_rgb(color) + (255,))
    return np.asarray(img)


def mark_side(face: Face) -> int:
    """The compact mark's side: the emoji scaled to the face (10 to 256 px)."""
    return int(min(max(0.45 * min(face.box[2], face.box[3]), 10), 256))


def mark_patch(face: Face, side: int | None = None) -> np.ndarray:
    """The compact mark, RGBA: the emoji alone (the grey "can't tell" mark for an uncertain
    face), ``side`` px (default: scaled to the face, :func:`mark_side`)."""
    side = mark_side(face) if side is None else side
    glyph = emoji_glyph(_glyph_name(face), side)
    if not face.uncertain:
        return glyph
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((0, 0, side - 1, side - 1), fill=_disc(face))
    img.alpha_composite(Image.fromarray(glyph))
    return np.asarray(img)


@dataclass(frozen=True, eq=False)
class Label:
    """One face's label or compact mark: where it goes in the picture and its size.

    The pixels (:attr:`patch`) are drawn on first use only, so a plan costs no drawing.
    """

    face: Face
    x: int
    y: int
    width: int
    height: int
    compact: bool  # the emoji alone, no text
    text_px: int = 0  # the full label's type size; 0 for a compact mark
    slot: int = 0  # which of the places around the face (see _spots); kept from frame to frame

    @property
    def rect(self) -> Rect:
        return self.x, self.y, self.width, self.height

    @property
    def text(self) -> str | None:
        """What the label says; None for a compact mark."""
        return None if self.compact else label_text(self.face)

    @cached_property
    def patch(self) -> np.ndarray:
        """RGBA, ``height`` x ``width``: the label, or the compact mark."""
        if self.compact:
            return mark_patch(self.face, self.width)
        return label_patch(self.face, self.text_px)


def _box(face: Face) -> Rect:
    x, y, w, h = (round(v) for v in face.box)
    return x, y, w, h


def _stroke(face: Face) -> int:
    return max(2, round(min(face.box[2], face.box[3]) / 60))


def _shared(rects: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The area each of ``rects`` (K, 4) shares with each of ``others`` (M, 4): (K, M)."""
    a, b = rects[:, None, :], others[None, :, :]
    w = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    h = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    return np.maximum(w, 0) * np.maximum(h, 0)


def _inside(rect: Rect, width: int, height: int) -> bool:
    return rect[0] >= 0 and rect[1] >= 0 and rect[0] + rect[2] <= width \
        and rect[1] + rect[3] <= height


def _spots(box: Rect, pw: int, ph: int, gap: int) -> list[tuple[int, int]]:
    """Where a ``pw`` x ``ph`` patch may go around ``box``, in order of preference: below,
    above, right, left (start-aligned, then end-aligned, then centred), then inside the box's
    bottom and top edges (for a face that fills the picture). A spot's index is its slot."""
    x, y, w, h = box
    below, above = y + h + gap, y - ph - gap
    right, left = x + w + gap, x - pw - gap
    return [(x, below), (x, above), (right, y), (left, y),
            (x + w - pw, below), (x + w - pw, above), (right, y + h - ph), (left, y + h - ph),
            (x + (w - pw) // 2, below), (x + (w - pw) // 2, above),
            (right, y + (h - ph) // 2), (left, y + (h - ph) // 2),
            (x + gap, y + h - ph - gap), (x + gap, y + gap)]


def _places(box: Rect, pw: int, ph: int, gap: int, width: int, height: int
            ) -> list[tuple[int, Rect]]:
    """Each slot of :func:`_spots` with its rectangle moved inside the picture, best first; a
    slot whose rectangle an earlier slot already has is left out."""
    hi_x, hi_y = max(0, width - pw), max(0, height - ph)
    out: list[tuple[int, Rect]] = []
    for slot, (sx, sy) in enumerate(_spots(box, pw, ph, gap)):
        rect = (min(max(sx, 0), hi_x), min(max(sy, 0), hi_y), pw, ph)
        if all(rect != r for _, r in out):
            out.append((slot, rect))
    return out


def plan_labels(faces: Sequence[Face], width: int, height: int, label: bool = True,
                previous: Sequence[Label | None] | None = None) -> list[Label]:
    """Where each face's label goes in a ``width`` x ``height`` picture, none over another.

    Faces are placed biggest first (the subject gets the best place), each at the first free
    place: inside the picture, over no label placed before it and (almost) no other face. The
    full label is tried first, beside its face, then over the face's own edge (a face that
    fills the picture), then the compact mark; when nothing is free, the compact mark goes
    where it covers other labels, then other faces, least. Faces narrower than
    :data:`COMPACT_FACE_PX`, and every face when ``label`` is False, get only the compact mark.
    Only sizes are measured; no label is drawn until its :attr:`Label.patch` is read.

    ``previous`` (one per face, None for a face not seen before) is each face's label in the
    last frame of a video; :class:`LabelPlanner` keeps it. A face keeps its last place while
    that place stays inside the picture, over no label and within
    :data:`KEEP_OVERLAP_TOLERANCE` of faces, unless a fresh choice is better in the order above;
    a face that had the full label keeps it down to ``COMPACT_FACE_PX - COMPACT_HYSTERESIS_PX``,
    and its type size (or its compact mark's size) while the new one is within
    :data:`SIZE_HYSTERESIS` of it.
    Without ``previous`` the plan is the still picture's.
    """
    if previous is not None and len(previous) != len(faces):
        raise ValueError(f"previous has {len(previous)} labels for {len(faces)} faces")
    boxes = [_box(f) for f in faces]
    all_boxes = np.array(boxes, np.int64).reshape(-1, 4)
    order = sorted(range(len(faces)), key=lambda i: (-boxes[i][2] * boxes[i][3], boxes[i][1],
                                                      boxes[i][0]))
    placed: list[Label] = []
    for i in order:
        face, box = faces[i], boxes[i]
        last = previous[i] if previous is not None else None
        least = COMPACT_FACE_PX
        if last is not None and not last.compact:  # hysteresis: no toggling at the threshold
            least -= COMPACT_HYSTERESIS_PX
        side = mark_side(face)
        if last is not None and last.compact:
            side = _steady(side, last.width)
        sizes = [(side, side, True, 0)]  # (width, height, compact, text_px), best first
        if label and min(box[2], box[3]) >= least:
            text_px = int(np.clip(0.16 * box[2], MIN_TEXT_PX, 96))
            if last is not None and not last.compact:
                text_px = _steady(text_px, last.text_px)
            geo = _label_geometry(face, text_px)
            if geo.width > width and text_px > MIN_TEXT_PX:  # a narrow picture
                text_px = max(MIN_TEXT_PX, int(text_px * width / geo.width))
                geo = _label_geometry(face, text_px)
            sizes.insert(0, (geo.width, geo.height, False, text_px))
        others = np.delete(all_boxes, i, axis=0)
        placed.append(_place(face, box, sizes, placed, others, width, height, last))
    return placed


def _steady(wanted: int, last: int) -> int:
    """``last`` while ``wanted`` is within :data:`SIZE_HYSTERESIS` of it, else ``wanted``."""
    return last if abs(wanted - last) <= max(1, round(SIZE_HYSTERESIS * last)) else wanted


def _tier(size: tuple[int, int, bool, int], labels: int, faces: int, own: int,
          tolerance: float) -> int:
    """0: beside the face, free; 1: free but over the face's own edge; 2: covers something."""
    allowed = tolerance * size[0] * size[1]
    if labels or faces > allowed:
        return 2
    return 0 if own <= allowed else 1


def _place(face: Face, box: Rect, sizes: list[tuple[int, int, bool, int]],
           placed: list[Label], others: np.ndarray, width: int, height: int,
           last: Label | None = None) -> Label:
    gap = _stroke(face) + 1
    candidates = [(size, slot, rect) for size in sizes
                  for slot, rect in _places(box, size[0], size[1], gap, width, height)]
    # The face's last place, with this frame's box and the same kind of label: scored last,
    # apart from the fresh choice.
    kept = None
    same = [] if last is None else [size for size in sizes if size[2] == last.compact]
    if same:
        pw, ph = same[0][:2]
        sx, sy = _spots(box, pw, ph, gap)[last.slot]
        kept = (same[0], last.slot, (min(max(sx, 0), max(0, width - pw)),
                                     min(max(sy, 0), max(0, height - ph)), pw, ph))
    rects = [r for _, _, r in candidates] + ([kept[2]] if kept else [])
    inside = [_inside(rect, width, height) for rect in rects]
    # One matrix for every candidate against every obstacle: the labels placed so far, the
    # other faces, this face (a crowd is planned every frame in the live mirror).
    obstacles = np.array([p.rect for p in placed] + [box], np.int64).reshape(-1, 4)
    shared = _shared(np.array(rects, np.int64).reshape(-1, 4),
                     np.concatenate([obstacles, others]))
    n = len(placed)
    labels, own, faces = (shared[:, :n].sum(1).tolist(), shared[:, n].tolist(),
                          shared[:, n + 1:].sum(1).tolist())
    # (size, slot, rect, labels covered, other faces covered, own face covered), best first
    scored = []
    for k, (size, slot, rect) in enumerate(candidates):
        if inside[k]:
            scored.append((size, slot, rect, labels[k], faces[k], own[k]))
        elif size[2]:  # a compact mark outside the picture: kept for the last resort only
            scored.append((size, slot, rect, 1 << 62, 0, 0))

    def small(covered: int, s: tuple) -> bool:
        return covered <= FACE_OVERLAP_TOLERANCE * s[0][0] * s[0][1]

    clear = [s for s in scored if s[3] == 0 and small(s[4], s)]
    pick = (next((s for s in clear if small(s[5], s)), None)  # beside the face
            or min(clear, key=lambda s: (s[0][2], s[5]), default=None)  # over its own edge
            or min(scored, key=lambda s: (s[3], s[4], not s[0][2])))  # least covered
    if kept is not None and inside[-1]:
        # Kept unless the fresh pick is better in the order above (beside before over the
        # face's edge, full before compact), the kept place judged with the looser tolerance.
        k = len(rects) - 1
        kept_rank = (_tier(kept[0], labels[k], faces[k], own[k], KEEP_OVERLAP_TOLERANCE),
                     kept[0][2])
        pick_rank = (_tier(pick[0], *pick[3:], FACE_OVERLAP_TOLERANCE), pick[0][2])
        if kept_rank[0] < 2 and kept_rank <= pick_rank:
            pick = kept
    (pw, ph, compact, text_px), slot, (x, y, _, _) = pick[:3]
    return Label(face, x, y, pw, ph, compact, text_px, slot)


class LabelPlanner:
    """Plans the labels of tracked faces frame after frame, so each label keeps its place.

    Give each face a stable key (a track id): the planner hands every face's last label to
    :func:`plan_labels`. A face missed for a frame or two gets its place back; a key unseen for
    ``max_age`` plans is forgotten, so the memory does not grow with every face ever seen.
    """

    def __init__(self, max_age: int = 10) -> None:
        self.max_age = max_age
        self._last: dict[Hashable, tuple[Label, int]] = {}  # key -> (label, plan it was made)
        self._plans = 0

    def plan(self, faces: Sequence[Face], keys: Sequence[Hashable], width: int, height: int,
             label: bool = True) -> list[Label]:
        """This frame's labels, as :func:`plan_labels` returns them, each face's last label
        kept where it still fits."""
        if len(keys) != len(faces):
            raise ValueError(f"{len(keys)} keys for {len(faces)} faces")
        previous = [self._last[k][0] if k in self._last else None for k in keys]
        labels = plan_labels(faces, width, height, label, previous)
        by_face = {id(lb.face): lb for lb in labels}
        for face, key in zip(faces, keys, strict=True):
            self._last[key] = (by_face[id(face)], self._plans)
        self._last = {k: v for k, v in self._last.items()
                      if self._plans - v[1] <= self.max_age}
        self._plans += 1
        return labels


def draw_boxes(image: np.ndarray, faces: Iterable[Face]) -> None:
    """Each face's box, in its emotion's colour (grey when uncertain), drawn in place."""
    for face in faces:
        x, y, w, h = _box(face)
        cv2.rectangle(image, (x, y), (x + w, y + h), face_rgb(face), _stroke(face), cv2.LINE_AA)


def draw_faces(image: np.ndarray, faces: Sequence[Face], label: bool = True,
               labels: Sequence[Label] | None = None) -> list[Label]:
    """Boxes, then labels laid out by :func:`plan_labels`, drawn in place; returns the labels.

    A face too small or unclear to read gets a grey box, the "can't tell" mark and no
    percentage: a confident emoji there would claim what the model cannot see. ``labels``
    planned already (by a :class:`LabelPlanner`, for a video) are drawn as they are.
    """
    draw_boxes(image, faces)
    if labels is None:
        labels = plan_labels(faces, image.shape[1], image.shape[0], label)
    labels = list(labels)
    for lb in labels:  # after every box, so no neighbour's box line crosses a label
        blend_rgba(image, lb.patch, lb.x, lb.y)
    return labels


def annotate(image: np.ndarray, analysis: Analysis, label: bool = True,
             copy: bool = True) -> np.ndarray:
    """The picture with every face drawn; ``copy=False`` draws into ``image`` itself."""
    out = image.copy() if copy else image
    draw_faces(out, analysis.faces, label)
    return out
