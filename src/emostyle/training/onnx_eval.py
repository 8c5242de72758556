"""Evaluate an exported ONNX classifier (what users actually run) on a FER2013-style dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emostyle.classifier import EmotionClassifier
from emostyle.training.datasets import FaceSet, load_dataset
from emostyle.training.evaluate import evaluate_logits, load_votes


def dataset_crops(clf: EmotionClassifier, images: np.ndarray) -> np.ndarray:
    """Dataset faces (uint8 gray (N, H, W)) as ``clf`` takes crops: its size, its channels."""
    size = clf.pre.size
    if images.shape[1:] != (size, size):
        images = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR)
                           for im in images])
    return np.repeat(images[..., None], 3, axis=3) if clf.pre.channels == 3 else images


def onnx_logits(clf: EmotionClassifier, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Logits of uint8 gray faces (N, H, W) with the model's own preprocessing, T not applied."""
    out = [clf.logits(dataset_crops(clf, images[i:i + batch]))
           for i in range(0, len(images), batch)]
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
