"""Where model files live and how their JSON cards are read.

Every ONNX file emostyle uses has a card beside it (same name, ``.json``) carrying what is needed
to use it correctly - input size, colour, mean/std, crop margin, label order, temperature - and
what it was measured to do. Preprocessing therefore travels with the weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from emostyle.errors import ModelNotFoundError

BUNDLED_DIR = Path(__file__).resolve().parent / "models"

# Short names users can give instead of a path: name -> file in BUNDLED_DIR.
BUNDLED = {
    "default": "emotion_default.onnx",
    "accurate": "emotion_accurate.json",  # an ensemble card naming its member files
    "styles": "styles_default.onnx",
}


def resolve_model(name_or_path: str | Path) -> Path:
    """A bundled model name (``default``, ``accurate``, ...) or a path -> an existing ONNX file."""
    key = str(name_or_path)
    if key in BUNDLED:
        path = BUNDLED_DIR / BUNDLED[key]
        if not path.is_file():
            raise ModelNotFoundError(f"bundled model {key!r} is not installed ({path} missing)")
        return path
    path = Path(name_or_path)
    if not path.is_file():
        names = ", ".join(n for n in BUNDLED if (BUNDLED_DIR / BUNDLED[n]).is_file())
        raise ModelNotFoundError(f"{path}: model file not found (bundled names: {names})")
    return path


def card_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def load_card(model_path: str | Path) -> dict:
    """The JSON card beside ``model_path``; a model without a card cannot be used safely."""
    path = card_path(model_path)
    if not path.is_file():
        raise ModelNotFoundError(f"{model_path}: its model card {path.name} is missing; "
                                 "export models with `emostyle export` to get one")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelNotFoundError(f"{path}: unreadable model card ({exc})") from None


def bundled_models() -> list[Path]:
    """ONNX files shipped inside the package."""
    return sorted(BUNDLED_DIR.glob("*.onnx"))
