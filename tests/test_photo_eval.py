"""evaluate --photos: labelled folders of whole photos, faces detected, no-face counted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emostyle.cli import app
from emostyle.emotions import EMOTIONS
from emostyle.errors import DatasetError, InputError
from emostyle.images import write_image
from emostyle.training.configs import DEFAULT_DATA, DEFAULT_SPLIT
from emostyle.training.photo_eval import check_evaluate_options, evaluate_photos, labelled_photos

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
    out = tmp_path / "eval[light]"  # printed as named, not read as markup
    res = CliRunner().invoke(app, ["evaluate", "default", "--photos", str(photos),
                                   "--out", str(out)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    # the one line says what to install (rich markup ate "[train]" from it)
    assert ("plots skipped: matplotlib is not installed (pip install 'emostyle[train]')\n"
            in res.output), res.output
    assert f"metrics.json in {out}\n" in res.output
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


@pytest.mark.parametrize("extra", [
    ["--tta"], ["--split", "public"], ["--data", "x.npz"],
    # given with their default values they are still not used: refused too
    ["--no-tta"], ["--split", "private"], ["--data", "fer2013.npz"]])
def test_options_that_do_not_apply_to_photos_are_refused(photos, tmp_path, extra):
    res = CliRunner().invoke(app, ["evaluate", "default", "--photos", str(photos),
                                   "--out", str(tmp_path / "eval"), *extra])
    assert res.exit_code == 2 and "not used with --photos" in res.output, res.output
    assert extra[0].replace("no-", "") in res.output
    assert not (tmp_path / "eval").exists()


# --- evaluate --manifest: sources, face crops, the predictions CSV ----------------------------

@pytest.fixture()
def manifest(tmp_path, astronaut_face):
    """Two sources: 'lab' (2 smiles, 1 blank), 'web' (a smile labelled sad, a face crop, a blank
    marked as a face crop: classified whole, never detected)."""
    pics = tmp_path / "data" / "pics"
    pics.mkdir(parents=True)
    for name in ("h0.jpg", "h1.jpg", "s0.jpg"):
        shutil.copy(EXAMPLE, pics / name)
    write_image(np.full((300, 400, 3), 128, np.uint8), pics / "blank.png")
    write_image(astronaut_face, pics / "face.png")
    path = tmp_path / "data" / "photos.csv"
    path.write_text("file,label,source,crop\n"
                    "pics/h0.jpg,happy,lab,\npics/h1.jpg,happiness,lab,no\n"
                    "pics/blank.png,neutral,lab,\n"
                    "pics/s0.jpg,sad,web,\npics/face.png,happy,web,yes\n")
    return path


def evaluate_manifest(manifest, tmp_path, *extra):
    return CliRunner().invoke(app, ["evaluate", "default", "--manifest", str(manifest),
                                    "--out", str(tmp_path / "eval"), *extra],
                              env={"COLUMNS": "200"})


def test_manifest_sources_add_up_to_the_overall_figures(manifest, tmp_path, face_model):
    res = evaluate_manifest(manifest, tmp_path)
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["manifest"] == str(manifest) and report["no_face_rule"] == "wrong"
    assert report["pictures"] == 5 and report["classified"] == 4 and report["no_face_count"] == 1
    tables = report["by_source"]
    assert sorted(tables) == ["lab", "web"]
    for key in ("pictures", "classified", "no_face_count", "unreadable_count"):
        assert sum(t[key] for t in tables.values()) == report[key], key
    lab, web = tables["lab"], tables["web"]
    assert (lab["pictures"], lab["no_face_count"], web["pictures"], web["no_face_count"]) == (
        3, 1, 2, 0)
    assert lab["end_to_end_accuracy"] == pytest.approx(2 / 3) and lab["accuracy"] == 1.0
    assert lab["recall"]["neutral"] == 0.0 and lab["support"]["neutral"] == 1  # blank: wrong
    assert lab["recall"]["angry"] is None  # absent: n/a
    assert web["accuracy"] == pytest.approx(0.5) and web["recall"]["sad"] == 0.0
    for e in ("happy", "sad", "neutral"):  # every picture is in exactly one source
        assert sum(t["support"][e] for t in tables.values()) == \
            report["end_to_end_per_class"][e]["support"]
    assert "source lab: 3 pictures, 1 without a face" in res.output
    assert "accuracy end to end 0.6667  on detected 1.0000 (n=2)" in res.output


def test_no_face_skip_leaves_missed_faces_out_of_source_tables(manifest, tmp_path, face_model):
    res = evaluate_manifest(manifest, tmp_path, "--no-face", "skip")
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    lab = report["by_source"]["lab"]
    assert lab["recall"]["neutral"] is None and lab["support"]["neutral"] == 0
    assert lab["macro_f1"] == 1.0 and lab["end_to_end_accuracy"] == pytest.approx(2 / 3)
    assert report["end_to_end_accuracy"] == pytest.approx(3 / 5)  # overall: unchanged
    assert "(no face skipped)" in res.output


def test_predictions_csv_has_one_row_per_photo(manifest, tmp_path, face_model):
    import csv

    pred = tmp_path / "pred.csv"
    res = evaluate_manifest(manifest, tmp_path, "--predictions", str(pred))
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(pred.open()))
    assert [(r["file"], r["source"], r["label"]) for r in rows] == [
        ("pics/h0.jpg", "lab", "happy"), ("pics/h1.jpg", "lab", "happy"),
        ("pics/blank.png", "lab", "neutral"), ("pics/s0.jpg", "web", "sad"),
        ("pics/face.png", "web", "happy")]
    for r in rows:
        assert r["correct"] == str(int(r["predicted"] == r["label"])), r
        if r["predicted"]:
            probs = [float(r[f"p_{e}"]) for e in EMOTIONS]
            assert sum(probs) == pytest.approx(1, abs=1e-3)
            assert float(r["confidence"]) == max(probs)
            assert r["predicted"] == EMOTIONS[int(np.argmax(probs))]
    blank = rows[2]
    assert blank["faces_found"] == "0" and blank["predicted"] == "" and blank["correct"] == "0"
    assert rows[4]["faces_found"] == "1"  # the face crop: classified whole
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert sum(int(r["correct"]) for r in rows) / len(rows) == report["end_to_end_accuracy"]
    assert not list(tmp_path.glob(".pred.csv*"))  # the temporary file is gone


def test_predictions_are_checked_before_work(manifest, tmp_path, face_model):
    pred = tmp_path / "pred.csv"
    pred.write_text("mine")
    res = evaluate_manifest(manifest, tmp_path, "--predictions", str(pred))
    assert res.exit_code == 2 and "already exists (give --overwrite" in res.output
    assert pred.read_text() == "mine" and not (tmp_path / "eval").exists()
    res = evaluate_manifest(manifest, tmp_path, "--predictions", str(manifest))
    assert res.exit_code == 2 and "is one of the inputs" in res.output
    res = evaluate_manifest(manifest, tmp_path, "--predictions", str(pred), "--overwrite")
    assert res.exit_code == 0, res.output
    assert pred.read_text().startswith("file,source,label,predicted,confidence,faces_found")


def test_bad_manifest_lists_every_problem_and_writes_nothing(tmp_path):
    (tmp_path / "a.jpg").write_bytes(EXAMPLE.read_bytes())
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label,crop\na.jpg,contempt,\nmissing.jpg,sad,\na.jpg,happy,maybe\n")
    pred = tmp_path / "pred.csv"
    res = evaluate_manifest(bad, tmp_path, "--predictions", str(pred))
    assert res.exit_code == 2, res.output
    assert "4 problem(s), nothing evaluated" in res.output
    for expected in ("line 2: label 'contempt'", "line 3: missing.jpg: no such file",
                     "line 4: crop 'maybe'", "line 4: a.jpg is also on line 2"):
        assert expected in res.output, res.output
    assert not (tmp_path / "eval").exists() and not pred.exists()


def test_the_library_refuses_the_options_an_evaluation_does_not_use():
    """The FER2013 options count as given when they differ from the command's defaults (the
    same constants); the photo options count whenever set."""
    check_evaluate_options(Path("p"), None, False, DEFAULT_SPLIT, str(DEFAULT_DATA), True,
                           "skip", Path("p.csv"))
    with pytest.raises(InputError, match=r"^--tta, --data: not used with --manifest \(they "
                                         r"choose FER2013 faces\); leave them out$"):
        check_evaluate_options(None, Path("m.csv"), True, DEFAULT_SPLIT, "x.npz", False,
                               "wrong", None)
    check_evaluate_options(None, None, True, "public", "x.npz", False, "wrong", None)
    with pytest.raises(InputError, match="^--no-detect, --no-face: only used with --photos or "
                                         "--manifest$"):
        check_evaluate_options(None, None, False, DEFAULT_SPLIT, DEFAULT_DATA, True, "skip",
                               None)


@pytest.mark.parametrize("extra, expected", [
    (["--photos", "PHOTOS", "--no-face", "skip"], "only used with a manifest that has a source"),
    (["--photos", "PHOTOS", "--manifest", "m.csv"], "give one of them"),
    (["--predictions", "p.csv"], "only used with --photos or --manifest"),
    (["--no-face", "wrong"], "--no-face: only used with --photos or --manifest"),
    (["--photos", "PHOTOS", "--no-face", "maybe"], "--no-face: use wrong or skip"),
])
def test_manifest_options_are_refused_where_they_do_not_apply(photos, tmp_path, extra,
                                                              expected):
    args = [str(photos) if a == "PHOTOS" else a for a in extra]
    res = CliRunner().invoke(app, ["evaluate", "default", "--out", str(tmp_path / "eval"),
                                   *args], env={"COLUMNS": "200"})
    assert res.exit_code == 2 and expected in res.output, res.output
    assert not (tmp_path / "eval").exists()
