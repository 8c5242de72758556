"""Labelled photos for evaluation: one folder per emotion, or a manifest CSV.

A manifest has a header row and the columns ``file`` and ``label``, plus optionally ``source``
(a name per row; the report then gives one table per source) and ``crop`` (``yes``: the file is
already a face crop, classified whole without detection; empty or ``no``: the largest detected
face is classified). Paths are relative to the manifest's folder. The whole manifest is checked
before any picture is read, and every problem is named in one :class:`DatasetError`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from emostyle.emotions import EMOTIONS, canonical
from emostyle.errors import DatasetError, InputError
from emostyle.images import iter_image_files

COLUMNS = ("file", "label", "source", "crop")
CROP_VALUES = {"": False, "no": False, "0": False, "false": False,
               "yes": True, "1": True, "true": True}
SHOWN_PROBLEMS = 50  # a manifest with the wrong base folder fails on every row


@dataclass(frozen=True)
class LabelledPhoto:
    """One picture to classify and its true label (index in FER2013 order)."""

    path: Path
    label: int
    name: str  # as the user wrote it: the manifest cell, or the path inside the photo folder
    source: str = ""
    crop: bool = False  # a face crop already: the whole picture is the face


def labelled_photos(root: Path) -> list[LabelledPhoto]:
    """The pictures of ``root/<emotion>/...``; folder names may be synonyms (anger...)."""
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (expected one sub-folder per emotion)")
    items = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            label = EMOTIONS.index(canonical(sub.name))
        except ValueError:
            raise DatasetError(f"{sub}: folder name is not an emotion; use one of "
                               f"{', '.join(EMOTIONS)} (or anger, happiness, sadness...)"
                               ) from None
        items.extend(LabelledPhoto(p, label, p.relative_to(root).as_posix())
                     for p in iter_image_files(sub))
    if not items:
        raise DatasetError(f"{root}: no pictures in emotion folders")
    return items


def read_manifest(manifest: Path) -> list[LabelledPhoto]:
    """The rows of a manifest CSV, after checking all of them (labels, files, crop, duplicates)."""
    if not manifest.is_file():
        raise InputError(f"{manifest}: " + ("is a directory, expected a manifest CSV"
                                            if manifest.is_dir() else "no such file"))
    problems: list[str] = []
    items: list[LabelledPhoto] = []
    first_line: dict[Path, int] = {}
    with manifest.open(newline="", encoding="utf-8-sig") as f:  # -sig: Excel's BOM
        reader = csv.DictReader(f)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in ("file", "label") if c not in columns]
        if missing:
            raise DatasetError(f"{manifest}: no {' or '.join(missing)} column in the header "
                               f"(columns: {', '.join(COLUMNS[:2])}, optional "
                               f"{', '.join(COLUMNS[2:])})")
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)} (use {', '.join(COLUMNS)})")
        has_source = "source" in columns
        reader.fieldnames = columns
        for row in reader:
            line = reader.line_num
            cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if None in row:
                problems.append(f"line {line}: more cells than columns")
            name, label_text = cells.get("file", ""), cells.get("label", "")
            source, crop_text = cells.get("source", ""), cells.get("crop", "").lower()
            label = None
            try:
                label = EMOTIONS.index(canonical(label_text))
            except ValueError:
                problems.append(f"line {line}: label {label_text!r} is not an emotion (use "
                                f"{', '.join(EMOTIONS)} or anger, happiness, sadness...)")
            crop = CROP_VALUES.get(crop_text)
            if crop is None:
                problems.append(f"line {line}: crop {crop_text!r} is not yes or no (yes: the "
                                "file is a face crop; boxes are not read)")
            if has_source and not source:
                problems.append(f"line {line}: empty source")
            path = manifest.parent / name
            if not name:
                problems.append(f"line {line}: empty file")
            elif not path.is_file():
                problems.append(f"line {line}: {name}: " + (
                    "is a directory" if path.is_dir() else "no such file"))
            elif path.resolve() in first_line:
                problems.append(f"line {line}: {name} is also on line "
                                f"{first_line[path.resolve()]}")
            else:
                first_line[path.resolve()] = line
            if label is not None and crop is not None:
                items.append(LabelledPhoto(path, label, name, source, crop))
    if not problems and not items:
        problems.append("no rows")
    if problems:
        shown = problems[:SHOWN_PROBLEMS]
        if len(problems) > SHOWN_PROBLEMS:
            shown.append(f"and {len(problems) - SHOWN_PROBLEMS} more")
        raise DatasetError(f"{manifest}: {len(problems)} problem(s), nothing evaluated:\n  "
                           + "\n  ".join(shown))
    return items
