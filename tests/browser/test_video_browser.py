"""`emostyle video` output in real headless Chromium: it plays, with and without sound.

Chromium plays H.264 and VP9 but not MPEG-4 Part 2 (what OpenCV writes in .mp4), which is why
the writer goes through ffmpeg; the last test shows that this check would catch a regression.
The files are served over HTTP by a small server thread, as a web page would get them.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..test_video import OneFace, clip_with_audio, ffmpeg, moving_face_frames, write_video
from .conftest import launch_chromium

PAGE = """<!doctype html><meta charset="utf-8">
<video id="v" muted playsinline preload="auto" src="{src}"></video>"""


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """A folder and the http://127.0.0.1:PORT that serves it."""
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: ANN002 - no request log in the test output
        pass


@pytest.fixture(scope="module")
def browser(playwright):  # noqa: ANN001, ANN201
    browser = launch_chromium(playwright, "--autoplay-policy=no-user-gesture-required")
    yield browser
    browser.close()


def play(browser, served: tuple[Path, str], name: str) -> dict:  # noqa: ANN001
    """Load ``name`` in a <video>, play it muted, and report what the element saw."""
    root, url = served
    (root / f"{name}.html").write_text(PAGE.format(src=name), encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(f"{url}/{name}.html")
        # play() rejects when the file cannot be decoded; the error is reported, not raised.
        page.evaluate("""() => new Promise(done => {
            const v = document.getElementById('v');
            v.onerror = () => done();
            v.play().then(done, done);
        })""")
        page.wait_for_function(
            "() => { const v = document.getElementById('v');"
            " return v.error !== null || v.currentTime > 0.5; }", timeout=20_000)
        return page.evaluate("""() => { const v = document.getElementById('v'); return {
            error: v.error && v.error.code, width: v.videoWidth, height: v.videoHeight,
            time: v.currentTime, duration: v.duration,
            audioBytes: v.webkitAudioDecodedByteCount,
            videoBytes: v.webkitVideoDecodedByteCount}; }""")
    finally:
        page.close()


def painted_video(src: Path, out: Path) -> Path:
    from emostyle.video import process_video

    process_video(src, out, OneFace())
    return out


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_output_without_audio_plays_in_chromium(browser, served, astronaut, tmp_path, suffix):
    ffmpeg()
    root, _ = served
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 20))
    painted_video(src, root / f"silent{suffix}")
    state = play(browser, served, f"silent{suffix}")
    assert state["error"] is None, state
    assert (state["width"], state["height"]) == (480, 360)
    assert state["time"] > 0.5 and state["videoBytes"] > 0
    assert state["audioBytes"] == 0


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_output_with_audio_plays_in_chromium(browser, served, tmp_path, suffix):
    root, _ = served
    src = clip_with_audio(tmp_path / "with_audio.mp4", seconds=2)
    painted_video(src, root / f"sound{suffix}")
    state = play(browser, served, f"sound{suffix}")
    assert state["error"] is None, state
    assert (state["width"], state["height"]) == (320, 240)
    assert state["time"] > 0.5 and 1.9 <= state["duration"] <= 2.1
    assert state["audioBytes"] > 0  # the sound was decoded too (muted, so not heard)


def test_the_opencv_fallback_is_what_chromium_refuses(browser, served, astronaut, tmp_path,
                                                      monkeypatch):
    """MPEG-4 Part 2 in .mp4 does not play: the check above can fail."""
    from emostyle import video

    monkeypatch.setattr(video, "ffmpeg_exe", lambda: None)
    root, _ = served
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 20))
    painted_video(src, root / "mp4v.mp4")
    state = play(browser, served, "mp4v.mp4")
    assert state["error"] == 4, state  # MEDIA_ERR_SRC_NOT_SUPPORTED
