"""Faces too small or too unclear to read are reported as such (issue 14)."""

import json

import numpy as np
import pytest

from emostyle.overlay import UNCERTAIN_RGB, Label, annotate, plan_labels
from emostyle.results import Analysis, Face
from emostyle.uncertainty import CONFIDENCE_FLOOR, MIN_FACE_PX, UNCERTAIN_MOOD_WEIGHT

HAPPY = (0.02, 0.01, 0.02, 0.9, 0.02, 0.02, 0.01)
FLAT = (0.16, 0.1, 0.14, 0.16, 0.14, 0.14, 0.16)  # top probability 0.16


def face(side: float, probs=HAPPY, x: float = 10, y: float = 40) -> Face:
    return Face((x, y, side, side), (), 0.95, probs)


def test_small_or_flat_faces_are_uncertain_and_say_why():
    assert face(MIN_FACE_PX - 1).uncertain_reason == "too small"
    assert face(MIN_FACE_PX).uncertain_reason is None
    assert face(80, FLAT).uncertain_reason == "unclear"
    assert max(FLAT) < CONFIDENCE_FLOOR < max(HAPPY)
    doc = json.loads(json.dumps(face(12).to_dict()))
    assert doc["uncertain"] is True and doc["uncertain_reason"] == "too small"
    assert doc["emotion"] == "happy"  # the probabilities are still reported
    assert json.loads(json.dumps(face(80).to_dict()))["uncertain"] is False


def test_uncertain_faces_count_little_in_the_mood():
    subject = face(40, (0, 0, 0, 0, 0, 0, 1.0))  # neutral, readable
    crowd = [face(20, (0, 0, 0, 0, 1.0, 0, 0), x=60 + 25 * i) for i in range(6)]  # sad, tiny
    mood = Analysis((subject, *crowd), 400, 400).mood_probabilities
    area_subject, area_crowd = 40 * 40, 6 * 20 * 20 * UNCERTAIN_MOOD_WEIGHT
    assert mood[6] == pytest.approx(area_subject / (area_subject + area_crowd))
    assert Analysis((subject, *crowd), 400, 400).mood == "neutral"
    only_uncertain = Analysis(tuple(crowd), 400, 400)
    assert only_uncertain.mood == "sad"  # still a mood when every face is uncertain


def _mark_saturation(drawn: np.ndarray, mark: Label) -> float:
    import cv2

    x, y, w, h = mark.rect
    opaque = mark.patch[:, :, 3] > 128
    return float(cv2.cvtColor(drawn[y:y + h, x:x + w], cv2.COLOR_RGB2HSV)[..., 1][opaque].mean())


def test_overlay_shows_the_cant_tell_mark_not_the_emoji():
    canvas = np.full((300, 300, 3), 255, np.uint8)
    tiny, readable = face(20, HAPPY, x=40, y=100), face(60, HAPPY, x=160, y=100)
    drawn = annotate(canvas, Analysis((tiny, readable), 300, 300), label=False)
    marks = {lb.face: lb for lb in plan_labels((tiny, readable), 300, 300, label=False)}
    # the yellow happy emoji on the readable face, a grey mark on the tiny one
    assert _mark_saturation(drawn, marks[readable]) > 60
    assert _mark_saturation(drawn, marks[tiny]) < 15
    x, y, w, _ = (round(v) for v in tiny.box)
    assert tuple(int(v) for v in drawn[y + w // 2, x]) == UNCERTAIN_RGB  # grey box
    assert tuple(int(v) for v in drawn[y + 30, 160]) != UNCERTAIN_RGB


def _tiny_face_picture(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut shrunk so that YuNet still finds the face, about 20 px wide."""
    import cv2

    small = cv2.resize(astronaut, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[:small.shape[0], :small.shape[1]] = small
    return canvas


def test_analysis_and_mirror_report_a_tiny_face_as_uncertain(face_model, astronaut):
    import cv2

    from emostyle.app import engine
    from emostyle.app.mirror import MirrorSession
    from emostyle.pipeline import Analyzer

    picture = _tiny_face_picture(astronaut)
    faces = Analyzer().analyze(picture).faces
    assert len(faces) == 1 and faces[0].box[2] < MIN_FACE_PX
    assert faces[0].to_dict()["uncertain"] is True
    assert "can't tell" in engine.face_title(1, faces[0])
    assert faces[0].emoji not in engine.face_title(1, faces[0]).split("(")[0]
    session = MirrorSession(engine.SharedAnalyzer("default"), smoothing=0.35)
    ok, data = cv2.imencode(".jpg", picture[:, :, ::-1])
    reply = session.process(data.tobytes())
    assert [f["uncertain"] for f in reply["faces"]] == [True]
    assert reply["faces"][0]["uncertain_reason"] == "too small"
    ok, data = cv2.imencode(".jpg", cv2.resize(astronaut, (640, 480))[:, :, ::-1])
    assert [f["uncertain"] for f in session.process(data.tobytes())["faces"]] == [False]
