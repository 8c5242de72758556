"""How ONNX Runtime opens our models: one set of options, chosen by how a process uses them."""

from __future__ import annotations

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


def test_the_library_keeps_the_default(face_model):
    from emostyle.pipeline import Analyzer
    from emostyle.stylizer import Stylizer

    assert spinning(Stylizer(styles_toml=False)._session.get_session_options()) in (None, "1")
    member = Analyzer(face_model=face_model).classifier._members[0]
    assert spinning(member.session.get_session_options()) in (None, "1")
