"""How ONNX Runtime opens our models: one set of options, chosen by how a process uses them."""

from __future__ import annotations

import numpy as np
import pytest

from emostyle.model_files import SESSION_USES, resolve_model, session_options

SPINNING = "session.intra_op.allow_spinning"


def spinning(options) -> str | None:  # noqa: ANN001 - onnxruntime SessionOptions
    try:
        return options.get_session_config_entry(SPINNING)
    except RuntimeError:  # an entry never set
        return None


def test_a_command_lets_idle_workers_sleep_and_a_service_keeps_the_default():
    assert SESSION_USES == ("service", "command")
    assert spinning(session_options(2, use="command")) == "0"
    assert spinning(session_options(2)) in (None, "1")  # ONNX Runtime's own default
    with pytest.raises(ValueError, match="session use"):
        session_options(2, use="batch")


def test_the_stylize_command_opens_every_model_for_a_command(face_model):
    from emostyle.paint_batch import load_painters
    from emostyle.pipeline import StyleRequest

    resolve_model("styles")  # the bundled style model is installed
    stylizer, analyzer = load_painters(StyleRequest(), face_model=face_model)
    assert spinning(stylizer._session.get_session_options()) == "0"
    sessions = [m.session for m in analyzer.classifier._members]
    assert all(spinning(s.get_session_options()) == "0" for s in sessions)


def test_the_library_keeps_the_default_where_a_model_runs_alone(face_model):
    from emostyle.classifier import EmotionClassifier
    from emostyle.pipeline import Analyzer
    from emostyle.stylizer import Stylizer

    assert spinning(Stylizer(styles_toml=False)._session.get_session_options()) in (None, "1")
    alone = EmotionClassifier()._members[0].session.get_session_options()
    assert spinning(alone) in (None, "1")
    crops_only = Analyzer(detect=False).classifier._members[0]
    assert spinning(crops_only.session.get_session_options()) in (None, "1")


def test_an_analyzer_with_a_detector_lets_the_emotion_models_workers_sleep(face_model):
    """YuNet's OpenCV threads run between two emotion-model runs; spinning workers took their
    cores (whole-photo analysis about twice as slow back to back on 2 cores)."""
    from emostyle.pipeline import Analyzer

    for use in SESSION_USES:
        members = Analyzer(face_model=face_model, use=use).classifier._members
        assert all(spinning(m.session.get_session_options()) == "0" for m in members)


def style_run(session) -> np.ndarray:  # noqa: ANN001 - onnxruntime InferenceSession
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (1, 3, 64, 96)).astype(np.float32)
    styles = session.get_inputs()[1].shape[1]
    return session.run(None, {"image": image,
                              "style_weights": np.eye(styles, dtype=np.float32)[[1]]})[0]


def test_a_command_opens_the_graph_optimised_on_its_first_run(tmp_path, monkeypatch):
    import onnxruntime as ort

    from emostyle.model_files import open_session, optimized_copy

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model = resolve_model("styles")
    saved = optimized_copy(model)
    assert saved.parent.parent == tmp_path / "emostyle" and not saved.exists()
    service = open_session(model)
    assert not saved.exists()  # a service optimises in memory, as before
    first = open_session(model, use="command")
    assert saved.is_file() and not list(saved.parent.glob(".*.tmp"))
    second = open_session(model, use="command")
    assert second.get_session_options().graph_optimization_level == (
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL)  # nothing left to optimise: it is the copy
    assert first.get_session_options().graph_optimization_level == (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    # the same numbers, bit for bit
    assert np.array_equal(style_run(second), style_run(service))
    assert np.array_equal(style_run(first), style_run(service))
    # a replaced model file gets a new copy, and the old one goes
    older = saved.with_name(f"{model.stem}-00000000.onnx")
    older.write_bytes(saved.read_bytes())
    other = saved.with_name(f"{model.stem}_map-00000000.onnx")  # another model's copy stays
    other.write_bytes(b"x")
    saved.unlink()
    open_session(model, use="command")
    assert sorted(p.name for p in saved.parent.iterdir()) == sorted([saved.name, other.name])


def test_a_damaged_copy_or_an_unwritable_cache_costs_only_the_optimisation(tmp_path,
                                                                          monkeypatch):
    import onnxruntime as ort

    from emostyle.model_files import open_session, optimized_copy

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model = resolve_model("styles")
    saved = optimized_copy(model)
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"not a graph")
    reference = style_run(open_session(model))
    session = open_session(model, use="command")
    assert np.array_equal(style_run(session), reference)
    assert saved.stat().st_size > 1000  # replaced by a good copy
    assert np.array_equal(style_run(open_session(model, use="command")), reference)

    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    session = open_session(model, use="command")
    assert session.get_session_options().graph_optimization_level == (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    assert np.array_equal(style_run(session), reference)
