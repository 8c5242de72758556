"""Streamlit pieces the pages share: cached models, the probability chart, the error guard."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from emostyle.app import engine
from emostyle.emotions import EMOTIONS
from emostyle.errors import EmostyleError

log = logging.getLogger(__name__)


@st.cache_resource(max_entries=6, show_spinner="Loading the emotion model…")
def analyzer(model: str, detect: bool) -> engine.SharedAnalyzer:
    """One analyser per (model, detection on/off), shared by every browser session."""
    return engine.SharedAnalyzer(model, detect=detect)


@st.cache_resource(show_spinner="Loading the style model…")
def stylizer(model: str = "styles"):  # noqa: ANN201 - Stylizer
    return engine.load_stylizer(model)


@st.cache_data(max_entries=4, show_spinner=False)
def decode(data: bytes, name: str) -> engine.Upload:
    return engine.decode_upload(data, name)


@st.cache_data(max_entries=6, show_spinner="Painting…")
def painted(key: str, choice_key: tuple, request_key: tuple, model: str, _image,  # noqa: ANN001
            _choice: engine.StyleChoice, _request: engine.StyleRequest):  # noqa: ANN202
    """The painted picture, cached by upload hash and style so reruns do not repaint."""
    return engine.paint(stylizer(model), _image, _choice, _request)


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


def guarded(page: Callable[[], None]) -> None:
    """Run a page; our errors become one friendly message, anything else a short one.

    Streamlit's own control flow (``st.stop``, reruns) derives from BaseException and passes.
    """
    try:
        page()
    except EmostyleError as exc:
        st.error(str(exc), icon="⚠️")
    except Exception as exc:  # a bug: the user gets one line, the server log the traceback
        log.exception("page failed")
        st.error(f"Something went wrong ({type(exc).__name__}: {exc}). The details are in the "
                 "app's log.", icon="⚠️")


def file_label(path: Path) -> str:
    return f"{path.name} ({path.stat().st_size / 1e6:.1f} MB)"
