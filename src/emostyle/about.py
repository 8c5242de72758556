"""What is installed here: versions, ONNX Runtime providers, the face model, the bundled models.

``emostyle info`` prints these; they are plain strings and tuples, so a bug report or a
notebook can show the same.
"""

from __future__ import annotations

import platform
from pathlib import Path

from emostyle.errors import EmostyleError


def versions() -> list[str]:
    """emostyle, Python and the platform; the libraries; ONNX Runtime's providers."""
    import cv2
    import numpy
    import onnxruntime
    import PIL

    from emostyle import __version__

    return [f"emostyle {__version__}  python {platform.python_version()}  "
            f"({platform.system()} {platform.machine()})",
            f"numpy {numpy.__version__}  opencv {cv2.__version__}  "
            f"onnxruntime {onnxruntime.__version__}  pillow {PIL.__version__}",
            f"onnxruntime providers: {', '.join(onnxruntime.get_available_providers())}"]


def face_model_line(face_model: str | Path | None = None) -> str:
    """Where the YuNet file is found (never downloaded here), or why it is not."""
    from emostyle.faces import resolve_face_model

    try:
        return f"face model: {resolve_face_model(face_model, download=False)}"
    except EmostyleError as exc:
        return f"face model: not found - {exc}"


MODEL_COLUMNS = ("file", "size", "architecture", "PrivateTest acc", "notes")


def bundled_model_rows() -> list[tuple[str, ...]]:
    """One row per bundled model, in :data:`MODEL_COLUMNS` order, from its card."""
    from emostyle.model_files import bundled_models, model_bytes, read_card

    rows = []
    for path in bundled_models():
        card = read_card(path)
        acc = card.metrics.get("private_accuracy")
        rows.append((path.name, f"{model_bytes(path) / 1e6:.1f} MB", card.architecture,
                     f"{acc:.2%}" if isinstance(acc, float) else "-", card.summary))
    return rows
