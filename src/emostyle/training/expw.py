"""Expression in-the-Wild (ExpW): 91,793 faces in real photos, labels in FER2013 order.

ExpW ships ``label/label.lst`` (one face per line: ``image_name face_id top left right bottom
confidence label``) and the photos in ``origin/``. Faces are cropped square around the box with
``margin`` (0.02, the FER2013 framing measured for YuNet boxes, fits ExpW's tight boxes too),
turned into 48x48 gray, and cached beside the data, keyed by the label file's size and time, so a
second run starts at once. ExpW has no official split: a seeded, stratified 80/10/10 split gives
train / public (selection) / private (report).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emostyle.crops import crop_face
from emostyle.emotions import EMOTIONS
from emostyle.errors import DatasetError, InputError
from emostyle.images import read_image
from emostyle.results import DetectedFace


@dataclass(frozen=True)
class ExpwProblems:
    """What was skipped while reading: malformed lines (with line numbers), missing images."""

    malformed: tuple[str, ...]
    missing: tuple[str, ...]


def find_label_file(root: Path) -> Path | None:
    for candidate in (root / "label" / "label.lst", root / "label.lst"):
        if candidate.is_file():
            return candidate
    return None


def parse_label_file(path: Path) -> tuple[list[tuple[str, int, int, int, int, int]], list[str]]:
    """Good lines as (image, top, left, right, bottom, label); bad ones described by number."""
    rows, bad = [], []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 8:
                bad.append(f"line {n}: expected 8 fields, got {len(parts)}")
                continue
            name, _face_id, top, left, right, bottom, _conf, label = parts
            try:
                t, lft, r, b, y = int(top), int(left), int(right), int(bottom), int(label)
                float(_conf)
            except ValueError:
                bad.append(f"line {n}: non-numeric box, confidence or label")
                continue
            if not 0 <= y < len(EMOTIONS):
                bad.append(f"line {n}: label {y} outside 0..6")
                continue
            if r <= lft or b <= t:
                bad.append(f"line {n}: empty box (left {lft}, right {r}, top {t}, bottom {b})")
                continue
            rows.append((name, t, lft, r, b, y))
    return rows, bad


def load_expw(root: str | Path, size: int = 48, margin: float = 0.02, *,
              cache: bool = True) -> tuple[np.ndarray, np.ndarray, ExpwProblems]:
    """All readable ExpW faces as (images (N, size, size) uint8, labels, problems).

    Deterministic (no randomness): the train/test split is :func:`expw_usage`'s, seeded there.
    """
    root = Path(root)
    label_file = find_label_file(root)
    if label_file is None:
        raise DatasetError(f"{root}: no label/label.lst (not an ExpW folder)")
    origin = root / "origin"
    if not origin.is_dir():
        raise DatasetError(f"{root}: no origin/ folder with the photos")
    st = label_file.stat()
    key = hashlib.sha1(f"{st.st_size}-{st.st_mtime_ns}-{size}-{margin}".encode()).hexdigest()[:12]
    cache_file = root / ".emostyle_cache" / f"expw_{key}.npz"
    if cache and cache_file.is_file():
        d = np.load(cache_file)
        return d["images"], d["labels"], ExpwProblems(tuple(d["malformed"]), tuple(d["missing"]))
    rows, malformed = parse_label_file(label_file)
    by_image: dict[str, list[tuple[int, int, int, int, int]]] = {}
    for name, t, lft, r, b, y in rows:
        by_image.setdefault(name, []).append((t, lft, r, b, y))
    images, labels, missing = [], [], []
    for name, faces in by_image.items():
        try:
            photo = read_image(origin / name)
        except InputError as exc:
            missing.append(str(exc))
            continue
        for t, lft, r, b, y in faces:
            box = DetectedFace((float(lft), float(t), float(r - lft), float(b - t)), (), 1.0)
            images.append(crop_face(photo, box, size, margin, align=False, gray=True))
            labels.append(y)
    if not images:
        raise DatasetError(f"{root}: no readable faces ({len(malformed)} malformed lines, "
                           f"{len(missing)} missing images)")
    x, y = np.stack(images), np.array(labels, dtype=np.int64)
    problems = ExpwProblems(tuple(malformed), tuple(missing))
    if cache:
        cache_file.parent.mkdir(exist_ok=True)
        tmp = cache_file.with_name(cache_file.name + ".part.npz")
        np.savez_compressed(tmp, images=x, labels=y, malformed=np.array(malformed, dtype=str),
                            missing=np.array(missing, dtype=str))
        tmp.replace(cache_file)
    return x, y, problems


def expw_usage(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Seeded stratified 80/10/10 split codes: 0 train, 1 public, 2 private."""
    usage = np.zeros(len(labels), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for c in range(len(EMOTIONS)):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n10 = int(round(0.1 * len(idx)))
        usage[idx[:n10]] = 1
        usage[idx[n10:2 * n10]] = 2
    return usage
