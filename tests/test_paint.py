"""Painting: the one set of rules in pipeline.choose_style, and every front end agreeing on it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from emostyle.errors import InputError
from emostyle.pipeline import (
    MIN_BLEND_WEIGHT,
    Analyzer,
    StyleChoice,
    StyleRequest,
    choose_style,
    paint,
)
from emostyle.results import Analysis, Face

from .conftest import EXAMPLE


def picture(*probabilities: tuple[float, ...]) -> Analysis:
    faces = tuple(Face((10.0 * i, 0, 10, 10), (), 0.9, p) for i, p in enumerate(probabilities))
    return Analysis(faces, 100, 100)


# A style model with styles for fear, happy and neutral only (like tests' tiny model).
THREE_STYLES = SimpleNamespace(catalogue=SimpleNamespace(
    emotion_weights={"fear": {"fear": 1.0}, "happy": {"happy": 1.0},
                     "neutral": {"neutral": 1.0}}))
#                 angry disgust fear happy sad  surprise neutral
SAD_MOSTLY = (0.0, 0.004, 0.1, 0.2, 0.6, 0.0, 0.096)


def test_blend_leaves_out_tiny_and_unstyled_emotions_and_sums_to_one():
    choice = choose_style(picture(SAD_MOSTLY), StyleRequest("blend"), THREE_STYLES)
    assert choice.style is None and not choice.fallback and choice.tag == "blend"
    assert set(choice.weights) == {"fear", "happy", "neutral"}  # sad has no style here
    assert choice.weights["happy"] == pytest.approx(0.2 / 0.396, abs=1e-4)
    assert sum(choice.weights.values()) == pytest.approx(1, abs=1e-3)
    everything = choose_style(picture(SAD_MOSTLY), StyleRequest("blend"))  # stylizer unknown
    assert set(everything.weights) == {"fear", "happy", "sad", "neutral"}  # 0.4% left out
    assert 0.004 < MIN_BLEND_WEIGHT


def test_auto_takes_the_likeliest_emotion_that_has_a_style():
    analysis = picture(SAD_MOSTLY)
    assert choose_style(analysis, StyleRequest("auto")).style == "sad"
    styled = choose_style(analysis, StyleRequest("auto"), THREE_STYLES)
    assert (styled.style, styled.fallback) == ("happy", False)
    assert "the mood, sad, has no style" in styled.description


@pytest.mark.parametrize("mode", ["auto", "blend"])
def test_no_face_or_no_styled_emotion_gets_the_fallback(mode):
    empty = choose_style(Analysis((), 50, 50), StyleRequest(mode, fallback="fear"))
    assert (empty.style, empty.weights, empty.fallback, empty.tag) == ("fear", None, True,
                                                                        "fear")
    only_sad = picture((0, 0, 0, 0, 1.0, 0, 0))
    unstyled = choose_style(only_sad, StyleRequest(mode), THREE_STYLES)
    assert (unstyled.style, unstyled.fallback) == ("neutral", True)


def test_emotion_mode_ignores_the_faces_and_requests_are_checked():
    choice = choose_style(None, StyleRequest("emotion", "Happiness"))
    assert (choice.style, choice.tag, choice.fallback) == ("Happiness", "happiness", False)
    assert not StyleRequest("emotion").needs_analysis and StyleRequest("blend").needs_analysis
    with pytest.raises(InputError, match="unknown painting mode 'per_person'"):
        StyleRequest("per_person")
    with pytest.raises(InputError, match="fallback: unknown emotion 'meh'"):
        StyleRequest(fallback="meh")
    assert StyleChoice("happy", None, "").key != StyleChoice(None, {"happy": 1.0}, "").key


# ---------------------------------------------------------------- one photo, four front ends

def needs_real_styles() -> None:
    from emostyle.model_files import BUNDLED, BUNDLED_DIR
    if not (BUNDLED_DIR / BUNDLED["styles"]).is_file():
        pytest.skip("the bundled style model is not installed")


def one_frame_video(image: np.ndarray, path: Path) -> Path:
    """A lossless (FFV1) one-frame video of ``image``, so its frame is the photo exactly."""
    h, w = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, (w, h))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write FFV1 here")
    writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_cli_api_app_and_video_paint_a_photo_the_same(face_model, astronaut, tmp_path,
                                                      monkeypatch):
    needs_real_styles()
    from emostyle.app import engine
    from emostyle.cli import app
    from emostyle.images import read_image, write_image
    from emostyle.stylizer import Stylizer
    from emostyle.video import FrameReader, process_video

    monkeypatch.delenv("EMOSTYLE_STYLES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user styles.toml
    settings = {"strength": 0.8, "keep_colors": False, "max_side": 256}

    # The Python API.
    stylizer = Stylizer("styles")
    analysis = Analyzer(face_model=face_model).analyze(astronaut)
    api = paint(stylizer, astronaut, analysis, StyleRequest("blend", **settings))
    assert len(api.choice.weights) >= 1 and api.choice.weights["happy"] > 0.5
    assert api.style_weights.shape == (len(stylizer.styles),)
    assert not np.array_equal(api.image, astronaut)

    # The CLI (writes a JPEG: compare with the API's picture written the same way).
    res = CliRunner().invoke(app, ["stylize", str(EXAMPLE), "--blend", "--strength", "0.8",
                                   "--max-side", "256", "-o", str(tmp_path / "cli"), "--json",
                                   "--face-model", str(face_model)])
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)["results"][0]
    assert record["weights"] == api.choice.weights
    write_image(api.image, tmp_path / "api.jpg")
    assert np.array_equal(read_image(record["output"]), read_image(tmp_path / "api.jpg"))

    # The web app's engine (its analyser keeps faces above the page's threshold).
    request = engine.StyleRequest("blend", **settings)
    app_analysis = engine.SharedAnalyzer().analyze(astronaut)
    choice = engine.choose_style(app_analysis, request, engine.load_stylizer())
    assert choice.weights == api.choice.weights
    assert np.array_equal(engine.paint(engine.load_stylizer(), astronaut, choice, request),
                          api.image)

    # A one-frame video: the first frame's smoothed mood is the photo's mood.
    video = one_frame_video(astronaut, tmp_path / "one.avi")
    reader = FrameReader(video)
    assert np.array_equal(next(iter(reader))[2], astronaut)
    reader.close()
    frames = []
    process_video(video, None, Analyzer(face_model=face_model), stylizer,
                  style=StyleRequest("blend", **settings), draw_faces=False,
                  on_frame=lambda i, n, frame: frames.append(frame.copy()))
    assert len(frames) == 1 and np.array_equal(frames[0], api.image)
