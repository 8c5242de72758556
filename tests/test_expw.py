"""The ExpW reader on a small generated ExpW-shaped folder."""

from __future__ import annotations

import numpy as np
import pytest

from emostyle.errors import DatasetError
from emostyle.images import write_image
from emostyle.training.datasets import load_dataset
from emostyle.training.expw import load_expw, parse_label_file


@pytest.fixture()
def expw(tmp_path):
    root = tmp_path / "ExpW"
    (root / "label").mkdir(parents=True)
    (root / "origin").mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(14):
        photo = rng.integers(0, 60, (120, 160, 3)).astype(np.uint8)
        photo[20:80, 40:100] = 40 + 15 * (i % 7)  # the "face": a flat square, class-coloured
        write_image(photo, root / "origin" / f"p{i}.jpg")
        # top left right bottom
        lines.append(f"p{i}.jpg 0 20 40 100 80 0.99 {i % 7}")
    lines += [
        "missing.jpg 0 10 10 50 50 0.9 3",          # image not in origin/
        "p0.jpg 0 10 10 50",                        # too few fields
        "p1.jpg 0 a 10 50 50 0.9 3",                # non-numeric
        "p2.jpg 0 10 10 50 50 0.9 9",               # label out of range
        "p3.jpg 0 10 50 40 50 0.9 2",               # empty box
    ]
    (root / "label" / "label.lst").write_text("\n".join(lines) + "\n")
    return root


def test_reads_good_faces_and_reports_the_rest(expw):
    images, labels, problems = load_expw(expw)
    assert images.shape == (14, 48, 48) and images.dtype == np.uint8
    assert sorted(labels.tolist()) == sorted([i % 7 for i in range(14)])
    # The crop is the face square: its centre has the class grey level, not the noise.
    assert abs(int(images[labels.tolist().index(3), 24, 24]) - (40 + 45)) < 8
    assert [m.split(":")[0] for m in problems.malformed] == ["line 16", "line 17", "line 18",
                                                            "line 19"]
    assert len(problems.missing) == 1 and "missing.jpg" in problems.missing[0]


def test_cache_is_used_the_second_time(expw):
    first = load_expw(expw)
    assert len(list((expw / ".emostyle_cache").glob("*.npz"))) == 1
    (expw / "origin" / "p0.jpg").unlink()  # a cache hit does not read photos again
    second = load_expw(expw)
    np.testing.assert_array_equal(first[0], second[0])


def test_load_dataset_dispatches_and_splits(expw):
    splits = load_dataset(expw)
    assert len(splits.train) + len(splits.public) + len(splits.private) == 14
    assert len(splits.train) >= 7


def test_not_expw(tmp_path):
    (tmp_path / "label").mkdir()
    (tmp_path / "label" / "label.lst").write_text("x\n")
    with pytest.raises(DatasetError, match="origin"):
        load_expw(tmp_path)
    assert parse_label_file(tmp_path / "label" / "label.lst")[1] == [
        "line 1: expected 8 fields, got 1"]
