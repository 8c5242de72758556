"""The mirror's defences, without a server: frame headers, bombs, log rate, origin, capacity."""

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
    decode_frame,
    frame_size,
    same_origin,
)
from emostyle.errors import InputError


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
