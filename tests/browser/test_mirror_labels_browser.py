"""The mirror page draws each label where the server's reply places it (crowd layout, issue 17).

The real page runs in headless Chromium on the fake camera; Playwright serves the page and its
emoji, and answers its WebSocket with a real :class:`MirrorSession` whose analysis is a fixed
crowd of 20 faces. No app server and no model are needed. The test then reads the overlay
canvas: each planned rectangle holds its label (the face's colour at both ends, for a compact
mark its emoji), and nothing is painted away from the boxes and the planned rectangles.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from emostyle.app.mirror import EMOJI_DIR, MirrorSession, render_page
from emostyle.overlay import face_rgb

from ..test_app_mirror import FRAME, CrowdAnalyzer, assert_labels_readable, crowd_faces
from .conftest import launch_chromium, write_y4m

ORIGIN = "http://localhost:8599"  # answered by Playwright's routes, not by a server


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory) -> str:
    grey = np.full((FRAME[1], FRAME[1], 3), 90, np.uint8)
    return str(write_y4m(tmp_path_factory.mktemp("camera") / "grey.y4m", grey, frames=10,
                         size=FRAME))


def open_mirror(browser, session: MirrorSession, replies: list[dict]):  # noqa: ANN001, ANN201
    page = browser.new_page(viewport={"width": 1280, "height": 760})
    page.route(ORIGIN + "/mirror", lambda route: route.fulfill(
        body=render_page(), content_type="text/html; charset=utf-8"))
    page.route(ORIGIN + "/mirror/emoji/*.png", lambda route: route.fulfill(
        path=str(EMOJI_DIR / route.request.url.rsplit("/", 1)[1]), content_type="image/png"))

    def answer(ws) -> None:  # noqa: ANN001 - playwright WebSocketRoute
        def reply(message: str | bytes) -> None:
            replies.append(session.process(message))
            ws.send(json.dumps(replies[-1]))
        ws.on_message(reply)

    page.route_web_socket("**/mirror/ws*", answer)
    page.goto(ORIGIN + "/mirror", wait_until="domcontentloaded")
    return page


def canvas_rgba(page) -> np.ndarray:  # noqa: ANN001
    data = page.evaluate("""() => {
        const c = document.getElementById('overlay');
        return [c.width, c.height,
                Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]; }""")
    width, height, pixels = data
    return np.array(pixels, np.uint8).reshape(height, width, 4)


def test_mirror_draws_each_label_where_the_reply_places_it(playwright, camera_video):
    browser = launch_chromium(playwright, "--use-fake-device-for-media-stream",
                              "--use-fake-ui-for-media-stream",
                              f"--use-file-for-fake-video-capture={camera_video}")
    replies: list[dict] = []
    try:
        page = open_mirror(browser, MirrorSession(CrowdAnalyzer(crowd_faces())), replies)
        # every glyph loaded, and a few frames drawn with them
        page.wait_for_function("""() => window.mirrorStats.frames >= 3 &&
            [...document.querySelectorAll('.face img')].every(i => i.complete)""",
                               timeout=120_000)
        assert not page.evaluate("window.mirrorStats.error")
        page.evaluate("() => document.getElementById('toggle').click()")  # stop: canvas stays
        page.wait_for_timeout(300)
        drawn = canvas_rgba(page)
    finally:
        browser.close()
    assert drawn.shape[:2] == (FRAME[1], FRAME[0])  # the camera's size is the frame's size
    reply = replies[-1]
    assert_labels_readable(reply)
    faces = {(round(f.box[0]), round(f.box[1])): f for f in crowd_faces()}
    width = FRAME[0]
    expected = np.zeros(drawn.shape[:2], bool)  # where the page may paint: boxes and labels
    for f in reply["faces"]:
        face = faces[round(f["box"][0]), round(f["box"][1])]
        lb = f["label"]
        x, y, w, h = width - lb["x"] - lb["w"], lb["y"], lb["w"], lb["h"]  # mirrored
        expected[y:y + h, x:x + w] = True
        bx, by, bw, bh = (round(v) for v in f["box"])
        bx = width - bx - bw
        expected[max(0, by - 3):by + bh + 4, max(0, bx - 3):bx + bw + 4] = True
        if lb["compact"]:  # the emoji itself, filling its square
            centre = drawn[y + h // 2, x + w // 2]
            assert centre[3] > 200, (f, centre)
            assert (drawn[y:y + h, x:x + w, 3] > 0).mean() > 0.5, f
        else:  # the label's box in the face's colour, from one planned end to the other
            for px in (x + 1, x + w - 2):
                pixel = drawn[y + h // 2, px]
                assert pixel[3] > 200, (f, px, pixel)
                assert np.abs(pixel[:3].astype(int) - face_rgb(face)).max() <= 12, (f, pixel)
            assert (drawn[y:y + h, x:x + w, 3] > 200).mean() > 0.85, f
    stray = (drawn[..., 3] > 0) & ~expected
    assert stray.sum() < 30, f"{stray.sum()} px painted away from the boxes and planned labels"
