"""Building the JSON card that travels beside every exported classifier."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path

import numpy as np

from emostyle.emotions import EMOTIONS
from emostyle.training.fit import TrainConfig

# Measured with benchmarks/fer_crop_margin.py: YuNet run on FER2013 training faces finds a box
# whose longer side is 0.98x the FER2013 crop side, centred within 1%. A crop of
# max(w, h) * 1.02 around a YuNet box therefore frames a face the way FER2013 does.
FER2013_CROP_MARGIN = 0.02


def classifier_card(name: str, cfg: TrainConfig, onnx_path: Path, parity: dict,
                    summary: str = "", best: dict | None = None, report: dict | None = None,
                    report_tta: dict | None = None, tta_flip: bool = False,
                    command: str = "", crop_margin: float = FER2013_CROP_MARGIN) -> dict:
    card: dict = {
        "name": name,
        "summary": summary,
        "task": "7-class facial expression recognition (FER2013 label order)",
        "architecture": cfg.arch,
        "architecture_kwargs": cfg.arch_kwargs,
        "labels": list(EMOTIONS),
        "input": {"size": cfg.img_size, "channels": cfg.in_chans, "color": "gray"
                  if cfg.in_chans == 1 else "rgb", "scale": "pixels / 255",
                  "mean": [cfg.mean] * cfg.in_chans, "std": [cfg.std] * cfg.in_chans,
                  "crop_margin": crop_margin, "align": True, "layout": "NCHW"},
        "outputs": {"logits": "(N, 7) pre-softmax scores",
                    "features": "(N, C, h, w) last feature map",
                    "cam": "(N, 7, h, w) class activation maps; their spatial mean is the "
                           "logits (present for global-average-pool + linear heads)"},
        "temperature": 1.0,
        "tta_flip": tta_flip,
        "file": {"name": onnx_path.name, "bytes": onnx_path.stat().st_size},
        "parity_with_pytorch": parity,
        "training": {"data": "FER2013 Training split (28,709 faces); model selection on "
                             "PublicTest (3,589); PrivateTest (3,589) read once",
                     "labels": cfg.labels, "config": asdict(cfg), "best_epoch": best,
                     "command": command},
        "date": dt.date.today().isoformat(),
    }
    chosen = report_tta if tta_flip and report_tta else report
    if chosen is not None:
        card["temperature"] = chosen["calibration"]["temperature"]
        card["metrics"] = summarise(chosen)
        if report is not None and report_tta is not None:
            card["metrics"]["private_accuracy_no_tta"] = report["accuracy"]
            card["metrics"]["private_accuracy_tta_flip"] = report_tta["accuracy"]
    return card


def summarise(report: dict) -> dict:
    cal = report["calibration"]
    out = {"private_accuracy": report["accuracy"], "private_macro_f1": report["macro_f1"],
           "public_accuracy": report.get("public_accuracy"),
           "per_class_recall": {k: v["recall"] for k, v in report["per_class"].items()},
           "per_class_precision": {k: v["precision"] for k, v in report["per_class"].items()},
           "ece_before": cal["ece_before"], "ece_after": cal["ece_after"],
           "temperature": cal["temperature"]}
    if "ferplus_majority_accuracy" in report:
        out["ferplus_majority_accuracy"] = report["ferplus_majority_accuracy"]
        out["ferplus_rows"] = report["ferplus_rows"]
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in out.items()}
