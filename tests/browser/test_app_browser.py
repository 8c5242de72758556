"""The app in real headless Chromium: a photo upload, and the mirror on a fake camera.

Also takes the screenshots the README shows: into docs/screenshots/ when
``EMOSTYLE_UPDATE_SCREENSHOTS=1``, else into a temporary folder (so a test run leaves the
checkout unchanged).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ..conftest import EXAMPLE, ROOT
from ..test_app_engine import style_model_missing
from .conftest import launch_chromium, save_screenshot, write_y4m

HAPPY = "\U0001F604"


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    if os.environ.get("EMOSTYLE_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser(playwright):  # noqa: ANN001, ANN201
    browser = launch_chromium(playwright)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def camera_video(astronaut, tmp_path_factory) -> Path:
    return write_y4m(tmp_path_factory.mktemp("camera") / "astronaut.y4m", astronaut)


def loaded_width(page, img) -> int:  # noqa: ANN001 - Playwright Page and Locator
    """The natural width of an <img> once it has finished loading (not before: no race)."""
    handle = img.element_handle(timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle,
                           timeout=30_000)
    return handle.evaluate("img => img.naturalWidth")


def test_photo_upload_shows_emoji_bars_and_painting(app_url, browser, screenshots):
    page = browser.new_page(viewport={"width": 1280, "height": 1900})
    page.goto(app_url, wait_until="domcontentloaded")
    page.get_by_text("Upload a photo with faces").wait_for(timeout=60_000)
    page.locator("[data-testid='stFileUploader'] input[type=file]").first.set_input_files(
        str(EXAMPLE))
    # The emoji: in the face's title and drawn on the picture.
    page.get_by_text(f"Face 1: {HAPPY} happy").wait_for(timeout=60_000)
    page.get_by_text(f"{HAPPY} happy (").wait_for()
    images = page.locator("[data-testid='stImage'] img")
    assert loaded_width(page, images.first) == 512
    # The bars: one Vega-Lite chart, drawn.
    chart = page.locator("[data-testid='stVegaLiteChart']")
    chart.locator("canvas, svg").first.wait_for(state="visible", timeout=30_000)
    assert chart.count() == 1
    # The painting, or the notice saying why there is none.
    missing = style_model_missing()
    if missing is None:
        page.get_by_text("Painted in the style of the mood").wait_for(timeout=120_000)
        assert images.count() == 2
        assert loaded_width(page, images.nth(1)) == 512
    else:
        page.get_by_text("The mood painting is not available here").wait_for()
    # The JSON download holds the same reading.
    with page.expect_download() as download:
        page.get_by_text("Results (JSON)").click()
    doc = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert doc["mood"] == "happy" and doc["faces"][0]["emoji"] == HAPPY
    page.wait_for_timeout(500)  # let the chart finish its transition
    bottom = page.locator("[data-testid='stMainBlockContainer']").evaluate(
        "el => el.getBoundingClientRect().bottom")
    clip = {"x": 0, "y": 0, "width": 1280, "height": min(1900, bottom + 24)}
    save_screenshot(page.screenshot(clip=clip), screenshots / "app.png")
    page.close()


def test_bad_upload_in_the_browser(app_url, browser, tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    page = browser.new_page()
    page.goto(app_url, wait_until="domcontentloaded")
    page.get_by_text("Upload a photo with faces").wait_for(timeout=60_000)
    page.locator("[data-testid='stFileUploader'] input[type=file]").first.set_input_files(
        str(notes))
    error = page.get_by_text("could not be read as a picture")
    error.wait_for(timeout=30_000)
    assert "notes.jpg" in error.inner_text()
    assert page.get_by_text("Traceback").count() == 0
    page.close()


def test_mirror_on_a_fake_camera(app_url, playwright, camera_video, screenshots):
    browser = launch_chromium(playwright, "--use-fake-device-for-media-stream",
                              "--use-fake-ui-for-media-stream",
                              f"--use-file-for-fake-video-capture={camera_video}")
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        page.goto(app_url + "/live", wait_until="domcontentloaded")
        page.locator("iframe").wait_for(timeout=60_000)
        mirror = next(f for f in page.frames if "/mirror" in f.url)
        face = mirror.locator(".face[data-emotion]").first
        face.wait_for(timeout=60_000)
        assert face.get_attribute("data-emotion") == "happy"
        assert loaded_width(mirror, face.locator("img")) > 0
        # Count frames over a few seconds once the stream runs.
        mirror.wait_for_timeout(1000)
        first = mirror.evaluate("({...window.mirrorStats, t: performance.now()})")
        mirror.wait_for_timeout(4000)
        last = mirror.evaluate("({...window.mirrorStats, t: performance.now()})")
        fps = (last["frames"] - first["frames"]) / ((last["t"] - first["t"]) / 1000)
        print(f"mirror in Chromium: {fps:.1f} fps end to end, server {last['serverMs']} ms "
              f"per frame")
        assert last["faces"] == 1 and last["emotion"] == "happy" and not last["error"]
        assert fps >= 10, f"{fps:.1f} fps"
        # The overlay (box, emoji, label) is drawn on the canvas over the video.
        painted = mirror.evaluate("""() => {
            const c = document.getElementById('overlay');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }""")
        assert painted > 1000
        save_screenshot(page.screenshot(), screenshots / "mirror.png")
    finally:
        browser.close()


@pytest.mark.parametrize(("args", "message"), [
    (("--use-fake-device-for-media-stream",), "Camera access is blocked"),
    ((), "No camera was found"),
], ids=["camera-not-allowed", "no-camera"])
def test_mirror_without_a_usable_camera(app_url, playwright, args, message):
    browser = launch_chromium(playwright, *args)
    try:
        context = browser.new_context()
        if not args:  # allowed, but there is no camera at all
            context.grant_permissions(["camera"])
        page = context.new_page()
        page.goto(app_url + "/mirror", wait_until="domcontentloaded")
        page.locator("#message").get_by_text(message).wait_for(timeout=30_000)
        assert page.locator("#toggle").inner_text() == "Start"
    finally:
        browser.close()
