"""Readers for FER2013-style data: our npz, the Kaggle csv, image folders, FER+ votes.

Every reader returns the same thing, a :class:`Splits` of uint8 grayscale faces with FER2013-order
labels, so the training loop never needs to know where the data came from.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np

from emostyle.emotions import EMOTIONS, canonical
from emostyle.errors import DatasetError, InputError
from emostyle.images import IMAGE_SUFFIXES, read_image

LABEL_MODES = ("fer2013", "ferplus-majority", "ferplus-soft")

# FER+ vote columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt,
# unknown, not-a-face. Map the first seven onto FER2013 order; contempt, unknown and
# not-a-face have no FER2013 class.
FERPLUS_TO_FER2013 = np.array([6, 3, 5, 4, 0, 1, 2])
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                   "contempt", "unknown", "NF")

SIDE = 48  # FER2013 faces are 48x48 gray
USAGES = {"training": 0, "publictest": 1, "privatetest": 2}
FERPLUS_FILE = "fer2013new.csv"


@dataclass(frozen=True)
class FaceSet:
    """Faces of one split: ``images`` (N, H, W) uint8, ``labels`` (N,) int64 in FER2013 order.

    ``targets`` is (N, 7) float32: one-hot for hard labels, the vote distribution for FER+ soft
    labels. Training uses ``targets``; metrics always use ``labels``.
    """

    images: np.ndarray
    labels: np.ndarray
    targets: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.images)
        if len(self.labels) != n or len(self.targets) != n:
            raise DatasetError(
                f"images, labels and targets disagree in length: {n}, {len(self.labels)}, "
                f"{len(self.targets)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> FaceSet:
        return FaceSet(self.images[idx], self.labels[idx], self.targets[idx])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(EMOTIONS))


@dataclass(frozen=True)
class Splits:
    """The three splits of the FER2013 protocol: train on ``train``, select on ``public``
    (PublicTest), report ``private`` (PrivateTest) once per final model."""

    train: FaceSet
    public: FaceSet
    private: FaceSet

    def get(self, name: str) -> FaceSet:
        aliases = {"train": "train", "training": "train", "public": "public", "val": "public",
                   "publictest": "public", "private": "private", "test": "private",
                   "privatetest": "private"}
        key = aliases.get(name.lower())
        if key is None:
            raise DatasetError(f"unknown split {name!r}; expected train, public or private")
        return getattr(self, key)


def one_hot(labels: np.ndarray, n: int = len(EMOTIONS)) -> np.ndarray:
    out = np.zeros((len(labels), n), dtype=np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out


def ferplus_majority(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FER+ majority labels by Microsoft's own rule, in FER2013 order, and the rows kept.

    As in the FERPlus repository's ``ferplus.py``: single votes are dropped as outliers, and a
    face gets a label only when one class holds more than half of the remaining votes; that
    class must be one of our seven (contempt, unknown and not-a-face rows are dropped).
    """
    v = np.asarray(votes, dtype=np.float32).copy()
    if v.ndim != 2 or v.shape[1] != 10:
        raise DatasetError(f"FER+ votes must be (N, 10), got {v.shape}")
    v[v <= 1] = 0
    top = v.argmax(1)
    total = v.sum(1)
    keep = (v.max(1) > 0.5 * total) & (total > 0) & (top < 7)
    return FERPLUS_TO_FER2013[np.minimum(top, 6)], keep


def ferplus_targets(votes: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Turn FER+ votes (N, 10, FER+ order) into (labels, targets) in FER2013 order plus a mask.

    Returns ``(targets, keep)``: ``keep`` is False for rows FER+ cannot label with one of our 7
    classes - no emotion votes at all (all votes on unknown / not-a-face), or, in majority mode,
    a row without a clear majority among our 7 classes (see :func:`ferplus_majority`). Such rows
    are dropped, as in the FER+ paper's majority protocol. Soft targets are the vote
    distribution over the 7 classes we share with FER2013 (contempt votes are dropped before
    normalising).
    """
    votes = np.asarray(votes, dtype=np.float32)
    if votes.ndim != 2 or votes.shape[1] != 10:
        raise DatasetError(f"FER+ votes must be (N, 10), got {votes.shape}")
    ours = np.zeros((len(votes), len(EMOTIONS)), dtype=np.float32)
    ours[:, FERPLUS_TO_FER2013] = votes[:, :7]
    total = ours.sum(1)
    if mode == "ferplus-soft":
        keep = total > 0
        targets = ours / np.maximum(total, 1)[:, None]
    elif mode == "ferplus-majority":
        labels, keep = ferplus_majority(votes)
        targets = one_hot(np.where(keep, labels, 0))
    else:
        raise DatasetError(f"unknown FER+ label mode {mode!r}")
    return targets, keep


def load_npz(path: str | Path, labels: str = "fer2013") -> Splits:
    """Read our ``fer2013.npz`` (see DATA.md): images, labels, usage, ferplus_votes."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (expected fer2013.npz, see docs/data.md)")
    try:
        data = np.load(path)
        images, y, usage = data["images"], data["labels"].astype(np.int64), data["usage"]
        votes = data["ferplus_votes"] if "ferplus_votes" in data.files else None
    except (KeyError, ValueError, OSError) as exc:
        raise DatasetError(f"{path}: not a FER2013 npz ({exc})") from exc
    return _split(images, y, usage, votes, labels, str(path))


def _check_labels(labels: str) -> None:
    if labels not in LABEL_MODES:
        raise DatasetError(f"--labels must be one of {', '.join(LABEL_MODES)}, got {labels!r}")


def _split(images: np.ndarray, y: np.ndarray, usage: np.ndarray, votes: np.ndarray | None,
           labels: str, source: str) -> Splits:
    _check_labels(labels)
    if y.min() < 0 or y.max() >= len(EMOTIONS):
        raise DatasetError(f"{source}: labels must be 0..6, found {y.min()}..{y.max()}")
    targets = one_hot(y)
    keep = np.ones(len(y), dtype=bool)
    if labels != "fer2013":
        if votes is None:
            raise DatasetError(f"{source}: --labels {labels} needs FER+ votes, which it lacks")
        targets, keep = ferplus_targets(votes, labels)
    out = {}
    for code, name in enumerate(("train", "public", "private")):
        rows = usage == code
        # Evaluation keeps every row with its FER2013 label; only training drops FER+-unlabelled.
        if name == "train":
            rows &= keep
        out[name] = FaceSet(images[rows], y[rows], targets[rows])
    if len(out["train"]) == 0:
        raise DatasetError(f"{source}: no training rows")
    return Splits(**out)


def _usage_code(value: str) -> int | None:
    return USAGES.get(value.strip().lower())


def _open_csv(path: Path, kind: str) -> tuple[Any, list[str], TextIO]:
    """Open ``path`` as csv; returns (reader, header, file handle). Errors name the file."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (expected {kind})")
    try:
        fh = open(path, newline="", encoding="utf-8-sig")  # closed by the caller
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read as csv ({exc})") from exc
    if not header:
        fh.close()
        raise DatasetError(f"{path}: empty file (expected {kind})")
    return reader, header, fh


def _ferplus_rows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Votes (N, 10) uint8 and usage codes (N,) from Microsoft's ``fer2013new.csv``."""
    reader, header, fh = _open_csv(path, f"the FER+ label file {FERPLUS_FILE}")
    with fh:
        missing = [c for c in ("Usage", *FERPLUS_COLUMNS) if c not in header]
        if missing:
            raise DatasetError(f"{path}: not a FER+ label file (missing columns "
                               f"{', '.join(missing)}; header is {','.join(header)})")
        cols = [header.index(c) for c in FERPLUS_COLUMNS]
        use_col = header.index("Usage")
        votes, usage = [], []
        try:
            for row_no, row in enumerate(reader, 1):
                if not row:
                    continue
                where = f"{path}: row {row_no} (line {reader.line_num})"
                if len(row) != len(header):
                    raise DatasetError(f"{where}: {len(row)} fields, expected {len(header)}")
                code = _usage_code(row[use_col])
                if code is None:
                    raise DatasetError(f"{where}: unknown Usage {row[use_col]!r} (expected "
                                       "Training, PublicTest or PrivateTest)")
                try:
                    v = [int(row[c]) for c in cols]
                except ValueError:
                    raise DatasetError(f"{where}: votes must be integers, got "
                                       f"{[row[c] for c in cols]}") from None
                if min(v) < 0 or max(v) > 255:
                    raise DatasetError(f"{where}: votes must be 0..255, got {v}")
                votes.append(v)
                usage.append(code)
        except csv.Error as exc:
            raise DatasetError(f"{path}: line {reader.line_num}: malformed csv ({exc})") from exc
    if not votes:
        raise DatasetError(f"{path}: no rows")
    return np.array(votes, dtype=np.uint8), np.array(usage, dtype=np.uint8)


def load_ferplus_votes(csv_path: str | Path) -> np.ndarray:
    """FER+ crowd votes from ``fer2013new.csv`` as (N, 10) uint8, in the file's row order.

    Columns are in FER+ order (neutral, happiness, surprise, sadness, anger, disgust, fear,
    contempt, unknown, not-a-face); rows follow fer2013.csv's row order, as Microsoft publishes
    them. :func:`ferplus_targets` maps them to FER2013 labels.
    """
    return _ferplus_rows(Path(csv_path))[0]


def load_csv(path: str | Path, labels: str = "fer2013",
             ferplus: str | Path | None = None) -> Splits:
    """Read Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``; 2304 gray values a row).

    FER+ label modes need the votes: ``ferplus`` is the path of ``fer2013new.csv`` (same row
    order); when omitted, a ``fer2013new.csv`` beside ``path`` is used if there is one. A
    malformed row raises :class:`DatasetError` naming the row and what is wrong with it.
    """
    path = Path(path)
    _check_labels(labels)
    reader, header, fh = _open_csv(path, "Kaggle's fer2013.csv")
    with fh:
        if "pixels" not in header and "Image name" in header:
            raise DatasetError(f"{path}: this is the FER+ label file, not the images; pass "
                               "fer2013.csv as the dataset and this file as the FER+ votes")
        missing = [c for c in ("emotion", "pixels", "Usage") if c not in header]
        if missing:
            raise DatasetError(f"{path}: not a FER2013 csv (missing columns {', '.join(missing)};"
                               f" header is {','.join(header)})")
        ie, ip, iu = (header.index(c) for c in ("emotion", "pixels", "Usage"))
        images, ys, usage = [], [], []
        try:
            for row_no, row in enumerate(reader, 1):
                if not row:
                    continue
                where = f"{path}: row {row_no} (line {reader.line_num})"
                if len(row) != len(header):
                    raise DatasetError(f"{where}: {len(row)} fields, expected {len(header)}")
                try:
                    y = int(row[ie])
                except ValueError:
                    raise DatasetError(f"{where}: emotion {row[ie]!r} is not an integer") from None
                if not 0 <= y < len(EMOTIONS):
                    raise DatasetError(f"{where}: emotion {y} out of range 0..{len(EMOTIONS) - 1}")
                code = _usage_code(row[iu])
                if code is None:
                    raise DatasetError(f"{where}: unknown Usage {row[iu]!r} (expected Training, "
                                       "PublicTest or PrivateTest)")
                images.append(_parse_pixels(row[ip], where))
                ys.append(y)
                usage.append(code)
        except csv.Error as exc:
            raise DatasetError(f"{path}: line {reader.line_num}: malformed csv ({exc})") from exc
    if not images:
        raise DatasetError(f"{path}: no rows")
    usage_arr = np.array(usage, dtype=np.uint8)
    votes = None
    if labels != "fer2013":
        if ferplus is None and (path.parent / FERPLUS_FILE).is_file():
            ferplus = path.parent / FERPLUS_FILE
        if ferplus is None:
            raise DatasetError(f"{path}: --labels {labels} needs the FER+ votes "
                               f"({FERPLUS_FILE}); none given and none beside the csv")
        votes, votes_usage = _ferplus_rows(Path(ferplus))
        if len(votes) != len(images):
            raise DatasetError(f"{ferplus}: {len(votes)} rows, but {path} has {len(images)}; "
                               "the FER+ file must list the same rows in the same order")
        bad = np.flatnonzero(votes_usage != usage_arr)
        if len(bad):
            raise DatasetError(f"{ferplus}: row {bad[0] + 1} has a different Usage than {path}; "
                               "the files are not in the same row order")
    return _split(np.stack(images), np.array(ys, dtype=np.int64), usage_arr, votes, labels,
                  str(path))


def _parse_pixels(text: str, where: str) -> np.ndarray:
    """A space-separated row of 2304 integers 0..255 -> (48, 48) uint8."""
    try:
        # numpy's C text parser is ~5x faster than str.split + int; a row it cannot read to
        # the end (a DeprecationWarning, made an error here) goes to the slow path below.
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            values = np.fromstring(text, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning, AttributeError):
        values = None
    if values is None or len(values) != SIDE * SIDE:
        tokens = text.split()
        if len(tokens) != SIDE * SIDE:
            raise DatasetError(f"{where}: {len(tokens)} pixel values, expected {SIDE * SIDE} "
                               f"({SIDE}x{SIDE})")
        bad = next((t for t in tokens if not _is_int(t)), None)
        if bad is not None:
            raise DatasetError(f"{where}: pixel value {bad!r} is not an integer")
        values = np.array([int(t) for t in tokens], dtype=np.int64)
    if values.min() < 0 or values.max() > 255:
        raise DatasetError(f"{where}: pixel values must be 0..255, found "
                           f"{values.min()}..{values.max()}")
    return values.astype(np.uint8).reshape(SIDE, SIDE)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _read_face(path: Path) -> np.ndarray:
    """An image file -> (48, 48) gray uint8, resized if it is another size."""
    try:
        rgb = read_image(path)
    except InputError as exc:  # ImageReadError is an InputError; its message names the file
        raise DatasetError(str(exc)) from None
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if gray.shape != (SIDE, SIDE):
        shrink = gray.shape[0] > SIDE or gray.shape[1] > SIDE
        gray = cv2.resize(gray, (SIDE, SIDE),
                          interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return gray


def _read_class_folders(root: Path) -> tuple[list[Path], list[int]]:
    """Image files under ``root/<class>/`` (sorted) and their FER2013 label indices."""
    files: list[Path] = []
    ys: list[int] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            y = EMOTIONS.index(canonical(folder.name))
        except ValueError:
            raise DatasetError(f"{folder}: unknown class folder {folder.name!r}; expected one of "
                               f"{', '.join(EMOTIONS)} (or a synonym)") from None
        found = sorted(p for p in folder.rglob("*") if p.is_file()
                       and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        ys += [y] * len(found)
    return files, ys


def load_folders(path: str | Path, labels: str = "fer2013", val_fraction: float = 0.1,
                 seed: int = 0) -> Splits:
    """Read Kaggle's image-folder FER2013: ``train/<class>/*.png|jpg`` and ``test/<class>/``.

    Class folder names may be any synonym :func:`emostyle.emotions.canonical` accepts. Images
    become 48x48 gray uint8 (resized if needed). ``val_fraction`` of each class of ``train``,
    drawn with ``seed`` (same files and seed, same split), becomes ``public``; ``test`` becomes
    ``private``. This release has no FER+ votes, so only ``labels="fer2013"`` works.
    """
    path = Path(path)
    _check_labels(labels)
    if labels != "fer2013":
        raise DatasetError(f"{path}: --labels {labels} needs FER+ votes, which the image-folder "
                           "release lacks; use fer2013.csv with fer2013new.csv, or our npz")
    if not 0 <= val_fraction < 1:
        raise DatasetError(f"val_fraction must be in [0, 1), got {val_fraction}")
    for name in ("train", "test"):
        if not (path / name).is_dir():
            raise DatasetError(f"{path}: no {name}/ folder (expected train/<class>/ and "
                               "test/<class>/ with images)")
    parts = {}
    for name in ("train", "test"):
        root = path / name
        files, ys = _read_class_folders(root)
        if not files:
            raise DatasetError(f"{root}: no images in class folders")
        images = np.stack([_read_face(f) for f in files])
        parts[name] = (images, np.array(ys, dtype=np.int64))
    train_x, train_y = parts["train"]
    usage = np.zeros(len(train_y), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for c in range(len(EMOTIONS)):
        idx = np.flatnonzero(train_y == c)
        n_val = int(round(val_fraction * len(idx)))
        usage[rng.permutation(idx)[:n_val]] = 1
    test_x, test_y = parts["test"]
    return _split(np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y]),
                  np.concatenate([usage, np.full(len(test_y), 2, np.uint8)]), None, labels,
                  str(path))


def load_dataset(path: str | Path, labels: str = "fer2013",
                 ferplus: str | Path | None = None) -> Splits:
    """Any supported dataset by its path: ``.npz``, ``.csv``, ExpW, or an image-folder tree.

    ``ferplus`` (a ``fer2013new.csv``) supplies FER+ votes to a ``.csv`` dataset.
    """
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return load_npz(path, labels)
    if path.suffix.lower() == ".csv":
        return load_csv(path, labels, ferplus=ferplus)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if path.is_dir():
        from emostyle.training.expw import expw_usage, find_label_file, load_expw

        if find_label_file(path) is not None:
            if labels != "fer2013":
                raise DatasetError(f"{path}: ExpW has no FER+ votes; use --labels fer2013")
            images, ys, _ = load_expw(path)
            return _split(images, ys, expw_usage(ys), None, labels, str(path))
        return load_folders(path, labels)
    raise DatasetError(f"{path}: unsupported dataset (expected .npz, .csv, an ExpW folder or "
                       "a folder with train/<class>/)")
