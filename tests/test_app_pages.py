"""The Streamlit pages, run headless with Streamlit's AppTest (no browser, a few seconds)."""

from __future__ import annotations

import io
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from emostyle.detection import DEFAULT_MIN_SCORE
from emostyle.model_files import BUNDLED_DIR

from .conftest import EXAMPLE
from .test_app_engine import needs_styles, style_model_missing

pytest.importorskip("streamlit", reason="the web app needs the app extra (streamlit)")

from streamlit.testing.v1 import AppTest  # noqa: E402

from emostyle.app import server  # noqa: E402

MAIN = server.MAIN_SCRIPT
TIMEOUT = 60  # the first run loads the models


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture()
def app(face_model) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/jpeg") -> AppTest:
    at.file_uploader(key="upload").set_value((name, data, mime))
    at.run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> list[str]:  # noqa: ANN001
    return [e.value for e in elements]


def charts(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def test_start_page_invites_an_upload(app):
    assert "Upload a photo with faces" in texts(app.info)[0]
    assert app.title[0].value.endswith("emostyle")
    assert app.radio(key="model_choice").value == "default"
    assert app.toggle(key="detect").value is True
    assert app.slider(key="min_score").value == pytest.approx(DEFAULT_MIN_SCORE)


def test_upload_shows_faces_bars_mood_and_downloads(app):
    upload(app, "astronaut.jpg", EXAMPLE.read_bytes())
    assert not app.error
    md = texts(app.markdown)
    assert any(m.startswith("#### \U0001F604 happy") for m in md), md  # the mood
    assert any(m.startswith("**Face 1: \U0001F604 happy") for m in md), md
    assert len(charts(app)) == 1
    assert len(app.get("image")) >= 1  # the annotated picture
    labels = [b.label for b in app.get("download_button")]
    assert any("emoji" in lb for lb in labels) and any("JSON" in lb for lb in labels)
    if style_model_missing():
        assert any("mood painting is not available" in t for t in texts(app.info))


@needs_styles
def test_upload_paints_the_picture(app):
    upload(app, "astronaut.jpg", EXAMPLE.read_bytes())
    images = app.get("image")
    assert len(images) == 2, "annotated and painted pictures"
    assert any("Painted" in b.label for b in app.get("download_button"))
    app.radio(key="style_mode").set_value("blend")
    app.slider(key="style_strength").set_value(0.5)
    app.checkbox(key="style_keep_colors").check()
    app.run()
    assert not app.exception and not app.error
    app.radio(key="style_mode").set_value("emotion")
    app.run()
    app.selectbox(key="style_emotion").set_value("fear")
    app.run()
    assert not app.exception and not app.error
    captions = [img.proto.imgs[0].caption for img in app.get("image")]
    assert len(captions) == 2 and "fear style" in captions[1]
    app.radio(key="style_mode").set_value("per_face")
    app.run()
    assert not app.exception and not app.error
    captions = [img.proto.imgs[0].caption for img in app.get("image")]
    assert "each face in its own style (\U0001F604 happy)" in captions[1]


@needs_styles
def test_pictures_reach_the_page_no_wider_than_it_shows_them(app, astronaut, monkeypatch):
    """A photo wider than Streamlit shows a picture (``engine.SCREEN_WIDTH``) is handed to
    ``st.image`` as a JPEG of that width, the annotated picture and the painting alike.

    Given the full-size array, Streamlit encodes it whole, decodes it again, resizes and
    re-encodes it in the page's thread, much of it holding the GIL that the mirror's socket
    and frames need (about 200 ms of CPU per 4096x3072 picture).
    """
    import streamlit as st

    from emostyle.app import engine

    shown = []
    original = st.image

    def image(picture, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        shown.append(Image.open(io.BytesIO(picture)).size if isinstance(picture, bytes)
                     else (picture.shape[1], picture.shape[0]))
        return original(picture, *args, **kwargs)

    monkeypatch.setattr(st, "image", image)
    upload(app, "big.jpg", jpeg_bytes(np.asarray(Image.fromarray(astronaut).resize((2400, 1800)))))
    assert not app.error
    side = engine.SCREEN_WIDTH
    assert shown == [(side, round(1800 * side / 2400))] * 2, shown
    assert "big.jpg · 2400x1800 px" in app.get("image")[0].proto.imgs[0].caption


@needs_styles
def test_a_session_keeps_one_upload_and_one_painting(app):
    from emostyle.app import ui

    upload(app, "astronaut.jpg", EXAMPLE.read_bytes())
    photo, painting = app.session_state[ui.UPLOAD_SLOT], app.session_state[ui.PAINTING_SLOT]
    app.slider(key="min_score").set_value(0.5)  # a rerun: nothing decoded or painted again
    app.run()
    assert app.session_state[ui.UPLOAD_SLOT][1] is photo[1]
    assert app.session_state[ui.PAINTING_SLOT][1] is painting[1]
    app.slider(key="style_strength").set_value(0.5)  # another painting replaces the first
    app.run()
    assert app.session_state[ui.UPLOAD_SLOT][1] is photo[1]
    assert app.session_state[ui.PAINTING_SLOT][0] != painting[0]
    flipped = np.ascontiguousarray(np.asarray(Image.open(EXAMPLE))[:, ::-1])
    upload(app, "flipped.jpg", jpeg_bytes(flipped))  # a new photo replaces both
    assert app.session_state[ui.UPLOAD_SLOT][0] != photo[0]
    assert app.session_state[ui.PAINTING_SLOT][0][0] != painting[0][0]
    app.file_uploader(key="upload").set_value(None)  # cleared: nothing is held
    app.run()
    assert not app.exception
    assert ui.UPLOAD_SLOT not in app.session_state
    assert ui.PAINTING_SLOT not in app.session_state


@needs_styles
def test_the_page_paints_with_the_apps_style_model(face_model, tmp_path, monkeypatch):
    """``emostyle app --style-model FILE``: a style only that model has is painted with it."""
    from emostyle.app import engine
    from emostyle.model_files import style_model_files

    for f in style_model_files(BUNDLED_DIR / "styles_default.onnx"):
        shutil.copy(f, tmp_path / f.name)
    card_file = tmp_path / "styles_default.json"
    card = json.loads(card_file.read_text())
    card["styles"][0]["name"] = card["emotion_styles"]["angry"] = "dots"  # a renamed style
    card_file.write_text(json.dumps(card))
    monkeypatch.setenv(engine.STYLE_MODEL_ENV, str(tmp_path / "styles_default.onnx"))
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.run()
    upload(at, "astronaut.jpg", EXAMPLE.read_bytes())
    at.radio(key="style_mode").set_value("emotion")
    at.run()
    at.selectbox(key="style_emotion").set_value("dots")
    at.run()
    assert not at.exception and not at.warning, texts(at.warning)
    captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert len(captions) == 2 and "dots" in captions[1], captions


def test_photo_from_the_camera(app):
    app.segmented_control(key="source").set_value("Camera")
    app.run()
    assert "allow the camera" in " ".join(texts(app.caption)).lower()
    app.camera_input(key="camera").upload("image.jpg", EXAMPLE.read_bytes())
    app.run()
    assert not app.exception and not app.error
    assert any(m.startswith("**Face 1: \U0001F604 happy") for m in texts(app.markdown))


def test_photo_without_a_face(app):
    rng = np.random.default_rng(0)
    noise = (rng.random((240, 320, 3)) * 60 + 100).astype(np.uint8)
    upload(app, "wall.png", png_bytes(noise), "image/png")
    assert not app.error
    warning = " ".join(texts(app.warning))
    assert "No face to read in this photo" in warning and "no face found" in warning
    assert not charts(app)
    assert "#### no face, so no mood" in texts(app.markdown)


def test_file_that_is_not_a_picture(app):
    upload(app, "notes.jpg", b"shopping list: eggs, milk\n", "image/jpeg")
    errors = texts(app.error)
    assert len(errors) == 1
    assert "could not be read as a picture" in errors[0] and "notes.jpg" in errors[0]
    assert "Traceback" not in errors[0]
    assert not charts(app) and not app.get("image")


def test_huge_picture_is_scaled_down_with_a_notice(app):
    wide = np.full((300, 5000, 3), 128, np.uint8)
    upload(app, "panorama.jpg", jpeg_bytes(wide))
    notes = " ".join(texts(app.info))
    assert "5000x300" in notes and "scaled down to 4096x246" in notes
    assert not app.error


def test_face_crop_without_detection(app, astronaut):
    crop = jpeg_bytes(astronaut[55:185, 170:280])
    app.toggle(key="detect").set_value(False)
    upload(app, "crop.jpg", crop)
    assert app.slider(key="min_score").disabled
    assert any(m.startswith("**Face 1: ") for m in texts(app.markdown))
    assert len(charts(app)) == 1


def test_high_threshold_drops_the_face_and_says_so(app):
    app.slider(key="min_score").set_value(0.95)  # the example's face scores 0.93
    upload(app, "astronaut.jpg", EXAMPLE.read_bytes())
    warning = " ".join(texts(app.warning))
    assert "No face" in warning and "lower the confidence threshold" in warning
    app.slider(key="min_score").set_value(0.9)
    app.run()
    assert len(charts(app)) == 1 and not app.warning


def test_exported_model_by_path(app, tmp_path):
    for suffix in (".onnx", ".json"):
        shutil.copy(BUNDLED_DIR / f"emotion_default{suffix}", tmp_path / f"mine{suffix}")
    app.radio(key="model_choice").set_value("exported")
    app.run()
    app.text_input(key="model_path").input(str(tmp_path / "mine.onnx"))
    upload(app, "astronaut.jpg", EXAMPLE.read_bytes())
    assert not app.error
    assert any(m.startswith("**Face 1: ") for m in texts(app.markdown))


def test_exported_model_path_that_does_not_exist(app, tmp_path):
    app.radio(key="model_choice").set_value("exported")
    app.run()
    app.text_input(key="model_path").input(str(tmp_path / "nope.onnx"))
    upload(app, "astronaut.jpg", EXAMPLE.read_bytes())
    errors = " ".join(texts(app.error))
    assert "nope.onnx: model file not found" in errors


def test_models_page_shows_the_cards(app):
    app.switch_page(str(MAIN.parent / "page_models.py"))
    app.run()
    assert not app.exception and not app.error
    headers = texts(app.header)
    assert "emotion_default" in headers and "Architecture comparison" in headers
    labels = [m.label for m in app.metric]
    assert "PrivateTest accuracy" in labels and "Calibration error (ECE)" in labels


def test_mirror_page_without_the_mirror_server(app, monkeypatch):
    monkeypatch.delenv(server.MIRROR_ENV, raising=False)
    app.switch_page(str(MAIN.parent / "page_mirror.py"))
    app.run()
    assert not app.exception
    assert "served by `emostyle app`" in " ".join(texts(app.info))


def test_mirror_page_embeds_the_mirror(app, monkeypatch):
    monkeypatch.setenv(server.MIRROR_ENV, "/mirror")
    app.switch_page(str(MAIN.parent / "page_mirror.py"))
    app.run()
    assert not app.exception and not app.error
    frames = app.get("iframe")
    assert len(frames) == 1
    assert "/mirror?model=default&smoothing=0.35" in str(frames[0].proto)


def test_explanation_switch_lays_the_map_over_the_face(app, monkeypatch):
    """What the page shows (the picture handed to ``annotate``): the photo itself with the
    switch off, the photo with the map over the face - and nothing far from it - with it on."""
    from emostyle import overlay
    from emostyle.images import read_image

    shown = []
    real = overlay.annotate
    monkeypatch.setattr(overlay, "annotate",
                        lambda image, analysis, **kw: shown.append((image.copy(), analysis))
                        or real(image, analysis, **kw))
    upload(app, "astronaut.jpg", EXAMPLE.read_bytes())
    image = read_image(EXAMPLE)
    assert shown and np.array_equal(shown[-1][0], image)  # switch off: the photo
    app.toggle(key="explain").set_value(True)
    app.run()
    assert not app.exception and not app.warning
    mapped, analysis = shown[-1]
    x, y, w, h = (round(v) for v in analysis.faces[0].box)
    changed = np.abs(mapped.astype(int) - image).sum(2) > 0
    assert changed[y:y + h, x:x + w].mean() > 0.3  # the map covers the face...
    assert changed[:, :x - w // 2].sum() == 0  # ...and nothing far from it


def test_models_page_shows_each_figure_once_and_no_broken_links(app):
    from emostyle.app import engine, page_models

    app.switch_page(str(MAIN.parent / "page_models.py"))
    app.run()
    assert not app.exception and not app.error
    markdown = texts(app.markdown)
    assert any("**default**" in m and "**accurate**" in m for m in markdown), \
        "the page says what the two emotion models are"
    for text in markdown:  # a relative link or image in st.markdown is broken in the app
        for target in re.findall(r"\]\(([^)]*)\)", text):
            assert re.match(r"https?://", target), (target, text[:200])
    images = app.get("image")
    urls = [img.proto.imgs[0].url for img in images]
    captions = [img.proto.imgs[0].caption for img in images]
    assert len(set(urls)) == len(urls) and len(set(captions)) == len(captions)
    listed = (sum(page_models.EMOTION_FIGURES.values(), []) + page_models.STYLE_FIGURES
              + page_models.COMPARISON_FIGURES)
    expected = [rel for rel, _ in listed if engine.docs_file(rel)]
    assert len(images) == len(expected)
    if engine.docs_dir() is not None:  # in a checkout, every listed figure exists
        assert len(expected) == len(listed)


def test_an_upload_over_the_limit_clears_the_results_and_says_why(app, monkeypatch):
    from emostyle.app import engine

    upload(app, "astronaut.jpg", EXAMPLE.read_bytes())
    assert app.get("image") and charts(app)
    rng = np.random.default_rng(0)
    big = png_bytes((rng.random((600, 600, 3)) * 255).astype(np.uint8))  # about 1 MB
    limit = 0.5
    assert len(EXAMPLE.read_bytes()) < limit * 2**20 < len(big)
    monkeypatch.setattr(engine, "MAX_UPLOAD_MB", limit)
    upload(app, "huge.png", big, "image/png")
    errors = texts(app.main.error)
    assert len(errors) == 1, errors
    assert "huge.png" in errors[0] and "over the 0.5 MB limit" in errors[0]
    assert "previous results are cleared" in errors[0]
    assert not app.get("image") and not charts(app) and not app.get("download_button")
    assert not any(m.startswith("**Face 1") for m in texts(app.markdown))
