"""Cross-dataset evaluation on whole photos: one folder per emotion, pictures of any size.

Each picture goes through the product's own path - detect, take the largest face, classify - so
the figure says how a model does on real photos, not on pre-cropped FER2013 faces. Pictures in
which no face is found are counted and listed separately, never silently dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from emostyle.emotions import EMOTIONS, canonical
from emostyle.errors import DatasetError, InputError
from emostyle.images import iter_image_files, read_image
from emostyle.pipeline import Analyzer
from emostyle.training.metrics import classification_metrics


def labelled_photos(root: Path) -> list[tuple[Path, int]]:
    """(picture, label) for ``root/<emotion>/...``; folder names may be synonyms (anger...)."""
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
        items.extend((p, label) for p in iter_image_files(sub))
    if not items:
        raise DatasetError(f"{root}: no pictures in emotion folders")
    return items


def evaluate_photos(model: str | Path, root: Path, detect: bool = True,
                    face_model: str | Path | None = None) -> dict:
    """Accuracy, macro-F1, per-class table and confusion on the largest face of each picture."""
    analyzer = Analyzer(model, face_model, detect=detect)
    y_true, y_pred, no_face, unreadable = [], [], [], []
    probs = []
    for path, label in labelled_photos(root):
        try:
            analysis = analyzer.analyze(read_image(path), source=str(path))
        except InputError as exc:
            unreadable.append({"path": str(path), "label": EMOTIONS[label], "error": str(exc)})
            continue
        if not analysis.faces:
            no_face.append({"path": str(path), "label": EMOTIONS[label]})
            continue
        face = max(analysis.faces, key=lambda f: f.box[2] * f.box[3])
        y_true.append(label)
        y_pred.append(EMOTIONS.index(face.emotion))
        probs.append(face.probabilities)
    total = len(y_true) + len(no_face) + len(unreadable)
    report = classification_metrics(np.array(y_true, int), np.array(y_pred, int)) if y_true \
        else {"accuracy": 0.0, "macro_f1": 0.0, "per_class": {}, "confusion": []}
    report.update({
        "source": str(model), "photos": str(root), "detect": detect, "pictures": total,
        "classified": len(y_true), "no_face": no_face, "no_face_count": len(no_face),
        "unreadable": unreadable,
        # Counting a picture without a face as wrong gives the end-to-end figure a user sees.
        "end_to_end_accuracy": float(np.sum(np.array(y_true) == np.array(y_pred)) / max(1, total)),
    })
    report.update(end_to_end(report, y_true, y_pred, no_face + unreadable))
    return report


def end_to_end(report: dict, y_true: list[int], y_pred: list[int], missed: list[dict]) -> dict:
    """Recall and macro-F1 with every picture in, a picture without a face counted as wrong.

    Precision is the on-detected one (a missed face predicts nothing); a class with no picture
    is left out of the macro average and shown as n/a, not as 0.
    """
    rows = {}
    labels = [labelled for labelled in (m.get("label") for m in missed) if labelled]
    f1s = []
    for i, name in enumerate(EMOTIONS):
        n = sum(1 for t in y_true if t == i) + labels.count(name)
        if n == 0:
            rows[name] = {"recall": None, "f1": None, "support": 0}
            continue
        hits = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p == i)
        recall = hits / n
        precision = (report.get("per_class", {}).get(name) or {}).get("precision", 0.0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows[name] = {"recall": recall, "f1": f1, "support": n}
        f1s.append(f1)
    return {"end_to_end_per_class": rows,
            "end_to_end_macro_f1": float(np.mean(f1s)) if f1s else 0.0}


PHOTO_REPORT_FILES = ("metrics.json", "confusion.png")  # what write_photo_report writes


def write_photo_report(report: dict, out_dir: Path) -> str | None:
    """metrics.json, and confusion.png when matplotlib is installed; else says why not."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".metrics.json.tmp"
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out_dir / "metrics.json")
    try:
        from emostyle.training.plots import confusion_png
    except ImportError:  # the inference install: figures need the train extra's matplotlib
        return "plots skipped: matplotlib is not installed (pip install 'emostyle[train]')"
    if report["confusion"]:
        confusion_png(np.array(report["confusion"]), out_dir / "confusion.png",
                      f"photos: accuracy {report['accuracy']:.3f} on {report['classified']} faces")
    return None
