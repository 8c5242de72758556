"""Classification metrics computed from labels and predictions (numpy only, no sklearn needed)."""

from __future__ import annotations

import numpy as np

from emostyle.emotions import EMOTIONS


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int = len(EMOTIONS)) -> np.ndarray:
    """Counts: rows are true classes, columns predicted classes."""
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 per class; a class never predicted (or never present) gets 0."""
    tp = np.diag(cm).astype(float)
    predicted, actual = cm.sum(0), cm.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy, macro-F1 and the per-class table, as plain JSON-able values."""
    cm = confusion_matrix(y_true, y_pred)
    pc = per_class(cm)
    present = pc["support"] > 0
    return {
        "accuracy": float(np.trace(cm) / max(1, cm.sum())),
        "macro_f1": float(pc["f1"][present].mean()) if present.any() else 0.0,
        "per_class": {name: {"precision": float(pc["precision"][i]),
                             "recall": float(pc["recall"][i]), "f1": float(pc["f1"][i]),
                             "support": int(pc["support"][i])}
                      for i, name in enumerate(EMOTIONS)},
        "confusion": cm.tolist(),
    }


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    z = logits / temperature
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising NLL (golden-section search on log T in [0.05, 20]).

    NLL is convex in 1/T for a fixed set of logits, so a 1-D search finds the optimum.
    """
    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(logits, labels, np.exp(a)), nll(logits, labels, np.exp(b))
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(logits, labels, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(logits, labels, np.exp(b))
    return float(np.exp((lo + hi) / 2))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Expected calibration error and the per-bin confidence/accuracy of the top class."""
    conf = probs.max(1)
    correct = (probs.argmax(1) == labels).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=conf, minlength=bins)
    acc_sum = np.bincount(which, weights=correct, minlength=bins)
    nz = count > 0
    mean_conf = np.divide(conf_sum, count, out=np.zeros(bins), where=nz)
    mean_acc = np.divide(acc_sum, count, out=np.zeros(bins), where=nz)
    ece = float((np.abs(mean_conf - mean_acc) * count).sum() / max(1, len(labels)))
    return {"ece": ece, "bin_edges": edges.tolist(), "bin_count": count.tolist(),
            "bin_confidence": mean_conf.tolist(), "bin_accuracy": mean_acc.tolist()}
