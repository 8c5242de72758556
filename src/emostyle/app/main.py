"""The Streamlit entry script: page setup and navigation (run by ``emostyle app``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from emostyle.app.engine import lower_page_priority

HERE = Path(__file__).resolve().parent

lower_page_priority()  # this run's work yields the CPU to live mirror frames
st.set_page_config(page_title="emostyle", page_icon="😄", layout="wide")
st.navigation([
    st.Page(HERE / "page_photo.py", title="Photo", icon="📷", default=True),
    st.Page(HERE / "page_mirror.py", title="Live mirror", icon="🪞", url_path="live"),
    st.Page(HERE / "page_models.py", title="Models", icon="📊", url_path="models"),
]).run()
