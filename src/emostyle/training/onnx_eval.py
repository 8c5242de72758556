"""Evaluate an exported ONNX classifier (what users actually run) on a FER2013-style dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emostyle.classifier import EmotionClassifier
from emostyle.training.datasets import FaceSet, load_dataset
from emostyle.training.evaluate import evaluate_logits, load_votes


def onnx_logits(clf: EmotionClassifier, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Logits of uint8 gray faces (N, H, W) with the model's own preprocessing, T not applied."""
    size, chans = clf.pre.size, clf.pre.channels
    out = []
    for i in range(0, len(images), batch):
        x = images[i:i + batch]
        if x.shape[1:] != (size, size):
            x = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR)
                          for im in x])
        if chans == 3:
            x = np.repeat(x[..., None], 3, axis=3)
        out.append(clf.logits(x))
    return np.concatenate(out)


def evaluate_onnx(model: str | Path, data: str | Path, tta: bool, split: str = "private"
                  ) -> dict:
    """Metrics on ``split`` with the temperature fitted on PublicTest."""
    clf = EmotionClassifier(model)
    clf.use_tta(tta)
    splits = load_dataset(data, "fer2013")
    test: FaceSet = splits.get(split)
    public_logits = onnx_logits(clf, splits.public.images)
    test_logits = onnx_logits(clf, test.images)
    votes = None
    if Path(data).suffix == ".npz":
        votes = load_votes(data, {"public": 1, "private": 2}.get(split, 2))
    report = evaluate_logits(public_logits, splits.public, test_logits, test, votes)
    report["public_accuracy"] = float((public_logits.argmax(1) == splits.public.labels).mean())
    return report
