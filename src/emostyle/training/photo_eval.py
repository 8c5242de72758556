"""Cross-dataset evaluation on whole photos: a folder per emotion or a manifest, any size.

Each picture goes through the product's own path - detect, take the largest face, classify - so
the figure says how a model does on real photos, not on pre-cropped FER2013 faces. Pictures in
which no face is found are counted and listed separately, never silently dropped. With sources
(a manifest's ``source`` column) the report adds one table per source.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emostyle.crops import whole_image_face
from emostyle.emotions import EMOTIONS
from emostyle.errors import InputError
from emostyle.images import read_image
from emostyle.outputs import OutputPlan, commit, temp_beside
from emostyle.pipeline import Analyzer
from emostyle.training.configs import DEFAULT_DATA, DEFAULT_SPLIT
from emostyle.training.labelled_photos import LabelledPhoto, labelled_photos, read_manifest
from emostyle.training.metrics import classification_metrics

NO_FACE_RULES = ("wrong", "skip")  # how a per-source table counts a picture without a face


@dataclass(frozen=True)
class PhotoResult:
    """What the model said about one labelled picture (its largest face)."""

    photo: LabelledPhoto
    probabilities: tuple[float, ...] | None  # None: no face found, or the file is unreadable
    faces_found: int | None  # None: unreadable
    error: str = ""

    @property
    def predicted(self) -> int | None:
        return None if self.probabilities is None else int(np.argmax(self.probabilities))

    @property
    def correct(self) -> bool:  # a picture without a face is wrong: the end-to-end view
        return self.predicted == self.photo.label


def classify_photos(model: str | Path, photos: list[LabelledPhoto], detect: bool = True,
                    face_model: str | Path | None = None) -> list[PhotoResult]:
    """Classify the largest face of each picture (the whole picture for face crops)."""
    detect_any = detect and any(not p.crop for p in photos)  # no detector loaded if unused
    analyzer = Analyzer(model, face_model, detect=detect_any)
    clf = analyzer.classifier
    results = []
    for photo in photos:
        try:
            image = read_image(photo.path)
        except InputError as exc:
            results.append(PhotoResult(photo, None, None, str(exc)))
            continue
        if photo.crop or not detect_any:
            face = whole_image_face(image, clf.pre.crop_margin)
            probs = clf.predict_proba(clf.crops(image, [face]))[0]
            results.append(PhotoResult(photo, tuple(float(p) for p in probs), 1))
            continue
        faces = analyzer.analyze(image, source=str(photo.path)).faces
        probs = max(faces, key=lambda f: f.box[2] * f.box[3]).probabilities if faces else None
        results.append(PhotoResult(photo, probs, len(faces)))
    return results


def figures(results: list[PhotoResult]) -> dict:
    """Counts, on-detected metrics and end-to-end metrics (a missed face counted as wrong)."""
    done = [r for r in results if r.probabilities is not None]
    y_true = [r.photo.label for r in done]
    y_pred = [r.predicted for r in done]
    report = classification_metrics(np.array(y_true, int), np.array(y_pred, int)) if done \
        else {"accuracy": 0.0, "macro_f1": 0.0, "per_class": {}, "confusion": []}
    missed = [{"label": EMOTIONS[r.photo.label]} for r in results if r.probabilities is None]
    report.update({
        "pictures": len(results), "classified": len(done),
        "no_face_count": sum(1 for r in results if r.faces_found == 0),
        "unreadable_count": sum(1 for r in results if r.faces_found is None),
        # Counting a picture without a face as wrong gives the end-to-end figure a user sees.
        "end_to_end_accuracy": sum(r.correct for r in results) / max(1, len(results)),
    })
    report.update(end_to_end(report, y_true, y_pred, missed))
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


def source_table(results: list[PhotoResult], no_face: str = "wrong") -> dict:
    """One source's table: both accuracies, and macro-F1 and recall under the no-face rule."""
    f = figures(results)
    if no_face == "wrong":
        macro_f1, rows = f["end_to_end_macro_f1"], f["end_to_end_per_class"]
    else:  # skip: pictures without a face are left out, the on-detected view
        macro_f1, rows = f["macro_f1"], f["per_class"]
    return {
        "pictures": f["pictures"], "classified": f["classified"],
        "no_face_count": f["no_face_count"], "unreadable_count": f["unreadable_count"],
        "end_to_end_accuracy": f["end_to_end_accuracy"], "accuracy": f["accuracy"],
        "macro_f1": macro_f1,
        "recall": {e: (rows.get(e) or {}).get("recall") if (rows.get(e) or {}).get("support")
                   else None for e in EMOTIONS},
        "support": {e: (rows.get(e) or {}).get("support", 0) for e in EMOTIONS},
    }


def photo_report(results: list[PhotoResult], model: str | Path, detect: bool = True,
                 no_face: str = "wrong", **inputs: str) -> dict:
    """The whole report: overall figures, the pictures without a face, tables per source.

    ``inputs`` name what was read (``photos=DIR`` or ``manifest=CSV``); ``by_source`` is there
    when any picture has a source.
    """
    if no_face not in NO_FACE_RULES:
        raise ValueError(f"no_face must be {' or '.join(NO_FACE_RULES)}, got {no_face!r}")
    report = figures(results)

    def listed(r: PhotoResult) -> dict:
        item = {"path": str(r.photo.path), "label": EMOTIONS[r.photo.label]}
        return item | ({"source": r.photo.source} if r.photo.source else {})

    report.update({"source": str(model), **inputs, "detect": detect,
                   "no_face": [listed(r) for r in results if r.faces_found == 0],
                   "unreadable": [listed(r) | {"error": r.error}
                                  for r in results if r.faces_found is None]})
    sources = sorted({r.photo.source for r in results if r.photo.source})
    if sources:
        report["no_face_rule"] = no_face
        report["by_source"] = {s: source_table([r for r in results if r.photo.source == s],
                                               no_face) for s in sources}
    return report


def evaluate_photos(model: str | Path, root: Path, detect: bool = True,
                    face_model: str | Path | None = None) -> dict:
    """Accuracy, macro-F1, per-class table and confusion on the largest face of each picture."""
    results = classify_photos(model, labelled_photos(root), detect, face_model)
    return photo_report(results, model, detect, photos=str(root))


def evaluate_into(model: str | Path, pictures: list[LabelledPhoto], out_dir: Path,
                  detect: bool = True, no_face: str = "wrong", predictions: Path | None = None,
                  overwrite: bool = False, **inputs: str) -> tuple[dict, str | None]:
    """Classify ``pictures``, write the report into ``out_dir`` (and one CSV row per picture
    to ``predictions``): (the report, why figures were skipped or None).

    ``inputs`` name what was read, as in :func:`photo_report`.
    """
    results = classify_photos(model, pictures, detect=detect)
    report = photo_report(results, model, detect, no_face, **inputs)
    note = write_photo_report(report, out_dir)
    if predictions is not None:
        write_predictions(results, predictions, overwrite)
    return report, note


def photos_to_evaluate(photos: Path | None, manifest: Path | None, no_face: str = "wrong"
                       ) -> tuple[list[LabelledPhoto], dict[str, str]]:
    """The labelled pictures of ``--photos`` or ``--manifest``, and what was read (for the
    report); option errors are raised before any picture is opened."""
    if (photos is None) == (manifest is None):
        raise InputError("--photos, --manifest: give one of them")
    if no_face not in NO_FACE_RULES:
        raise InputError(f"--no-face: use {' or '.join(NO_FACE_RULES)}, got {no_face!r}")
    items = read_manifest(manifest) if manifest is not None else labelled_photos(photos)
    if no_face != "wrong" and not any(p.source for p in items):
        raise InputError("--no-face: only used with a manifest that has a source column")
    return items, ({"manifest": str(manifest)} if manifest is not None else
                   {"photos": str(photos)})


def default_photo_eval_dir(model: str | Path) -> Path:
    """Where a photo evaluation goes unless told: ``./eval_MODEL_photos``."""
    return Path(f"eval_{Path(model).stem}_photos")


def check_evaluate_options(photos: Path | None, manifest: Path | None, tta: bool, split: str,
                           data: str | Path, no_detect: bool, no_face: str,
                           predictions: Path | None, typed: Collection[str] = ()) -> None:
    """Refuse ``emostyle evaluate`` options the evaluation asked for does not use: FER2013's
    with --photos or --manifest, the photos' without. An option counts when its value is not
    the default or when it is in ``typed`` (the flags given on the command line: ``--split
    private`` with --photos is refused too)."""
    if photos is not None or manifest is not None:
        given = "--manifest" if manifest is not None else "--photos"
        ignored = [o for o, used in (("--tta", tta), ("--split", split != DEFAULT_SPLIT),
                                     ("--data", Path(data) != DEFAULT_DATA))
                   if used or o in typed]
        if ignored:
            raise InputError(f"{', '.join(ignored)}: not used with {given} (they choose "
                             "FER2013 faces); leave them out")
        return
    unused = [o for o, used in (("--no-detect", no_detect), ("--no-face", no_face != "wrong"),
                                ("--predictions", predictions is not None)) if used or o in typed]
    if unused:
        raise InputError(f"{', '.join(unused)}: only used with --photos or --manifest")


def check_eval_outputs(out_dir: Path, names: tuple[str, ...], overwrite: bool = False,
                       inputs: set[Path] | None = None, predictions: Path | None = None
                       ) -> None:
    """Refuse, before any work, an evaluation that would write over an input or, without
    ``overwrite``, over an existing file: ``out_dir/names`` and the ``predictions`` CSV."""
    plan = OutputPlan(inputs or set(), overwrite)
    plan.folder_of(out_dir, names, "--out")
    plan.file(predictions, "--predictions")
    plan.check()


def evaluate_photo_set(model: str | Path, photos: Path | None, manifest: Path | None,
                       out_dir: Path | None = None, detect: bool = True, no_face: str = "wrong",
                       predictions: Path | None = None, overwrite: bool = False
                       ) -> tuple[dict, str | None, Path]:
    """``emostyle evaluate --photos/--manifest``: the pictures listed and the outputs checked
    before any is classified, then :func:`evaluate_into` into ``out_dir`` (default
    :func:`default_photo_eval_dir`): (the report, why figures were skipped or None, the folder).
    """
    items, read = photos_to_evaluate(photos, manifest, no_face)
    target = out_dir or default_photo_eval_dir(model)
    check_eval_outputs(target, PHOTO_REPORT_FILES, overwrite, {p.path for p in items} |
                       ({manifest} if manifest is not None else set()), predictions)
    report, note = evaluate_into(model, items, target, detect, no_face, predictions, overwrite,
                                 **read)
    return report, note, target


PREDICTION_COLUMNS = ("file", "source", "label", "predicted", "confidence", "faces_found",
                      "correct", *(f"p_{e}" for e in EMOTIONS), "error")


def write_predictions(results: list[PhotoResult], path: Path, overwrite: bool = False) -> Path:
    """One CSV row per picture; ``correct`` is 1 or 0 (no face: 0), so its mean is end to end."""
    tmp = temp_beside(path)
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(PREDICTION_COLUMNS)
        for r in results:
            probs = r.probabilities
            writer.writerow([
                r.photo.name, r.photo.source, EMOTIONS[r.photo.label],
                "" if probs is None else EMOTIONS[r.predicted],
                "" if probs is None else f"{max(probs):.4f}",
                "" if r.faces_found is None else r.faces_found, int(r.correct),
                *([""] * len(EMOTIONS) if probs is None else [f"{p:.4f}" for p in probs]),
                r.error])
    return commit(tmp, path, overwrite)


def report_lines(report: dict, shown: int = 20) -> list[str]:
    """The printed report: overall figures, per-class recall, tables per source, no-face list."""
    lines = [f"{report['pictures']} pictures: {report['classified']} classified, "
             f"{report['no_face_count']} without a face, {report['unreadable_count']} unreadable",
             f"end to end (no face = wrong): accuracy {report['end_to_end_accuracy']:.4f}"
             f"  macro-F1 {report['end_to_end_macro_f1']:.4f}  n={report['pictures']}",
             f"on detected faces: accuracy {report['accuracy']:.4f}  macro-F1 "
             f"{report['macro_f1']:.4f}  n={report['classified']}"]
    detected = report["per_class"]
    for name, row in report["end_to_end_per_class"].items():
        if row["support"] == 0:
            lines.append(f"  {name:9s} recall n/a (no pictures)")
            continue
        on = detected.get(name) or {}
        on_text = f"{on['recall']:.3f} n={on['support']}" if on.get("support") else "n/a"
        lines.append(f"  {name:9s} recall {row['recall']:.3f} n={row['support']}  "
                     f"(on detected {on_text})")
    rule = {"wrong": "no face = wrong", "skip": "no face skipped"}.get(report.get("no_face_rule"))
    for source, t in report.get("by_source", {}).items():
        recall = "  ".join(f"{e} {t['recall'][e]:.3f} (n={t['support'][e]})"
                           if t["recall"][e] is not None else f"{e} n/a" for e in EMOTIONS)
        lines += [f"source {source}: {t['pictures']} pictures, {t['no_face_count']} without a "
                  f"face, {t['unreadable_count']} unreadable",
                  f"  accuracy end to end {t['end_to_end_accuracy']:.4f}  on detected "
                  f"{t['accuracy']:.4f} (n={t['classified']})  macro-F1 {t['macro_f1']:.4f} "
                  f"({rule})",
                  f"  recall ({rule}): {recall}"]
    lines += [f"  no face: {item['path']}" for item in report["no_face"][:shown]]
    if report["no_face_count"] > shown:
        lines.append(f"  and {report['no_face_count'] - shown} more (all in metrics.json)")
    return lines


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
