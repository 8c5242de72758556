import json

import numpy as np
import pytest

import emostyle
from emostyle.overlay import annotate, emoji_glyph, plan_labels
from emostyle.pipeline import Analyzer
from emostyle.results import Analysis, Face

from .conftest import EXAMPLE, tile_faces


@pytest.fixture(scope="module")
def analyzer(face_model):
    return Analyzer(face_model=face_model)


def test_public_api_on_a_path(face_model):
    result = emostyle.analyze(EXAMPLE)
    assert isinstance(result, Analysis)
    assert (result.width, result.height) == (512, 512)
    assert len(result.faces) == 1
    face = result.faces[0]
    assert face.emotion == "happy" and face.emoji == "\U0001F604"
    assert face.top(3)[0] == ("happy", face.confidence)
    assert result.mood == "happy"
    with pytest.raises(AttributeError):
        face.box = (0, 0, 1, 1)  # frozen


def test_group_picture_every_face_classified(analyzer, astronaut_face):
    result = analyzer.analyze(tile_faces(astronaut_face, 5))
    assert len(result.faces) == 5
    assert all(abs(sum(f.probabilities) - 1) < 1e-4 for f in result.faces)
    assert sum(f.emotion == "happy" for f in result.faces) >= 4


def test_no_face(analyzer):
    result = analyzer.analyze(np.full((480, 640, 3), 90, np.uint8))
    assert result.faces == () and result.mood is None
    assert result.notes == ("no face found",)


def test_skip_detection_for_face_crops(face_model, astronaut):
    crop = astronaut[55:185, 170:280]
    result = Analyzer(detect=False).analyze(crop)
    assert len(result.faces) == 1 and result.faces[0].emotion == "happy"


def test_mood_is_area_weighted():
    big = Face((0, 0, 100, 100), (), 1.0, (0, 0, 0, 1.0, 0, 0, 0))
    small = Face((0, 0, 30, 30), (), 1.0, (0, 0, 0, 0, 1.0, 0, 0))
    mood = Analysis((big, small), 200, 200).mood_probabilities
    assert mood[3] == pytest.approx(100 / 109) and mood[4] == pytest.approx(9 / 109)


def test_json_round_trip(analyzer, astronaut):
    doc = json.loads(json.dumps(analyzer.analyze(astronaut, source="a.jpg").to_dict()))
    assert doc["faces"][0]["emotion"] == "happy"
    assert sum(doc["faces"][0]["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert doc["mood"] == "happy"


def test_annotation_draws_the_emoji_label(analyzer, astronaut):
    result = analyzer.analyze(astronaut)
    drawn = annotate(astronaut, result)
    assert drawn.shape == astronaut.shape and not np.array_equal(drawn, astronaut)
    np.testing.assert_array_equal(astronaut, emostyle.read_image(EXAMPLE))  # input untouched
    (label,) = plan_labels(result.faces, astronaut.shape[1], astronaut.shape[0])
    assert not label.compact
    x, y, w, h = label.rect
    patch = drawn[y:y + h, x:x + w].astype(int)
    opaque = label.patch[:, :, 3] == 255
    # Where the label is opaque the picture now shows the label's own colours.
    assert np.abs(patch[opaque] - label.patch[:, :, :3][opaque]).mean() < 3
    glyph = emoji_glyph("happy", round(1.25 * 12))
    assert label.patch.shape[0] >= glyph.shape[0]  # the emoji fits in the label


def test_package_exports_load_lazily_and_all_resolve():
    import subprocess
    import sys

    code = ("import sys, emostyle; assert 'numpy' not in sys.modules, 'eager import'; "
            "import emostyle.cli; assert 'onnxruntime' not in sys.modules; "
            "[getattr(emostyle, n) for n in emostyle.__all__]; "
            "assert emostyle.Stylizer.__name__ == 'Stylizer'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_analyzer_takes_any_face_finder(astronaut, monkeypatch):
    from emostyle.detection import FaceFinder
    from emostyle.results import DetectedFace

    class FixedBox:
        """A second detector: always the astronaut's face, no YuNet file needed."""

        def detect(self, image):  # noqa: ANN001, ANN201
            return [DetectedFace((178.0, 63.0, 90.0, 113.0), (), 0.5)]

    assert isinstance(FixedBox(), FaceFinder)
    monkeypatch.setenv("EMOSTYLE_FACE_MODEL", "/nonexistent/yunet.onnx")  # YuNet is not built
    result = Analyzer(detector=FixedBox()).analyze(astronaut)
    assert [f.box for f in result.faces] == [(178.0, 63.0, 90.0, 113.0)]
    assert result.faces[0].detection_score == 0.5 and result.faces[0].emotion == "happy"


def test_one_name_and_one_default_for_the_detection_threshold(face_model):
    import inspect

    from emostyle.app import engine
    from emostyle.cli import app
    from emostyle.detection import DEFAULT_MIN_SCORE
    from emostyle.faces import FaceDetector

    assert inspect.signature(Analyzer).parameters["min_score"].default == DEFAULT_MIN_SCORE
    assert inspect.signature(FaceDetector).parameters["min_score"].default == DEFAULT_MIN_SCORE
    assert engine.DEFAULT_DETECTION_SCORE == DEFAULT_MIN_SCORE
    import typer.main
    commands = typer.main.get_command(app).commands
    for name in ("analyze", "stylize", "video"):
        option = next(p for p in commands[name].params if p.name == "min_score")
        assert option.opts == ["--min-score"] and option.default == DEFAULT_MIN_SCORE, name
    # The former names still work.
    assert FaceDetector(face_model, score_threshold=0.55).min_score == 0.55
    assert FaceDetector(face_model, 0.6).score_threshold == 0.6
    assert Analyzer(min_detection_score=0.9).min_score == 0.9


def test_the_project_itself_calls_the_threshold_min_score():
    # The former names are accepted for callers outside; the project's own code, benchmarks
    # and scripts pass min_score (the compatibility check above is the one exception).
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    former = re.compile(r"\b(score_threshold|min_detection_score|min_confidence)\s*=")
    this = Path(__file__).resolve()
    found = [f"{path.relative_to(root)}:{n}"
             for folder in ("src/emostyle", "benchmarks", "scripts", "tests")
             for path in sorted((root / folder).rglob("*.py"))
             if path != this and "training" not in path.relative_to(root).parts
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if former.search(line) and "def " not in line and ": float" not in line
             and "is not None" not in line]
    assert not found, f"former names of min_score passed in: {found}"


def test_the_explain_example_runs(monkeypatch, face_model):
    import doctest

    from emostyle import explain

    monkeypatch.chdir(EXAMPLE.parent.parent)  # the example names examples/astronaut.jpg
    finder = doctest.DocTestFinder()
    results = [doctest.DocTestRunner().run(t) for t in finder.find(explain.explain)]
    assert results and all(r.failed == 0 and r.attempted > 0 for r in results)
