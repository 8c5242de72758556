"""The live mirror page: the camera page served by ``emostyle app``, embedded."""

from __future__ import annotations

import os
from urllib.parse import urlencode

import streamlit as st

from emostyle.app import engine, ui
from emostyle.app.mirror import DEFAULT_SMOOTHING
from emostyle.app.server import MIRROR_ENV


def page() -> None:
    st.title("🪞 Live emoji mirror")
    st.caption("Your camera, with an emoji on every face and each face's emotions smoothed "
               "over the last few frames.")
    prefix = os.environ.get(MIRROR_ENV)
    if not prefix:
        st.info("The live mirror is served by `emostyle app`. Start the app with that command "
                "(not with `streamlit run`) to use it.", icon="🪞")
        return
    with st.sidebar:
        st.header("Mirror")
        model = st.radio("Emotion model", engine.emotion_models(), key="mirror_model")
        smoothing = st.slider("Smoothing", 0.05, 1.0, DEFAULT_SMOOTHING, 0.05,
                              key="mirror_smoothing",
                              help="Weight of the newest frame in each face's moving average: "
                                   "lower is calmer, 1 shows every frame as it is.")
    src = f"{prefix}?{urlencode({'model': model, 'smoothing': smoothing})}"
    st.iframe(src, height=600)
    st.caption(f"[Open the mirror in its own tab]({src}). The browser asks for the camera "
               "once; cameras work on http://localhost and https:// pages only.")


ui.guarded(page)
