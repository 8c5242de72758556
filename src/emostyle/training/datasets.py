"""Readers for FER2013-style data: our npz, the Kaggle csv, image folders, FER+ votes.

Every reader returns the same thing, a :class:`Splits` of uint8 grayscale faces with FER2013-order
labels, so the training loop never needs to know where the data came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emostyle.emotions import EMOTIONS
from emostyle.errors import DatasetError

LABEL_MODES = ("fer2013", "ferplus-majority", "ferplus-soft")

# FER+ vote columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt,
# unknown, not-a-face. Map the first seven onto FER2013 order; contempt, unknown and
# not-a-face have no FER2013 class.
FERPLUS_TO_FER2013 = np.array([6, 3, 5, 4, 0, 1, 2])


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


def ferplus_targets(votes: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Turn FER+ votes (N, 10, FER+ order) into (labels, targets) in FER2013 order plus a mask.

    Returns ``(targets, keep)``: ``keep`` is False for rows FER+ cannot label with one of our 7
    classes - no emotion votes at all (all votes on unknown / not-a-face), or, in majority mode,
    a row whose most-voted FER+ class is contempt, unknown or not-a-face. Such rows are dropped,
    as in the FER+ paper's majority protocol. Soft targets are the vote distribution over the 7
    classes we share with FER2013 (contempt votes are dropped before normalising).
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
        top = votes.argmax(1)  # ties resolve to the first column, as in FER+'s own tooling
        keep = (top < 7) & (total > 0)
        targets = one_hot(np.where(keep, FERPLUS_TO_FER2013[np.minimum(top, 6)], 0))
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


def _split(images: np.ndarray, y: np.ndarray, usage: np.ndarray, votes: np.ndarray | None,
           labels: str, source: str) -> Splits:
    if labels not in LABEL_MODES:
        raise DatasetError(f"--labels must be one of {', '.join(LABEL_MODES)}, got {labels!r}")
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


def load_dataset(path: str | Path, labels: str = "fer2013") -> Splits:
    """Any supported dataset by its path: ``.npz``, ``.csv`` or an image-folder tree."""
    path = Path(path)
    if path.suffix == ".npz":
        return load_npz(path, labels)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    raise DatasetError(f"{path}: unsupported dataset (expected .npz, .csv or a folder with "
                       "train/<class>/)")
