"""Streamlit pieces the pages share: cached models, the probability chart, the error guard."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import streamlit as st

from emostyle.app import engine
from emostyle.emotions import EMOTIONS
from emostyle.errors import EmostyleError
from emostyle.memory import release_freed_memory

log = logging.getLogger(__name__)
T = TypeVar("T")


@st.cache_resource(max_entries=6, show_spinner="Loading the emotion model…")
def analyzer(model: str, detect: bool) -> engine.SharedAnalyzer:
    """One analyser per (model, detection on/off), shared by every browser session."""
    return engine.SharedAnalyzer(model, detect=detect)


@st.cache_resource(show_spinner="Loading the style model…")
def stylizer(model: str = "styles"):  # noqa: ANN201 - Stylizer
    return engine.load_stylizer(model)


# The decoded upload and its painting are kept in the browser session, one of each, not in a
# process-wide st.cache_data: that cache held up to 4 decoded photos and 6 paintings (37.7 MB
# each at 4096x3072) for every session together, and handed out an unpickled copy of each on
# every rerun. Here memory follows what is on screen: a new upload replaces the old one, and
# clearing the upload or closing the tab frees both (benchmarks/app_memory.py).
UPLOAD_SLOT, PAINTING_SLOT = "_emostyle_upload", "_emostyle_painting"


def remembered(slot: str, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()``, kept in this browser session under ``slot`` until another ``key`` comes.

    The old value is dropped before the new one is computed, so the two are never both held.
    """
    held = st.session_state.get(slot)
    if held is not None and held[0] == key:
        return held[1]
    st.session_state.pop(slot, None)
    value = compute()
    st.session_state[slot] = (key, value)
    return value


def forget_upload() -> None:
    """Drop this session's upload and painting (the user cleared the upload)."""
    for slot in (UPLOAD_SLOT, PAINTING_SLOT):
        st.session_state.pop(slot, None)


def decode(data: bytes, name: str) -> engine.Upload:
    """The upload decoded once per session, not on every rerun of the page."""
    key = (engine.upload_key(data), name)
    held = st.session_state.get(UPLOAD_SLOT)
    if held is None or held[0] != key:
        forget_upload()  # a new photo: the old one's painting goes too
    return remembered(UPLOAD_SLOT, key, lambda: engine.decode_upload(data, name))


def painted(key: str, choice_key: tuple, request_key: tuple, model: str, image,  # noqa: ANN001
            choice: engine.StyleChoice, request: engine.StyleRequest):  # noqa: ANN201
    """The painted picture, kept by upload hash and style so reruns do not repaint."""
    def paint():  # noqa: ANN202
        with st.spinner("Painting…"):
            return engine.paint(stylizer(model), image, choice, request)

    return remembered(PAINTING_SLOT, (key, choice_key, request_key, model), paint)


def probability_chart(probabilities, height: int = 190):  # noqa: ANN001, ANN201
    """A horizontal bar per emotion, in the emotion's display colour."""
    import altair as alt
    import pandas as pd

    rows = pd.DataFrame(engine.probability_rows(probabilities))
    labels = [r["label"] for r in engine.probability_rows(probabilities)]
    return alt.Chart(rows, height=height).mark_bar(cornerRadiusEnd=3).encode(
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%", title=None, tickCount=5)),
        y=alt.Y("label:N", sort=labels, title=None),
        color=alt.Color("emotion:N", legend=None,
                        scale=alt.Scale(domain=list(EMOTIONS),
                                        range=[engine.hex_color(e) for e in EMOTIONS])),
        tooltip=[alt.Tooltip("emotion:N"), alt.Tooltip("probability:Q", format=".1%")],
    )


def guarded(page: Callable[[], None], release_memory: bool = False) -> None:
    """Run a page; our errors become one friendly message, anything else a short one.

    Streamlit's own control flow (``st.stop``, reruns) derives from BaseException and passes.
    ``release_memory`` hands what the run freed back to the system afterwards (a photo's
    working copies are tens of MB each; see :mod:`emostyle.memory`).
    """
    try:
        page()
    except EmostyleError as exc:
        st.error(str(exc), icon="⚠️")
    except Exception as exc:  # a bug: the user gets one line, the server log the traceback
        log.exception("page failed")
        st.error(f"Something went wrong ({type(exc).__name__}: {exc}). The details are in the "
                 "app's log.", icon="⚠️")
    finally:
        if release_memory:
            release_freed_memory()


def file_label(path: Path) -> str:
    return f"{path.name} ({path.stat().st_size / 1e6:.1f} MB)"
