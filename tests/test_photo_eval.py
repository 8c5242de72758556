"""evaluate --photos: labelled folders of whole photos, faces detected, no-face counted."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from emostyle.cli import app
from emostyle.errors import DatasetError
from emostyle.images import write_image
from emostyle.training.photo_eval import evaluate_photos, labelled_photos

from .conftest import EXAMPLE


@pytest.fixture()
def photos(tmp_path):
    root = tmp_path / "photos"
    for folder in ("happiness", "sad"):
        (root / folder).mkdir(parents=True)
    for i in range(3):
        shutil.copy(EXAMPLE, root / "happiness" / f"h{i}.jpg")
    shutil.copy(EXAMPLE, root / "sad" / "smiling_but_labelled_sad.jpg")
    write_image(np.full((300, 400, 3), 128, np.uint8), root / "sad" / "no_face.png")
    return root


def test_photo_evaluation_counts_everything(photos, face_model):
    report = evaluate_photos("default", photos)
    assert report["pictures"] == 5 and report["classified"] == 4
    assert report["no_face_count"] == 1 and report["no_face"][0]["path"].endswith("no_face.png")
    assert report["accuracy"] == pytest.approx(0.75)  # the 'sad' smile is read as happy
    assert report["end_to_end_accuracy"] == pytest.approx(3 / 5)
    assert report["per_class"]["happy"]["recall"] == 1.0
    assert report["per_class"]["sad"]["recall"] == 0.0


def test_cli_writes_metrics_and_confusion(photos, tmp_path, face_model):
    out = tmp_path / "eval"
    res = CliRunner().invoke(app, ["evaluate", "default", "--photos", str(photos),
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "1 without a face" in res.output and "no_face.png" in res.output
    assert json.loads((out / "metrics.json").read_text())["classified"] == 4
    assert (out / "confusion.png").stat().st_size > 1000


def test_unknown_emotion_folder_is_named(tmp_path):
    (tmp_path / "contempt").mkdir()
    with pytest.raises(DatasetError, match="contempt.*not an emotion"):
        labelled_photos(tmp_path)
