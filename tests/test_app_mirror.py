"""The mirror without a server: its defences (frame headers, bombs, log rate, origin, capacity)
and its replies (labels laid out for a crowd)."""

from __future__ import annotations

import threading
import time
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest

from emostyle.app import mirror
from emostyle.app.mirror import (
    LogLimiter,
    MirrorService,
    MirrorSession,
    decode_frame,
    face_replies,
    frame_size,
    page_config,
    same_origin,
)
from emostyle.emotions import EMOTIONS
from emostyle.errors import InputError
from emostyle.overlay import COMPACT_FACE_PX
from emostyle.results import Analysis, Face


def png_bomb(width: int, height: int) -> bytes:
    """A valid grayscale PNG of ``width`` x ``height`` black pixels, compressed to ~1 MB."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (len(body).to_bytes(4, "big") + kind + body
                + zlib.crc32(kind + body).to_bytes(4, "big"))

    row = b"\0" * (width + 1)  # filter byte + pixels
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return png_bomb(30000, 30000)


def jpeg(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), 120, np.uint8))
    return data.tobytes()


def test_frame_size_reads_the_header_of_jpeg_and_png(bomb):
    assert frame_size(jpeg(640, 480)) == ("jpeg", 640, 480)
    ok, png = cv2.imencode(".png", np.zeros((7, 300, 3), np.uint8))
    assert frame_size(png.tobytes()) == ("png", 300, 7)
    assert frame_size(bomb) == ("png", 30000, 30000)
    for bad in (b"", b"\0garbage", b"\xff\xd8\xff\xda", b"GIF89a" + b"\0" * 20):
        with pytest.raises(InputError):
            frame_size(bad)


def test_a_decompression_bomb_is_refused_without_decoding(bomb):
    assert len(bomb) < 1_000_000  # 900 MP in under 1 MB: the byte limit alone lets it in
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(InputError, match="30000x30000 px is larger than"):
        decode_frame(bomb)
    took = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Decoding would take seconds and 900 MB for the gray pixels alone (2.7 GB as BGR).
    assert took < 0.1 and peak < 5_000_000, (took, peak)


@pytest.mark.parametrize("size", [(10000, 3), (3, 10000), (20, 20)])
def test_narrow_or_tiny_frames_are_refused_in_one_line(size):
    with pytest.raises(InputError, match="too small or too narrow"):
        decode_frame(jpeg(*size))


def test_empty_and_garbage_frames_are_refused():
    with pytest.raises(InputError, match="empty frame"):
        decode_frame(b"")
    with pytest.raises(InputError, match="not a JPEG or PNG"):
        decode_frame(b"\0garbage" * 100)
    with pytest.raises(InputError, match="corrupt"):
        decode_frame(jpeg(640, 480)[:200])  # header intact, pixels cut off


def test_big_jpegs_are_decoded_at_reduced_size(monkeypatch):
    seen = []
    real = cv2.imdecode
    monkeypatch.setattr(mirror.cv2, "imdecode", lambda buf, flag: seen.append(flag)
                        or real(buf, flag))
    assert decode_frame(jpeg(2048, 1536)).shape == (768, 1024, 3)
    assert seen == [cv2.IMREAD_REDUCED_COLOR_2]  # decoded at half size, not 2048x1536
    assert decode_frame(jpeg(4000, 1000)).shape == (250, 1000, 3)
    assert seen[-1] == cv2.IMREAD_REDUCED_COLOR_4
    assert decode_frame(jpeg(640, 480)).shape == (480, 640, 3)
    assert seen[-1] == cv2.IMREAD_COLOR


def test_log_limiter_allows_one_line_a_minute():
    now = [0.0]
    limiter = LogLimiter(60, clock=lambda: now[0])
    allowed = []
    for _ in range(1000):  # 1000 bad frames in 10 s
        allowed.append(limiter.allow())
        now[0] += 0.01
    assert allowed.count(True) == 1 and limiter.suppressed == 999
    now[0] = 60.0
    assert limiter.allow() and not limiter.allow()


@pytest.mark.parametrize(("origin", "host", "ok"), [
    ("http://localhost:8501", "localhost:8501", True),
    ("https://App.example:443", "app.example:443", True),
    (None, "localhost:8501", True),  # not a browser
    ("http://evil.example", "localhost:8501", False),
    ("http://localhost:9999", "localhost:8501", False),
    ("null", "localhost:8501", False),  # sandboxed iframe, file:// page
    ("http://localhost:8501", "", False),
])
def test_same_origin(origin, host, ok):
    headers = {"host": host} if origin is None else {"origin": origin, "host": host}
    assert same_origin(headers) is ok


def test_busy_notice_when_clients_cannot_all_get_10_fps():
    service = MirrorService()
    assert service.busy_notice(8) is None  # nothing measured yet
    for _ in range(50):
        service.record_work(0.025)  # 40 frames/s in all
    assert abs(service.capacity_fps() - 40) < 1
    assert service.busy_notice(4) is None
    notice = service.busy_notice(5)
    assert notice and "5 mirrors share about 40" in notice and "about 8" in notice


def test_reply_time_excludes_waiting_for_the_shared_analyser(face_model, astronaut):
    """``ms`` is the frame's own work; the time queued behind another stream is ``wait_ms``."""
    session = MirrorService().session("default")
    frame = cv2.imencode(".jpg", cv2.resize(astronaut, (640, 480))[:, :, ::-1])[1].tobytes()
    session.process(frame)
    lock = session.analyzer._lock
    lock.acquire()
    threading.Timer(0.5, lock.release).start()
    reply = session.process(frame)
    assert reply["wait_ms"] >= 400 and reply["ms"] < 300, reply


# ------------------------------------------------------------------------ labels in a crowd

# 20 faces 26 to 90 px, mixed so that neighbours differ, on a 5 x 4 grid whose last column and
# row run to the right and bottom edges of a 640 x 480 frame: labels below or right of those
# faces would leave the frame, and neighbours' labels collide if placed at one fixed spot.
CROWD_SIDES = [90, 60, 45, 30, 26, 70, 52, 40, 34, 28, 80, 36, 64, 48, 32, 56, 42, 38, 75, 27]
FRAME = (640, 480)


def crowd_faces() -> list[Face]:
    """A crowd for the mirror, every face readable and sure of its emotion (so each label has
    its emotion's colour): tiny ones under :data:`COMPACT_FACE_PX`, others up to 90 px."""
    faces = []
    for i, side in enumerate(CROWD_SIDES):
        col, row = i % 5, i // 5
        x = 8 + col * 130 if col < 4 else FRAME[0] - side  # the last column at the edge
        y = 6 + row * 118 if row < 3 else FRAME[1] - side  # the last row at the bottom
        p = np.full(7, 0.025)
        p[[3, 0, 4, 5, 1, 2][i % 6]] = 0.85  # happy, angry, sad, surprise, disgust, fear
        faces.append(Face((float(x), float(y), float(side), float(side)), (), 0.9,
                          tuple(float(v) for v in p / p.sum())))
    return faces


class CrowdAnalyzer:
    """Stands in for the shared analyser: every frame shows the same crowd."""

    def __init__(self, faces: list[Face]) -> None:
        self.faces = tuple(faces)

    def analyze_timed(self, image: np.ndarray, min_score: float) -> tuple[Analysis, float, float]:
        return Analysis(self.faces, image.shape[1], image.shape[0]), 0.0, 0.0


def assert_labels_readable(reply: dict) -> None:
    """Every face's label inside the frame, none over another; compact marks on tiny faces."""
    width, height = reply["width"], reply["height"]
    rects = [(f["label"]["x"], f["label"]["y"], f["label"]["w"], f["label"]["h"])
             for f in reply["faces"]]
    for x, y, w, h in rects:
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height, (x, y, w, h)
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            apart = (min(a[0] + a[2], b[0] + b[2]) <= max(a[0], b[0])
                     or min(a[1] + a[3], b[1] + b[3]) <= max(a[1], b[1]))
            assert apart, (a, b)
    for f in reply["faces"]:
        lb = f["label"]
        if min(f["box"][2:]) < COMPACT_FACE_PX:
            assert lb["compact"] and lb["text"] is None and lb["w"] == lb["h"] < f["box"][2]
        if not lb["compact"]:
            assert lb["text"] == f"{f['emotion']} {f['confidence']:.0%}" and lb["text_px"] >= 12


def test_a_crowded_frame_gets_labels_apart_and_inside_the_frame():
    faces = crowd_faces()
    replies = face_replies(faces, range(1, 21), *FRAME)
    reply = {"width": FRAME[0], "height": FRAME[1], "faces": replies}
    assert_labels_readable(reply)
    assert [f["id"] for f in replies] == list(range(1, 21))
    full = [f for f in replies if not f["label"]["compact"]]
    assert len(full) >= 8, "the faces with room for a label get one"
    # the old page put every label under its box: the bottom row's would have left the frame
    assert any(f["label"]["y"] < f["box"][1] for f in replies if f["box"][1] > 400)


def test_session_replies_carry_the_planned_labels():
    """Through the real frame path (decode, tracking, smoothing), with the crowd as analysis."""
    session = MirrorSession(CrowdAnalyzer(crowd_faces()))
    frame = cv2.imencode(".jpg", np.full((FRAME[1], FRAME[0], 3), 90, np.uint8))[1].tobytes()
    for _ in range(3):
        reply = session.process(frame)
    assert len(reply["faces"]) == 20 and {f["id"] for f in reply["faces"]} == set(range(1, 21))
    assert_labels_readable(reply)
    # the fields the page and older clients read are all still there
    assert set(reply["faces"][0]) >= {"id", "box", "emotion", "emoji", "confidence",
                                      "uncertain", "uncertain_reason", "probabilities"}


def test_page_config_gives_each_label_colour_its_text_colour():
    config = page_config()
    assert set(config["ink"]) == set(EMOTIONS)
    assert config["ink"]["sad"] == "#ffffff" and config["ink"]["happy"] == "#141414"


def test_planning_a_crowd_costs_little_per_frame():
    """The added server time per frame: plan the labels of 1 and of 20 faces (CPU time)."""
    one, twenty = crowd_faces()[:1], crowd_faces()
    took = {}
    for name, faces in (("1 face", one), ("20 faces", twenty)):
        face_replies(faces, range(len(faces)), *FRAME)
        times = []
        for _ in range(30):
            started = time.process_time()
            face_replies(faces, range(len(faces)), *FRAME)
            times.append(time.process_time() - started)
        took[name] = 1000 * float(np.median(times))
    print("mirror label planning: " + ", ".join(f"{k} {v:.2f} ms" for k, v in took.items()))
    assert took["20 faces"] < 25, took


# -------------------------------------------------------- labels that keep their places

class SequenceAnalyzer:
    """Stands in for the shared analyser: frame after frame, the next of the given crowds."""

    def __init__(self, crowds: list[list[Face]]) -> None:
        self.crowds, self.calls = crowds, 0

    def analyze_timed(self, image: np.ndarray, min_score: float) -> tuple[Analysis, float, float]:
        faces = tuple(self.crowds[self.calls % len(self.crowds)])
        self.calls += 1
        return Analysis(faces, image.shape[1], image.shape[0]), 0.0, 0.0


def test_session_replies_keep_a_jittering_face_label_in_place():
    """An 80 px face at the frame's bottom edge, its box moving 1-3 px a frame: the label below
    it is pushed up onto the chin by 1 to 4 rows, where a fresh plan flips it to above. The
    session's replies keep it below on every frame; a still face beside it keeps its label."""
    def frame_faces(y: int) -> list[Face]:
        happy = (0.02, 0.01, 0.02, 0.9, 0.02, 0.02, 0.01)
        return [Face((300.0, float(y), 80.0, 80.0), (), 0.9, happy),
                Face((60.0, 100.0, 90.0, 90.0), (), 0.9, happy)]

    ys = [380, 383, 381, 382, 380, 383, 381, 382]
    fresh = [face_replies(frame_faces(y), [1, 2], *FRAME)[0]["label"] for y in ys]
    assert len({lb["y"] > y for lb, y in zip(fresh, ys, strict=True)}) == 2, \
        "the case must make per-frame planning switch"
    session = MirrorSession(SequenceAnalyzer([frame_faces(y) for y in ys]))
    frame = cv2.imencode(".jpg", np.full((FRAME[1], FRAME[0], 3), 90, np.uint8))[1].tobytes()
    replies = [session.process(frame) for _ in ys]
    for reply, y in zip(replies, ys, strict=True):
        assert_labels_readable(reply)
        edge, still = reply["faces"]
        assert edge["box"][:2] == [300, y] and [edge["id"], still["id"]] == [1, 2]
        assert edge["label"]["y"] > y, "below the face on every frame"
        assert not edge["label"]["compact"]
    # below, held inside the frame at its bottom edge: one rect on every frame; the still
    # face's rect does not move either
    for i in (0, 1):
        assert len({tuple(r["faces"][i]["label"][k] for k in "xywh") for r in replies}) == 1
