"""Manifest CSVs for evaluate --manifest: read relative to their folder, checked as a whole."""

from __future__ import annotations

import pytest

from emostyle.emotions import EMOTIONS
from emostyle.errors import DatasetError
from emostyle.training.labelled_photos import read_manifest


@pytest.fixture()
def folder(tmp_path):
    (tmp_path / "pics").mkdir()
    for name in ("a.jpg", "b.jpg", "c.png"):
        (tmp_path / "pics" / name).write_bytes(b"not decoded while the manifest is read")
    return tmp_path


def test_rows_are_read_relative_to_the_manifest(folder, monkeypatch, tmp_path_factory):
    manifest = folder / "m.csv"
    manifest.write_text("\ufeffFile,Label,Source,Crop\n"  # Excel's BOM, capitalised header
                        "pics/a.jpg,happiness,lab,\npics/b.jpg,sad,web,yes\n"
                        f"{folder / 'pics' / 'c.png'}, Anger ,web,no\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    items = read_manifest(manifest)
    assert [(p.name, EMOTIONS[p.label], p.source, p.crop) for p in items] == [
        ("pics/a.jpg", "happy", "lab", False), ("pics/b.jpg", "sad", "web", True),
        (str(folder / "pics" / "c.png"), "angry", "web", False)]  # absolute: as written
    assert all(p.path.is_file() for p in items)


def test_every_problem_is_named_in_one_error(folder):
    manifest = folder / "bad.csv"
    manifest.write_text("file,label,source,crop,lable\n"
                        "pics/a.jpg,contempt,lab,,\n"  # not an emotion
                        "pics/missing.jpg,sad,lab,,\n"  # no such file
                        "pics/b.jpg,sad,lab,12 30 64 64,\n"  # a box, not yes/no
                        "pics/c.png,sad,,,\n"  # empty source
                        "pics/./a.jpg,happy,lab,,\n"  # the same file again
                        "pics,sad,lab,,\n")  # a folder
    with pytest.raises(DatasetError) as info:
        read_manifest(manifest)
    message = str(info.value)
    assert info.value.exit_code == 2 and "7 problem(s), nothing evaluated" in message
    for expected in ("unknown column(s) lable", "line 2: label 'contempt' is not an emotion",
                     "line 3: pics/missing.jpg: no such file",
                     "line 4: crop '12 30 64 64' is not yes or no", "line 5: empty source",
                     "line 6: pics/./a.jpg is also on line 2", "line 7: pics: is a directory"):
        assert expected in message, message


@pytest.mark.parametrize("text, expected", [
    ("name,emotion\na.jpg,happy\n", "no file or label column"),
    ("file,label\n", "no rows"),
    ("file,label\npics/a.jpg,happy,extra\n", "line 2: more cells than columns"),
])
def test_malformed_manifests(folder, text, expected):
    (folder / "m.csv").write_text(text)
    with pytest.raises(DatasetError, match=expected):
        read_manifest(folder / "m.csv")


def test_a_long_list_of_problems_is_cut_with_a_count(folder):
    rows = "".join(f"missing{i}.jpg,happy\n" for i in range(60))
    (folder / "m.csv").write_text("file,label\n" + rows)
    with pytest.raises(DatasetError) as info:
        read_manifest(folder / "m.csv")
    assert "60 problem(s)" in str(info.value) and "and 10 more" in str(info.value)
    assert str(info.value).count("no such file") == 50
