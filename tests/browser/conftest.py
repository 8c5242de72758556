"""A running ``emostyle app`` (one per test module) and headless Chromium to drive it.

Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright; Playwright never downloads a
browser here. Tests that need either skip with the reason when it is absent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

CHROMIUM = Path(os.environ.get("EMOSTYLE_CHROMIUM", "/usr/bin/chromium"))
# Without these, Chromium on a machine with no network stalls on refused connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# `emostyle app` whether or not cli.main already registers the command.
LAUNCH = "import emostyle.cli_app; from emostyle.cli import main; main()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"emostyle app exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.read() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"emostyle app did not answer within {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def app_url(face_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://localhost:PORT`` of an ``emostyle app`` started for a test module.

    Module-scoped so the server does not linger through the rest of the test session.
    """
    pytest.importorskip("streamlit", reason="the web app needs the app extra (streamlit)")
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "app", "--port", str(port)],
                                stdout=fh, stderr=subprocess.STDOUT,
                                env=os.environ | {"EMOSTYLE_FACE_MODEL": str(face_model)})
    url = f"http://localhost:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def playwright():  # noqa: ANN201 - playwright.sync_api.Playwright
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium "
                    "(apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        yield p


def launch_chromium(playwright, *extra_args: str):  # noqa: ANN001, ANN201 - Browser
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=CHROMIUM_ARGS + list(extra_args))


def write_y4m(path: Path, image: np.ndarray, frames: int = 20, size: tuple[int, int] = (640, 480)
              ) -> Path:
    """A YUV4MPEG2 video for Chromium's fake camera: ``image`` drifting slowly to the right.

    The format is a text header, then per frame ``FRAME\\n`` and the I420 planes (Y, then U
    and V at half resolution), exactly what OpenCV's RGB -> YUV_I420 conversion lays out.
    """
    w, h = size
    face = cv2.resize(image, (h, h), interpolation=cv2.INTER_AREA)
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            frame = np.full((h, w, 3), 90, np.uint8)
            x = (w - h) // 2 - frames + 2 * i
            frame[:, x:x + h] = face
            fh.write(b"FRAME\n")
            fh.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def save_screenshot(png: bytes, path: Path, width: int = 1100, max_kb: int = 300) -> Path:
    """A screenshot for the docs: scaled to ``width`` and reduced to 256 colours (small PNG)."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    small = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    assert path.stat().st_size < max_kb * 1024, f"{path} is {path.stat().st_size // 1024} KB"
    return path
