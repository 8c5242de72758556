"""Shared fixtures: the example photo, the YuNet model from ../shared, generated pictures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from emostyle.images import read_image

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOSTYLE_SHARED", ROOT.parent / "shared"))
YUNET = SHARED / "models" / "face_detection_yunet_2026may.onnx"
FER_NPZ = SHARED / "data" / "fer2013.npz"
EXAMPLE = ROOT / "examples" / "astronaut.jpg"


@pytest.fixture(scope="session", autouse=True)
def face_model_env() -> None:
    """Point the detector at the shared YuNet copy unless the environment already does."""
    if "EMOSTYLE_FACE_MODEL" not in os.environ and YUNET.is_file():
        os.environ["EMOSTYLE_FACE_MODEL"] = str(YUNET)


@pytest.fixture(scope="session")
def face_model() -> Path:
    """The YuNet model, for every test that detects faces: $EMOSTYLE_FACE_MODEL, the shared
    copy, or the user cache. Without one such tests skip and say why, rather than fail (or
    wait on a download)."""
    from emostyle.faces import YUNET_FILE, cache_dir

    env = os.environ.get("EMOSTYLE_FACE_MODEL")
    path = Path(env) if env else YUNET if YUNET.is_file() else cache_dir() / YUNET_FILE
    if not path.is_file():
        where = f"EMOSTYLE_FACE_MODEL={env}" if env else f"{YUNET} or {path}"
        pytest.skip(f"YuNet face model not available ({where} missing); set "
                    "EMOSTYLE_FACE_MODEL to a copy of face_detection_yunet_2026may.onnx")
    return path


@pytest.fixture(scope="session")
def fer_npz() -> Path:
    if not FER_NPZ.is_file():
        pytest.skip(f"FER2013 npz not available at {FER_NPZ}")
    return FER_NPZ


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return read_image(EXAMPLE)


@pytest.fixture(scope="session")
def astronaut_face(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut's head and shoulders (about 200 px), to tile into group pictures."""
    return astronaut[30:250, 120:330].copy()


def tile_faces(face: np.ndarray, n: int, gap: int = 40, cols: int = 4) -> np.ndarray:
    """A 'group photo': ``n`` copies of ``face`` on a grey canvas, some of them mirrored."""
    h, w = face.shape[:2]
    rows = (n + cols - 1) // cols
    canvas = np.full((rows * (h + gap) + gap, min(n, cols) * (w + gap) + gap, 3), 128, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        canvas[y:y + h, x:x + w] = face[:, ::-1] if i % 2 else face
    return canvas


@pytest.fixture()
def terminal_bars(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int | None]]:
    """stderr taken for an interactive terminal (under CliRunner it is not), every progress
    row update recorded as (label, done, total) and drawn at once (rich draws 10 times a
    second on its own, too late for a short test)."""
    from emostyle import cli_common

    console = cli_common.err.console
    monkeypatch.setattr(console, "_force_terminal", True)
    monkeypatch.setattr(console, "is_interactive", True)  # rich's Live draws only then
    calls: list[tuple[str, int, int | None]] = []
    count = cli_common.Bars.count

    def recorded(self, label, done, total, rate=None):  # noqa: ANN001, ANN202
        calls.append((label, done, total))
        count(self, label, done, total, rate)
        self._bar.refresh()

    monkeypatch.setattr(cli_common.Bars, "count", recorded)
    return calls
