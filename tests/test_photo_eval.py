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


def test_end_to_end_figures_count_a_missed_face_as_wrong(photos, face_model):
    report = evaluate_photos("default", photos)
    e2e = report["end_to_end_per_class"]
    assert e2e["happy"] == {"recall": 1.0, "f1": pytest.approx(6 / 7), "support": 3}
    assert e2e["sad"]["support"] == 2 and e2e["sad"]["recall"] == 0.0  # no_face.png is wrong
    assert e2e["angry"]["recall"] is None  # absent class: n/a, not 0
    assert report["end_to_end_macro_f1"] == pytest.approx((6 / 7 + 0) / 2)


def test_cli_headline_is_end_to_end_and_absent_classes_are_na(photos, tmp_path, face_model):
    res = CliRunner().invoke(app, ["evaluate", "default", "--photos", str(photos),
                                   "--out", str(tmp_path / "eval")], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "end to end (no face = wrong): accuracy 0.6000" in res.output
    assert "n=5" in res.output and "on detected faces: accuracy 0.7500" in res.output
    assert "angry     recall n/a" in res.output and "recall 0.000 n=0" not in res.output


def test_cli_works_without_matplotlib(photos, tmp_path, face_model, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "emostyle.training.plots", None)  # import fails
    out = tmp_path / "eval"
    res = CliRunner().invoke(app, ["evaluate", "default", "--photos", str(photos),
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "plots skipped: matplotlib is not installed" in res.output
    assert json.loads((out / "metrics.json").read_text())["pictures"] == 5
    assert not (out / "confusion.png").exists()


def test_long_no_face_list_ends_with_and_n_more(tmp_path, face_model):
    root = tmp_path / "photos" / "sad"
    root.mkdir(parents=True)
    for i in range(23):
        write_image(np.full((60, 80, 3), 128, np.uint8), root / f"blank{i:02d}.png")
    res = CliRunner().invoke(app, ["evaluate", "default", "--photos", str(root.parent),
                                   "--out", str(tmp_path / "eval")])
    assert res.exit_code == 0, res.output
    assert res.output.count("no face:") == 20 and "and 3 more" in res.output


@pytest.mark.parametrize("extra", [["--tta"], ["--split", "public"], ["--data", "x.npz"]])
def test_options_that_do_not_apply_to_photos_are_refused(photos, tmp_path, extra):
    res = CliRunner().invoke(app, ["evaluate", "default", "--photos", str(photos),
                                   "--out", str(tmp_path / "eval"), *extra])
    assert res.exit_code == 2 and "not used with --photos" in res.output
    assert not (tmp_path / "eval").exists()
