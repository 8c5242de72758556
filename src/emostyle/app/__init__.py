"""The web app: a Streamlit photo page, the model cards, and the live emoji mirror.

``emostyle app`` serves all of it from one process and one port (:func:`emostyle.app.server.serve`).
:mod:`emostyle.app.engine` holds the logic the pages use and imports no Streamlit, so it can be
tested and reused on its own; :mod:`emostyle.app.mirror` is the mirror's frame endpoint.
"""
