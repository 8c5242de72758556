"""Dataset readers: Kaggle csv, FER+ votes, image folders, our npz - and their error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emostyle.errors import DatasetError
from emostyle.training.datasets import (
    FERPLUS_COLUMNS,
    ferplus_targets,
    load_csv,
    load_dataset,
    load_ferplus_votes,
    load_folders,
    load_npz,
)

USAGE_NAMES = ("Training", "PublicTest", "PrivateTest")
# 14 training rows (two of each class), 3 public, 3 private.
ROW_USAGE = [0] * 14 + [1] * 3 + [2] * 3
ROW_LABELS = [i % 7 for i in range(14)] + [3, 4, 5, 0, 6, 6]


def faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 48, 48), dtype=np.uint8)


def csv_line(label: object, pixels: object, usage: str) -> str:
    if isinstance(pixels, np.ndarray):
        pixels = " ".join(map(str, pixels.ravel()))
    return f"{label},{pixels},{usage}"


def write_csv(path: Path, lines: list[str], header: str = "emotion,pixels,Usage") -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


@pytest.fixture
def fer_csv(tmp_path: Path) -> tuple[Path, np.ndarray]:
    images = faces(len(ROW_USAGE))
    lines = [csv_line(y, img, USAGE_NAMES[u])
             for y, img, u in zip(ROW_LABELS, images, ROW_USAGE, strict=True)]
    return write_csv(tmp_path / "fer2013.csv", lines), images


def write_ferplus(path: Path, votes: list[list[int]], usage: list[int] = ROW_USAGE) -> Path:
    lines = ["Usage,Image name," + ",".join(FERPLUS_COLUMNS)]
    for i, (v, u) in enumerate(zip(votes, usage, strict=True)):
        lines.append(f"{USAGE_NAMES[u]},fer{i:07d}.png," + ",".join(map(str, v)))
    path.write_text("\n".join(lines) + "\n")
    return path


def votes_for(labels: list[int]) -> list[list[int]]:
    """Ten votes a row: 8 on the row's FER2013 class (in FER+ column order), 2 on neutral."""
    fer2013_to_ferplus = [4, 5, 6, 1, 3, 2, 0]
    rows = []
    for y in labels:
        v = [0] * 10
        v[fer2013_to_ferplus[y]] += 8
        v[0] += 2
        rows.append(v)
    return rows


# --- FER+ votes -> labels -----------------------------------------------------------------------

def vote_row(**named: int) -> list[int]:
    columns = [c.lower() for c in FERPLUS_COLUMNS]
    return [named.get(c, 0) for c in columns]


def test_ferplus_all_votes_on_happiness_is_happy() -> None:
    votes = np.array([vote_row(happiness=10)])
    for mode in ("ferplus-majority", "ferplus-soft"):
        targets, keep = ferplus_targets(votes, mode)
        assert keep.tolist() == [True]
        np.testing.assert_array_equal(targets[0], np.eye(7)[3])  # FER2013 3 = happy


def test_ferplus_columns_map_to_fer2013_order() -> None:
    # One row per FER+ emotion column -> its FER2013 index.
    expected = {"neutral": 6, "happiness": 3, "surprise": 5, "sadness": 4, "anger": 0,
                "disgust": 1, "fear": 2}
    votes = np.array([vote_row(**{name: 9}) for name in expected])
    targets, keep = ferplus_targets(votes, "ferplus-majority")
    assert keep.all()
    assert targets.argmax(1).tolist() == list(expected.values())


def test_ferplus_majority_follows_microsofts_rule() -> None:
    # FERPlus's own rule: single votes are outliers; a label needs > half the remaining votes.
    targets, keep = ferplus_targets(np.array([vote_row(neutral=5, happiness=5),
                                              vote_row(sadness=4, anger=4, fear=2),
                                              vote_row(sadness=5, anger=3, fear=1, nf=1),
                                              vote_row(happiness=6, surprise=4)]),
                                    "ferplus-majority")
    assert keep.tolist() == [False, False, True, True]  # ties and pluralities are no majority
    assert targets[2:].argmax(1).tolist() == [4, 3]  # 5 of 8 counted votes: sad; 6 of 10: happy


def test_ferplus_majority_drops_rows_without_an_emotion_majority() -> None:
    votes = np.array([vote_row(unknown=6, nf=4), vote_row(nf=10), vote_row(contempt=7, anger=3),
                      vote_row(unknown=4, sadness=6), np.zeros(10, int)])
    _, keep = ferplus_targets(votes, "ferplus-majority")
    assert keep.tolist() == [False, False, False, True, False]


def test_ferplus_soft_targets_are_distributions_in_fer2013_order() -> None:
    votes = np.array([vote_row(neutral=2, anger=8), vote_row(happiness=3, surprise=3, contempt=4),
                      vote_row(unknown=5, nf=5)])
    targets, keep = ferplus_targets(votes, "ferplus-soft")
    assert keep.tolist() == [True, True, False]  # no emotion votes at all: dropped
    np.testing.assert_allclose(targets[:2].sum(1), 1.0)
    np.testing.assert_allclose(targets[0], [0.8, 0, 0, 0, 0, 0, 0.2])
    np.testing.assert_allclose(targets[1], [0, 0, 0, 0.5, 0, 0.5, 0])  # contempt left out
    assert targets.dtype == np.float32


def test_ferplus_votes_must_have_ten_columns() -> None:
    with pytest.raises(DatasetError, match=r"\(N, 10\)"):
        ferplus_targets(np.zeros((2, 8)), "ferplus-soft")


# --- Kaggle fer2013.csv -------------------------------------------------------------------------

def test_load_csv_reads_rows_into_the_three_splits(fer_csv: tuple[Path, np.ndarray]) -> None:
    path, images = fer_csv
    splits = load_csv(path)
    assert (len(splits.train), len(splits.public), len(splits.private)) == (14, 3, 3)
    np.testing.assert_array_equal(splits.train.images, images[:14])
    np.testing.assert_array_equal(splits.private.labels, [0, 6, 6])
    assert splits.train.images.dtype == np.uint8 and splits.train.labels.dtype == np.int64
    np.testing.assert_array_equal(splits.train.class_counts(), [2] * 7)
    np.testing.assert_array_equal(splits.public.targets, np.eye(7, dtype=np.float32)[[3, 4, 5]])


def test_load_csv_accepts_crlf_bom_and_any_column_order(tmp_path: Path) -> None:
    img = faces(2)
    body = [f"{u},{y},{' '.join(map(str, im.ravel()))}"
            for u, y, im in (("Training", 3, img[0]), ("PrivateTest", 1, img[1]))]
    path = tmp_path / "fer.csv"
    path.write_bytes(("\ufeffUsage,emotion,pixels\r\n" + "\r\n".join(body) + "\r\n")
                     .encode("utf-8"))
    splits = load_csv(path)
    np.testing.assert_array_equal(splits.train.images[0], img[0])
    assert splits.private.labels.tolist() == [1]


GOOD = " ".join(["7"] * 2304)


@pytest.mark.parametrize(("line", "problem"), [
    (csv_line(3, " ".join(["7"] * 2303), "Training"), "2303 pixel values, expected 2304"),
    (csv_line(3, GOOD + " 8", "Training"), "2305 pixel values"),
    (csv_line(3, GOOD.replace("7", "x", 1), "Training"), "pixel value 'x' is not an integer"),
    (csv_line(3, GOOD.replace("7", "7.5", 1), "Training"), "'7.5' is not an integer"),
    (csv_line(3, GOOD.replace("7", "256", 1), "Training"), "must be 0..255"),
    (csv_line(3, GOOD.replace("7", "-1", 1), "Training"), "must be 0..255"),
    (csv_line(7, GOOD, "Training"), "emotion 7 out of range 0..6"),
    (csv_line(-1, GOOD, "Training"), "emotion -1 out of range"),
    (csv_line("happy", GOOD, "Training"), "emotion 'happy' is not an integer"),
    (csv_line(3, GOOD, "Validation"), "unknown Usage 'Validation'"),
    (f"3,{GOOD}", "2 fields, expected 3"),
], ids=["short", "long", "letter", "float", "256", "negative", "label-7", "label-neg",
        "label-name", "usage", "fields"])
def test_malformed_csv_row_names_row_and_problem(tmp_path: Path, line: str, problem: str) -> None:
    good = csv_line(3, GOOD, "Training")
    path = write_csv(tmp_path / "bad.csv", [good] * 4 + [line] + [good] * 2)
    with pytest.raises(DatasetError) as err:
        load_csv(path)
    message = str(err.value)
    assert "row 5 (line 6)" in message and problem in message and str(path) in message


@pytest.mark.parametrize(("content", "problem"), [
    ("", "empty file"),
    ("emotion,pixels\n3,1 2 3\n", "missing columns Usage"),
    ("emotion,pixels,Usage\n", "no rows"),
    ("Usage,Image name,neutral\nTraining,a.png,1\n", r"FER\+ label file, not the images"),
], ids=["empty", "no-usage", "header-only", "ferplus-file"])
def test_csv_that_is_not_fer2013(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=problem):
        load_csv(path)


def test_missing_csv_and_unknown_label_mode(tmp_path: Path, fer_csv) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_csv(tmp_path / "absent.csv")
    with pytest.raises(DatasetError, match="--labels must be one of"):
        load_csv(fer_csv[0], labels="soft")


# --- FER+ label file ----------------------------------------------------------------------------

def test_load_ferplus_votes_keeps_row_and_column_order(tmp_path: Path) -> None:
    votes = [vote_row(neutral=4, sadness=1, anger=3, disgust=2), vote_row(nf=10),
             vote_row(happiness=9, unknown=1)]
    path = write_ferplus(tmp_path / "fer2013new.csv", votes, usage=[0, 0, 2])
    got = load_ferplus_votes(path)
    assert got.dtype == np.uint8 and got.shape == (3, 10)
    np.testing.assert_array_equal(got, votes)


def test_real_ferplus_layout_with_empty_image_names(tmp_path: Path) -> None:
    path = tmp_path / "fer2013new.csv"
    path.write_text("Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,"
                    "contempt,unknown,NF\nTraining,fer0000000.png,4,0,0,1,3,2,0,0,0,0\n"
                    "Training,,0,0,0,0,0,0,0,0,0,10\n")
    np.testing.assert_array_equal(load_ferplus_votes(path)[:, [0, 9]], [[4, 0], [0, 10]])


def test_malformed_ferplus_row(tmp_path: Path) -> None:
    path = write_ferplus(tmp_path / "fer2013new.csv", [vote_row(neutral=1)] * 3, usage=[0, 0, 1])
    text = path.read_text().splitlines()
    text[2] = text[2].replace(",1,", ",one,", 1)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DatasetError, match=r"row 2 \(line 3\): votes must be integers"):
        load_ferplus_votes(path)


def test_csv_with_ferplus_soft_labels(fer_csv, tmp_path: Path) -> None:
    path, _ = fer_csv
    votes = votes_for(ROW_LABELS)
    votes[0] = vote_row(unknown=7, nf=3)  # a training row FER+ cannot label: dropped
    ferplus = write_ferplus(tmp_path / "votes.csv", votes)
    splits = load_csv(path, labels="ferplus-soft", ferplus=ferplus)
    assert len(splits.train) == 13 and len(splits.public) == 3
    np.testing.assert_allclose(splits.train.targets.sum(1), 1.0)
    # Row 2 is class 1 (disgust): 0.8 there, 0.2 on neutral (FER2013 index 6).
    np.testing.assert_allclose(splits.train.targets[0], [0, 0.8, 0, 0, 0, 0, 0.2])
    assert splits.train.labels[0] == 1  # metrics keep the FER2013 label
    majority = load_csv(path, labels="ferplus-majority", ferplus=ferplus)
    assert majority.train.targets.argmax(1).tolist() == ROW_LABELS[1:14]


def test_csv_finds_the_ferplus_file_beside_it(fer_csv) -> None:
    path, _ = fer_csv
    with pytest.raises(DatasetError, match="needs the FER\\+ votes"):
        load_dataset(path, labels="ferplus-majority")
    write_ferplus(path.parent / "fer2013new.csv", votes_for(ROW_LABELS))
    assert len(load_dataset(path, labels="ferplus-majority").train) == 14


def test_ferplus_file_that_does_not_match_the_csv(fer_csv, tmp_path: Path) -> None:
    path, _ = fer_csv
    short = write_ferplus(tmp_path / "short.csv", votes_for(ROW_LABELS)[:5], usage=ROW_USAGE[:5])
    with pytest.raises(DatasetError, match="5 rows, but"):
        load_csv(path, labels="ferplus-soft", ferplus=short)
    shuffled = write_ferplus(tmp_path / "shuffled.csv", votes_for(ROW_LABELS),
                             usage=ROW_USAGE[::-1])
    with pytest.raises(DatasetError, match="row 1 has a different Usage"):
        load_csv(path, labels="ferplus-soft", ferplus=shuffled)


# --- image folders ------------------------------------------------------------------------------

FOLDER_CLASSES = {"angry": 0, "Happiness": 3, "surprised": 5, "neutral": 6}


@pytest.fixture
def folder_tree(tmp_path: Path) -> Path:
    """train/<class>/ with 10 faces a class (mixed names, formats and sizes), test/ with 2."""
    root = tmp_path / "fer_folders"
    rng = np.random.default_rng(1)
    for split, n in (("train", 10), ("test", 2)):
        for cls in FOLDER_CLASSES:
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                if i == 0:  # a colour JPEG at another size: converted and resized
                    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
                    Image.fromarray(rgb).save(folder / f"{split}_{i}.jpg")
                else:
                    gray = rng.integers(0, 256, (48, 48), dtype=np.uint8)
                    Image.fromarray(gray).save(folder / f"{split}_{i}.png")
            (folder / ".DS_Store").write_bytes(b"\0junk")  # hidden files are ignored
    return root


def test_load_folders_splits_and_labels(folder_tree: Path) -> None:
    splits = load_folders(folder_tree, val_fraction=0.2, seed=0)
    assert (len(splits.train), len(splits.public), len(splits.private)) == (32, 8, 8)
    # Stratified: 2 of each class's 10 training faces go to validation.
    assert splits.public.class_counts()[[0, 3, 5, 6]].tolist() == [2, 2, 2, 2]
    assert splits.private.class_counts()[[0, 3, 5, 6]].tolist() == [2, 2, 2, 2]
    for part in (splits.train, splits.public, splits.private):
        assert part.images.shape[1:] == (48, 48) and part.images.dtype == np.uint8


def test_folder_split_is_reproducible_and_seeded(folder_tree: Path) -> None:
    a = load_folders(folder_tree, seed=3, val_fraction=0.3)
    b = load_folders(folder_tree, seed=3, val_fraction=0.3)
    c = load_folders(folder_tree, seed=4, val_fraction=0.3)
    np.testing.assert_array_equal(a.public.images, b.public.images)
    assert not np.array_equal(a.public.images, c.public.images)
    assert len(a.public) == len(c.public) == 12
    # Train and validation together are the whole train folder, with no face in both.
    both = np.concatenate([a.train.images, a.public.images]).reshape(40, -1)
    assert len(np.unique(both, axis=0)) == 40


def test_folder_pngs_are_read_exactly(tmp_path: Path) -> None:
    img = faces(2, seed=5)
    for split, face in (("train", img[0]), ("test", img[1])):
        (tmp_path / split / "sad").mkdir(parents=True)
        Image.fromarray(face).save(tmp_path / split / "sad" / "a.png")
    splits = load_folders(tmp_path, val_fraction=0.0)
    np.testing.assert_array_equal(splits.train.images[0], img[0])
    np.testing.assert_array_equal(splits.private.images[0], img[1])
    assert splits.train.labels.tolist() == [4]


def test_unknown_class_folder_is_named(folder_tree: Path) -> None:
    (folder_tree / "train" / "contempt").mkdir()
    with pytest.raises(DatasetError, match="unknown class folder 'contempt'"):
        load_folders(folder_tree)


def test_unreadable_image_is_named(folder_tree: Path) -> None:
    bad = folder_tree / "test" / "angry" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DatasetError, match="broken.png"):
        load_folders(folder_tree)


def test_folder_tree_without_test_or_votes(folder_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="needs FER\\+ votes"):
        load_folders(folder_tree, labels="ferplus-soft")
    (tmp_path / "only" / "train" / "sad").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no test/ folder"):
        load_folders(tmp_path / "only")


# --- our npz and the dispatcher -----------------------------------------------------------------

@pytest.fixture
def tiny_npz(tmp_path: Path) -> Path:
    """Same arrays as ../shared/data/fer2013.npz (see DATA.md), 20 rows."""
    votes = np.array(votes_for(ROW_LABELS), dtype=np.uint8)
    votes[1] = vote_row(contempt=9, neutral=1)  # no FER2013 majority: dropped from training
    path = tmp_path / "tiny.npz"
    np.savez(path, images=faces(20), labels=np.array(ROW_LABELS, dtype=np.int64),
             usage=np.array(ROW_USAGE, dtype=np.uint8), ferplus_votes=votes,
             exact=np.ones(20, dtype=bool))
    return path


def test_npz_round_trip_and_ferplus_majority(tiny_npz: Path) -> None:
    splits = load_npz(tiny_npz)
    assert (len(splits.train), len(splits.public), len(splits.private)) == (14, 3, 3)
    majority = load_npz(tiny_npz, labels="ferplus-majority")
    assert len(majority.train) == 13 and len(majority.public) == 3  # evaluation keeps all rows


def test_load_dataset_dispatches_on_the_path(tiny_npz: Path, fer_csv, folder_tree: Path,
                                             tmp_path: Path) -> None:
    assert len(load_dataset(tiny_npz).train) == 14
    assert len(load_dataset(fer_csv[0]).train) == 14
    assert len(load_dataset(folder_tree).private) == 8
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing.npz")
    with pytest.raises(DatasetError, match="no such file or directory"):
        load_dataset(tmp_path / "missing")
    other = tmp_path / "faces.txt"
    other.write_text("hello")
    with pytest.raises(DatasetError, match="unsupported dataset"):
        load_dataset(other)


# --- the real data (slow; skipped without ../shared) --------------------------------------------

FER2013_COUNTS = {  # per split, FER2013 order; Training as in DATA.md
    "train": [3995, 436, 4097, 7215, 4830, 3171, 4965],
    "public": [467, 56, 496, 895, 653, 415, 607],
    "private": [491, 55, 528, 879, 594, 416, 626],
}


@pytest.mark.slow
def test_real_fer2013_npz(fer_npz: Path) -> None:
    splits = load_dataset(fer_npz)
    assert (len(splits.train), len(splits.public), len(splits.private)) == (28709, 3589, 3589)
    for name, counts in FER2013_COUNTS.items():
        assert splits.get(name).class_counts().tolist() == counts, name
    votes_csv = fer_npz.parent / "fer2013new.csv"
    if votes_csv.is_file():  # Microsoft's label file lists the same rows in the same order
        with np.load(fer_npz) as data:
            np.testing.assert_array_equal(load_ferplus_votes(votes_csv), data["ferplus_votes"])
