"""Labels stay readable in crowds: none over another, all inside the picture (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest

from emostyle import overlay
from emostyle.overlay import (
    COMPACT_FACE_PX,
    UNCERTAIN_RGB,
    LabelPlanner,
    annotate,
    draw_faces,
    emoji_glyph,
    plan_labels,
)
from emostyle.results import Analysis, Face
from emostyle.uncertainty import UNCERTAIN_LABEL

HAPPY = (0.02, 0.01, 0.02, 0.9, 0.02, 0.02, 0.01)


def probabilities(seed: int) -> tuple[float, ...]:
    p = np.random.default_rng(seed).dirichlet(np.full(7, 0.3))
    return tuple(float(v) for v in p)


def crowd(width: int, height: int, sides: list[int], cols: int, pitch: tuple[int, int],
          origin: tuple[int, int] = (10, 10)) -> list[Face]:
    """Faces of the given sides on a grid, each with its own (random) emotion."""
    return [Face((origin[0] + (i % cols) * pitch[0], origin[1] + (i // cols) * pitch[1], s, s),
                 (), 0.9, probabilities(i)) for i, s in enumerate(sides)]


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return (min(a[0] + a[2], b[0] + b[2]) > max(a[0], b[0])
            and min(a[1] + a[3], b[1] + b[3]) > max(a[1], b[1]))


def assert_readable(labels, width: int, height: int) -> None:  # noqa: ANN001
    rects = [lb.rect for lb in labels]
    for x, y, w, h in rects:
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height, (x, y, w, h)
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not overlaps(a, b), (a, b)


# 20 faces from 18 to 90 px, mixed so that neighbours differ in size; the last column runs to
# the picture's right edge and the last row to its bottom edge.
SIDES = [90, 60, 45, 30, 18, 70, 52, 40, 24, 20, 80, 36, 64, 48, 22, 56, 42, 28, 75, 19]


def test_twenty_faces_labels_do_not_overlap_and_stay_inside():
    width, height = 620, 480
    faces = crowd(width, height, SIDES, cols=5, pitch=(124, 118), origin=(10, 8))
    canvas = np.full((height, width, 3), 200, np.uint8)
    labels = draw_faces(canvas, faces)
    assert len(labels) == 20 and {id(lb.face) for lb in labels} == {id(f) for f in faces}
    assert_readable(labels, width, height)
    # here every face big enough for a label found room for one; the others have the mark
    assert all(lb.compact == (lb.face.box[2] < COMPACT_FACE_PX) for lb in labels)
    # what was drawn has the size the plan measured (a front end drawing from the plan alone
    # relies on it)
    assert all(lb.patch.shape == (lb.height, lb.width, 4) for lb in labels)


def test_planning_measures_labels_without_drawing_them(monkeypatch):
    """The live mirror plans every frame and draws in the browser: no pixels on the server."""
    def no_drawing(*args):  # noqa: ANN002, ANN202
        raise AssertionError("plan_labels drew a label")

    monkeypatch.setattr(overlay, "label_patch", no_drawing)
    monkeypatch.setattr(overlay, "mark_patch", no_drawing)
    faces = crowd(620, 480, SIDES, cols=5, pitch=(124, 118), origin=(10, 8))
    labels = plan_labels(faces, 620, 480)
    assert {lb.compact for lb in labels} == {True, False}
    for lb in labels:
        face = lb.face
        said = UNCERTAIN_LABEL if face.uncertain else f"{face.emotion} {face.confidence:.0%}"
        assert (lb.text, lb.text_px >= 12) == ((None, False) if lb.compact else (said, True))


def test_a_dense_crowd_falls_back_to_compact_marks_without_overlap():
    """Faces packed so tight that labels cannot all fit: the rest get the emoji alone."""
    width, height = 400, 300
    faces = crowd(width, height, [44] * 20, cols=5, pitch=(72, 62), origin=(20, 20))
    labels = plan_labels(faces, width, height)
    assert_readable(labels, width, height)
    assert any(lb.compact for lb in labels) and any(not lb.compact for lb in labels)


def test_faces_at_the_picture_edges_keep_their_labels_inside():
    width, height = 300, 200
    corners = [(0, 0), (240, 0), (0, 140), (240, 140), (120, 70)]
    faces = [Face((x, y, 60, 60), (), 0.9, HAPPY) for x, y in corners]
    assert_readable(plan_labels(faces, width, height), width, height)


def test_a_face_filling_the_picture_gets_its_label_inside():
    faces = [Face((0, 0, 200, 200), (), 0.9, HAPPY)]
    (lb,) = plan_labels(faces, 200, 200)
    assert not lb.compact
    assert_readable([lb], 200, 200)


def test_tiny_faces_get_a_compact_mark_scaled_to_the_face():
    small, big = Face((10, 10, 30, 30), (), 0.9, HAPPY), Face((100, 10, 80, 80), (), 0.9, HAPPY)
    marks = {lb.face.box[2]: lb for lb in plan_labels([small, big], 300, 200)}
    assert marks[30].compact and not marks[80].compact
    assert marks[30].patch.shape[0] <= 30 and marks[30].patch.shape[0] == marks[30].patch.shape[1]
    side = marks[30].patch.shape[0]
    np.testing.assert_array_equal(marks[30].patch, emoji_glyph("happy", side))  # no text
    assert marks[80].patch.shape[1] > 2 * marks[80].patch.shape[0]  # emoji + "happy 90%"


def test_label_false_draws_marks_only():
    faces = crowd(400, 200, [60, 60, 60], cols=3, pitch=(120, 0), origin=(20, 40))
    assert all(lb.compact for lb in plan_labels(faces, 400, 200, label=False))


def test_uncertain_faces_keep_the_grey_box_and_mark():
    canvas = np.full((200, 300, 3), 255, np.uint8)
    tiny = Face((40, 80, 20, 20), (), 0.9, HAPPY)  # too small to read
    flat = Face((150, 60, 80, 80), (), 0.9, (0.16, 0.1, 0.14, 0.16, 0.14, 0.14, 0.16))
    out = annotate(canvas, Analysis((tiny, flat), 300, 200))
    for face in (tiny, flat):
        x, y, w, h = (round(v) for v in face.box)
        assert tuple(int(v) for v in out[y + h // 2, x]) == UNCERTAIN_RGB
    labels = {lb.face.box[2]: lb for lb in plan_labels([tiny, flat], 300, 200)}
    assert labels[20].compact and not labels[80].compact  # "can't tell" for the big one
    for lb in labels.values():  # grey, no emotion colour anywhere in the mark or label
        rgb = lb.patch[..., :3][lb.patch[..., 3] > 128].astype(int)
        assert (rgb.max(1) - rgb.min(1)).max() < 25


@pytest.mark.parametrize("n", [0, 1])
def test_few_faces(n: int):
    faces = [Face((50, 50, 80, 80), (), 0.9, HAPPY)][:n]
    canvas = np.zeros((200, 200, 3), np.uint8)
    assert len(draw_faces(canvas, faces)) == n


# ------------------------------------------------------------- labels that keep their places

def shares(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    return (max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
            * max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])))


# An 80 px face near the bottom of a 300 x 200 picture: its label below is pushed up onto the
# face's chin, by 1 row at y = 100 and 4 at y = 103. A fresh plan takes "below" up to 2 rows
# (the 10% rule), "above" from 3, so a box jittering by 1-3 px here flips the label each frame.
JITTER_Y = [100, 103, 99, 102, 101, 103, 100, 102]


def jittering(y: float) -> Face:
    return Face((100.0, float(y), 80.0, 80.0), (), 0.9, HAPPY)


@pytest.mark.parametrize("ys", [JITTER_Y, JITTER_Y[1:]], ids=["starts-below", "starts-above"])
def test_a_jittering_face_keeps_its_label_slot(ys: list[int]):
    fresh = [plan_labels([jittering(y)], 300, 200)[0] for y in ys]
    assert len({lb.slot for lb in fresh}) > 1, "the case must make per-frame planning switch"
    planner = LabelPlanner()
    kept = [planner.plan([jittering(y)], [7], 300, 200)[0] for y in ys]
    assert {lb.slot for lb in kept} == {fresh[0].slot}, [lb.rect for lb in kept]
    for lb, y in zip(kept, ys, strict=True):
        assert_readable([lb], 300, 200)
        assert (lb.y > y) == (fresh[0].y > ys[0])  # on the same side of the face every frame
        assert not lb.compact


def sized(side: int) -> Face:
    return Face((100.0, 60.0, float(side), float(side)), (), 0.9, HAPPY)


def test_a_face_at_the_compact_threshold_does_not_toggle():
    sides = [41, 39, 40, 38, 41, 39, 38, 40]  # 1-2 px either side of COMPACT_FACE_PX
    assert COMPACT_FACE_PX == 40
    fresh = [plan_labels([sized(s)], 300, 200)[0].compact for s in sides]
    assert set(fresh) == {True, False}, "per-frame planning toggles here"
    planner = LabelPlanner()
    assert [planner.plan([sized(s)], [1], 300, 200)[0].compact for s in sides] == [False] * 8
    # coming from below, the face gets the full label once it is 40 px, then keeps it
    planner = LabelPlanner()
    got = [planner.plan([sized(s)], [1], 300, 200)[0].compact for s in [39, 41, 39, 38, 41]]
    assert got == [True, False, False, False, False]
    # a face that really shrank gets the mark: the band is a few pixels, not for ever
    assert planner.plan([sized(30)], [1], 300, 200)[0].compact


def test_a_face_moving_into_the_slot_moves_the_label():
    planner = LabelPlanner()
    face = Face((100.0, 20.0, 80.0, 80.0), (), 0.9, HAPPY)
    for _ in range(3):
        (before,) = planner.plan([face], [1], 300, 200)
    newcomer = Face((110.0, 105.0, 60.0, 60.0), (), 0.9, HAPPY)  # just under the face
    assert shares(before.rect, (110, 105, 60, 60)) > 0, "the newcomer sits in the label's slot"
    labels = planner.plan([face, newcomer], [1, 2], 300, 200)
    assert_readable(labels, 300, 200)
    moved = next(lb for lb in labels if lb.face is face)
    assert moved.slot != before.slot
    assert shares(moved.rect, (110, 105, 60, 60)) <= 0.1 * moved.width * moved.height
    # once the newcomer has gone the label stays where it moved to (it is free there)
    assert planner.plan([face], [1], 300, 200)[0].slot == moved.slot


def test_the_planner_forgets_faces_unseen_for_max_age_plans():
    planner = LabelPlanner(max_age=2)
    below = planner.plan([jittering(101)], [1], 300, 200)[0].slot
    planner.plan([], [], 300, 200)  # missed one frame: the place is kept
    assert planner.plan([jittering(103)], [1], 300, 200)[0].slot == below
    for _ in range(3):
        planner.plan([], [], 300, 200)
    assert planner.plan([jittering(103)], [1], 300, 200)[0].slot != below  # planned afresh


def test_a_jittering_face_keeps_its_type_and_mark_size():
    widths = [100, 106, 97, 103, 99, 105, 98]  # text_px 16 +- 1 from one frame to the next
    fresh = [plan_labels([sized(w)], 400, 300)[0].text_px for w in widths]
    assert len(set(fresh)) > 1, "per-frame planning resizes the type here"
    planner = LabelPlanner()
    kept = [planner.plan([sized(w)], [1], 400, 300)[0] for w in widths]
    assert {lb.text_px for lb in kept} == {fresh[0]}
    assert {(lb.width, lb.height) for lb in kept} == {(kept[0].width, kept[0].height)}
    for lb, w in zip(kept, widths, strict=True):  # the patch drawn is the size planned
        assert lb.patch.shape[:2] == (lb.height, lb.width), w
    # a face that really grew gets bigger type: the band is a few percent, not for ever
    assert planner.plan([sized(160)], [1], 400, 300)[0].text_px > fresh[0]
    marks = [30, 32, 29, 31, 33]  # compact marks of 13-14 px
    assert len({plan_labels([sized(s)], 400, 300)[0].width for s in marks}) > 1
    planner = LabelPlanner()
    got = [planner.plan([sized(s)], [2], 400, 300)[0] for s in marks]
    assert all(lb.compact for lb in got)
    assert {lb.width for lb in got} == {got[0].width}
    assert all(lb.patch.shape[:2] == (lb.width, lb.width) for lb in got)
