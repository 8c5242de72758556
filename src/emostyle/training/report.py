"""`emostyle evaluate` and `emostyle compare`: metrics files and figures for runs and models."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from emostyle.errors import EmostyleError, InputError
from emostyle.outputs import OutputPlan, write_text
from emostyle.training.datasets import load_dataset
from emostyle.training.evaluate import evaluate_logits, load_votes
from emostyle.training.metrics import softmax
from emostyle.training.plots import (
    comparison_png,
    confusion_png,
    misclassified_png,
    reliability_png,
)

SPLIT_CODES = {"public": 1, "private": 2}


def source_logits(source: str | Path, splits, tta: bool) -> tuple[np.ndarray, np.ndarray, str]:  # noqa: ANN001
    """(PublicTest logits, test logits, description) for a run directory or an ONNX model."""
    path = Path(source)
    if path.is_dir():
        from emostyle.training.evaluate import split_logits
        from emostyle.training.export import load_run

        model, cfg = load_run(path)
        cfg = replace(cfg, amp=False)  # evaluate in float32, as the exported model runs
        public, private = split_logits(model, cfg, splits, tta)
        return public, private, f"run {path.name} ({cfg.arch})"
    from emostyle.classifier import EmotionClassifier
    from emostyle.training.onnx_eval import onnx_logits

    clf = EmotionClassifier(source)
    clf.use_tta(tta)
    return (onnx_logits(clf, splits.public.images), onnx_logits(clf, splits.private.images),
            f"model {clf.name}")


# what evaluate_source writes into its folder
EVAL_FILES = ("metrics.json", "confusion.png", "reliability.png", "misclassified.png",
              "explanations.png")


def default_eval_dir(source: str | Path, split: str) -> Path:
    """Where an evaluation goes unless told: ``RUN_DIR/eval_SPLIT`` or ``./eval_MODEL_SPLIT``."""
    p = Path(source)
    return p / f"eval_{split}" if p.is_dir() else Path(f"eval_{p.stem}_{split}")


def checked_eval_dir(source: str | Path, split: str, out_dir: Path | None = None,
                     overwrite: bool = False) -> Path:
    """The folder :func:`evaluate_source` is to write (``out_dir`` or
    :func:`default_eval_dir`), checked before any work: nothing in it is replaced unasked."""
    target = out_dir or default_eval_dir(source, split)
    plan = OutputPlan(set(), overwrite)
    plan.folder_of(target, EVAL_FILES, "--out")
    plan.check()
    return target


def evaluate_source(source: str | Path, data: str | Path, split: str, tta: bool,
                    out_dir: Path) -> dict:
    """Evaluate, then write metrics.json, confusion.png, reliability.png, misclassified.png."""
    if split not in SPLIT_CODES:
        raise EmostyleError(f"--split must be public or private, got {split!r}")
    splits = load_dataset(data)
    public_logits, private_logits = source_logits(source, splits, tta)[:2]
    test = splits.get(split)
    test_logits = private_logits if split == "private" else public_logits
    votes = (load_votes(data, SPLIT_CODES[split])
             if Path(data).suffix == ".npz" and Path(data).is_file() else None)
    report = evaluate_logits(public_logits, splits.public, test_logits, test, votes)
    report.update({"source": str(source), "data": str(data), "split": split, "tta_flip": tta,
                   "public_accuracy": float((public_logits.argmax(1) ==
                                             splits.public.labels).mean())})
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "metrics.json", json.dumps(report, indent=2) + "\n")
    name = Path(source).name
    confusion_png(np.array(report["confusion"]), out_dir / "confusion.png",
                  f"{name} - {split} accuracy {report['accuracy']:.3f}")
    cal = report["calibration"]
    reliability_png(cal["reliability_before"], cal["reliability_after"], cal["temperature"],
                    out_dir / "reliability.png")
    probs = softmax(test_logits / cal["temperature"])
    misclassified_png(test.images, test.labels, probs, out_dir / "misclassified.png")
    if Path(source).is_dir() and not _uses_landmarks(Path(source)):
        report["explanations"] = explain_run(Path(source), test, out_dir / "explanations.png")
    return report


def headline(report: dict) -> dict:
    """An evaluation's figures without the reliability curves: what ``--json`` prints."""
    cal = report["calibration"]
    return ({k: v for k, v in report.items() if k != "calibration"}
            | {"ece_before": cal["ece_before"], "ece_after": cal["ece_after"]})


def report_lines(report: dict) -> list[str]:
    """The printed evaluation: accuracy, macro-F1, calibration, FER+, one line per class."""
    cal = report["calibration"]
    lines = [f"{report['split']} accuracy {report['accuracy']:.4f}  macro-F1 "
             f"{report['macro_f1']:.4f}  ECE {cal['ece_before']:.4f} -> "
             f"{cal['ece_after']:.4f} (T={cal['temperature']:.3f})"]
    if "ferplus_majority_accuracy" in report:
        lines.append(f"FER+ majority-vote accuracy {report['ferplus_majority_accuracy']:.4f} "
                     f"on {report['ferplus_rows']} faces")
    for name, row in report["per_class"].items():
        lines.append(f"  {name:9s} precision {row['precision']:.3f}  recall "
                     f"{row['recall']:.3f}  F1 {row['f1']:.3f}  n={row['support']}")
    return lines


def _uses_landmarks(run_dir: Path) -> bool:
    """A landmark-feature run: no pixels go in, so there is no map over the face to draw."""
    config = run_dir / "config.json"
    return config.is_file() and bool(json.loads(config.read_text()).get("landmarks"))


def explain_run(run_dir: Path, test, path: Path, per_class: int = 60,  # noqa: ANN001
                examples: int = 4) -> str:
    """Mean Grad-CAM / rollout map per class over correctly read faces, plus examples."""
    import torch

    from emostyle.training.export import load_run
    from emostyle.training.fit import normalise, to_input
    from emostyle.training.gradcam import ROLLOUT_ARCHS, explain_batch
    from emostyle.training.plots import explanations_png

    model, cfg = load_run(run_dir)
    rng = np.random.default_rng(0)
    picks = np.concatenate([rng.permutation(np.flatnonzero(test.labels == c))[:per_class]
                            for c in range(7)])
    x = normalise(to_input(test.images[picks], cfg), cfg)
    maps, logits = [], []
    for i in range(0, len(x), 64):
        m, lg = explain_batch(model, cfg.arch, x[i:i + 64], test.images.shape[-1])
        maps.append(m)
        logits.append(lg)
    maps_all, pred = np.concatenate(maps), np.concatenate(logits).argmax(1)
    labels = test.labels[picks]
    mean_maps = np.stack([maps_all[(labels == c) & (pred == c)].mean(0)
                          if ((labels == c) & (pred == c)).any()
                          else np.zeros(maps_all.shape[1:]) for c in range(7)])
    rows = []
    for c in range(7):
        right = np.flatnonzero((labels == c) & (pred == c))[:examples // 2]
        wrong = np.flatnonzero((labels == c) & (pred != c))[:examples - len(right)]
        rows.append([(test.images[picks[i]], maps_all[i], int(pred[i]))
                     for i in np.concatenate([right, wrong])])
    method = "attention rollout" if cfg.arch in ROLLOUT_ARCHS else "Grad-CAM"
    explanations_png(mean_maps, rows, path, method)
    del torch
    return method


def run_summary(path: Path) -> dict:
    """One row of a comparison: a run dir (with eval_private/metrics.json) or a metrics.json."""
    metrics_file = path if path.suffix == ".json" else path / "eval_private" / "metrics.json"
    if not metrics_file.is_file():
        raise EmostyleError(f"{path}: no evaluation found ({metrics_file}); run "
                            f"`emostyle evaluate {path} --data ...` first")
    try:
        m = json.loads(metrics_file.read_text())
        row = {"name": path.name if path.is_dir() else path.parent.name,
               "private_accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
               "public_accuracy": m.get("public_accuracy"),
               "ece_after": m["calibration"]["ece_after"],
               "recall": {k: v["recall"] for k, v in m["per_class"].items()}}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # a photo evaluation's metrics.json, say: one line, not a traceback
        what = f"no {exc}" if isinstance(exc, KeyError) else "not the JSON it writes"
        raise InputError(f"{metrics_file}: not a FER2013 evaluation ({what}); compare reads "
                         "what `emostyle evaluate RUN --data ...` writes") from None
    config = path / "config.json"
    history = path / "history.json"
    if config.is_file():
        cfg = json.loads(config.read_text())
        row.update(arch=cfg["arch"], balance=cfg["balance"], labels=cfg["labels"])
    if history.is_file():
        hist = json.loads(history.read_text())
        best = max(hist, key=lambda r: r["public_acc"])
        row.update(epochs=len(hist), best_epoch=best["epoch"],
                   train_minutes=sum(r["seconds"] for r in hist) / 60,
                   samples_seen=sum(r.get("samples", 0) for r in hist))
    return row


COMPARISON_FILES = ("comparison.json", "comparison.md", "comparison.png")


def compare(paths: list[Path], out_dir: Path, title: str = "PrivateTest",
            overwrite: bool = False) -> list[dict]:
    """The table (markdown, JSON) and bar plot of ``paths`` in ``out_dir``; its files are
    checked before any is read and replace nothing unless ``overwrite``."""
    plan = OutputPlan(set(paths), overwrite)
    plan.folder_of(out_dir, COMPARISON_FILES, "--out")
    plan.check()
    rows = [run_summary(p) for p in paths]
    rows.sort(key=lambda r: -r["private_accuracy"])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "comparison.json", json.dumps(rows, indent=2) + "\n")
    header = ("| run | arch | balance | PrivateTest acc | macro-F1 | PublicTest acc | "
              "ECE (T) | disgust R | fear R | images seen | wall min |")
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r.get('arch', '-')} | {r.get('balance', '-')} | "
            f"{r['private_accuracy']:.4f} | {r['macro_f1']:.4f} | "
            f"{(r['public_accuracy'] or 0):.4f} | {r['ece_after']:.3f} | "
            f"{r['recall']['disgust']:.3f} | {r['recall']['fear']:.3f} | "
            f"{r.get('samples_seen', 0):,} | {r.get('train_minutes', 0):.0f} |")
    write_text(out_dir / "comparison.md", "\n".join(lines) + "\n")
    comparison_png([r["name"] for r in rows],
                   {"accuracy": [r["private_accuracy"] for r in rows],
                    "macro-F1": [r["macro_f1"] for r in rows]},
                   out_dir / "comparison.png", title)
    return rows
