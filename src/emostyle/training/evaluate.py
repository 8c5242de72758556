"""Evaluation of a trained classifier under the FER2013 protocol.

Temperature is fitted on PublicTest (the selection split) and applied to PrivateTest, which is
read once per final model. FER+ majority-vote accuracy is reported on the PrivateTest rows whose
FER+ majority is one of our seven classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emostyle.training.datasets import FaceSet, Splits, ferplus_majority
from emostyle.training.metrics import (
    classification_metrics,
    fit_temperature,
    nll,
    reliability,
    softmax,
)


def calibration_report(public_logits: np.ndarray, public_labels: np.ndarray,
                       test_logits: np.ndarray, test_labels: np.ndarray) -> dict:
    """Temperature fitted on PublicTest; ECE and NLL on the test split before and after."""
    t = fit_temperature(public_logits, public_labels)
    before = reliability(softmax(test_logits), test_labels)
    after = reliability(softmax(test_logits / t), test_labels)
    return {"temperature": t, "ece_before": before["ece"], "ece_after": after["ece"],
            "nll_before": nll(test_logits, test_labels),
            "nll_after": nll(test_logits, test_labels, t),
            "reliability_before": before, "reliability_after": after}


def evaluate_logits(public_logits: np.ndarray, public: FaceSet, test_logits: np.ndarray,
                    test: FaceSet, test_votes: np.ndarray | None = None) -> dict:
    """Everything we report for one model on one test split, from its logits."""
    report = classification_metrics(test.labels, test_logits.argmax(1))
    report["calibration"] = calibration_report(public_logits, public.labels, test_logits,
                                               test.labels)
    if test_votes is not None:
        fp_labels, keep = ferplus_majority(test_votes)
        report["ferplus_majority_accuracy"] = float(
            (test_logits[keep].argmax(1) == fp_labels[keep]).mean())
        report["ferplus_rows"] = int(keep.sum())
    return report


def load_votes(npz_path: str | Path, usage_code: int) -> np.ndarray | None:
    data = np.load(npz_path)
    if "ferplus_votes" not in data.files:
        return None
    return data["ferplus_votes"][data["usage"] == usage_code]


def split_logits(model, cfg, splits: Splits, tta: bool) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """PublicTest and PrivateTest logits of a torch model."""
    import torch

    from emostyle.training.fit import pick_device, predict_logits, with_landmarks

    device = pick_device(cfg.device)
    splits = with_landmarks(splits, cfg)
    model = model.to(device).to(memory_format=torch.channels_last)
    return (predict_logits(model, splits.public.images, cfg, device, tta=tta),
            predict_logits(model, splits.private.images, cfg, device, tta=tta))
