"""One process, one port: the Streamlit pages plus the live mirror's routes.

Streamlit's ``st.App`` runs the pages on Starlette and accepts extra routes, so the mirror's page
and WebSocket are served beside the pages, from the same origin: no second port to open, no
cross-origin rules, and the camera permission the browser gives the app covers the mirror too.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

MAIN_SCRIPT = Path(__file__).resolve().parent / "main.py"
MIRROR_PREFIX = "/mirror"
# Tells the pages that the mirror routes are being served (plain `streamlit run main.py` has
# no mirror; the page then says how to start one).
MIRROR_ENV = "EMOSTYLE_APP_MIRROR"


def build_app():  # noqa: ANN201 - streamlit.App
    """The ASGI app: Streamlit pages from :data:`MAIN_SCRIPT` and the mirror routes."""
    import streamlit as st

    from emostyle.app.mirror import mirror_routes

    os.environ[MIRROR_ENV] = MIRROR_PREFIX
    return st.App(str(MAIN_SCRIPT), routes=mirror_routes(MIRROR_PREFIX))


def server_config(port: int, host: str) -> dict:
    """Streamlit options for ``emostyle app``: no telemetry, no first-run prompt, no tracebacks."""
    from emostyle.app.engine import UPLOAD_TRANSFER_MB
    from emostyle.app.mirror import MAX_FRAME_BYTES

    return {
        "server.port": port,
        "server.address": host,
        "server.headless": True,  # no e-mail prompt, no browser opened by Streamlit
        # MB, over HTTP (the photo page's uploads); the page itself takes up to MAX_UPLOAD_MB
        "server.maxUploadSize": UPLOAD_TRANSFER_MB,
        # The WebSocket message limit (MB) of the server, for the mirror's frames and the pages'
        # own messages alike: a bigger message is refused before it is read into memory.
        "server.maxMessageSize": MAX_FRAME_BYTES // 1_000_000,
        "server.fileWatcherType": "none",
        "browser.gatherUsageStats": False,
        "browser.serverAddress": "localhost" if host in ("", "0.0.0.0", "::") else host,
        "client.showErrorDetails": "none",
        "client.toolbarMode": "minimal",
        "theme.base": "light",
    }


def settle_heap() -> int:
    """Load what the pages will load, then take every object this process holds out of the
    garbage collector's sight (``gc.freeze``); returns how many objects were frozen.

    CPython's collector holds the GIL for a whole collection, and a full one walks every
    object the process tracks: some 140,000 once the pages have loaded their libraries
    (Streamlit, and on the first upload pandas, Altair and its schema, PyArrow). Each photo
    upload allocates enough to set off one full collection, and for all of it (76-112 ms of
    CPU on 2 cores under a training load, 0.6-0.9 s of wall time there) the event loop that
    serves the mirror's WebSocket and the mirror's analysis threads stood still: the longest
    stall the mirrors saw during uploads. These objects (modules, their functions, classes
    and tables) live as long as the process, so walking them finds nothing: loaded and frozen
    before the first request, collections walk only what came later (5,000-15,000 objects
    after uploads). Frozen objects are still freed when nothing refers to them; only cyclic
    garbage among them would never be collected.
    """
    import altair  # noqa: F401 - the photo page's charts; with pandas, narwhals, jsonschema
    import onnxruntime  # noqa: F401 - the analysers and the style network
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401 - Streamlit sends a chart's data as Arrow
    from PIL import Image

    from emostyle.app import ui

    Image.init()  # every picture format's plugin, as the first upload would load them

    # Altair reads its Vega-Lite schema (tens of thousands of objects) on the first chart.
    ui.probability_chart([1 / 7] * 7).to_dict()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def run_opencv_in_callers() -> None:
    """Make OpenCV do its work in the thread that asks for it, not in its shared thread pool.

    The pool's threads belong to no page and no mirror: they run at the priority of whichever
    thread first started them, so a photo upload's resizes, face detection and painting
    filters ran there at the mirrors' priority, not at the page's lower one
    (:func:`emostyle.app.engine.lower_page_priority`), and each mirror frame lost up to half
    its core while an upload ran. With the work in the callers' threads, the nice values
    decide. With this and the page's OpenCV download JPEGs (``engine.jpeg_bytes``), two
    mirrors streaming during 4000x3000 uploads on 2 cores saw a longest gap of 57 and 63 ms
    against 125 and 149 ms before (``benchmarks/mirror_load.py --uploads``, docs/app.md).
    """
    import cv2

    cv2.setNumThreads(1)


def serve(port: int = 8501, host: str = "localhost") -> None:
    """Run the app until interrupted (what ``emostyle app`` does)."""
    app = build_app()
    run_opencv_in_callers()
    settle_heap()
    # st.App treats argv[0] as the launcher script and passes argv[1:] to the pages.
    sys.argv = [str(MAIN_SCRIPT)]
    app.run(config=server_config(port, host))
