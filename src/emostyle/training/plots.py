"""Figures for evaluation reports (matplotlib, Agg backend: works with no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from emostyle.emotions import EMOTIONS  # noqa: E402
from emostyle.outputs import commit, temp_beside  # noqa: E402


def save(fig: plt.Figure, path: Path) -> Path:
    """Draw ``fig`` into ``path`` through a temporary file and a rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format=path.suffix[1:].lower() or "png")
        commit(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def confusion_png(cm: np.ndarray, path: Path, title: str) -> Path:
    """Row-normalised confusion matrix (each row: where that true class went)."""
    cm = np.asarray(cm, dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(7), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(7), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(7):
        for j in range(7):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save(fig, path)


def reliability_png(before: dict, after: dict, temperature: float, path: Path) -> Path:
    """Reliability diagram of the top-class confidence before and after temperature scaling."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
    for ax, rel, name in ((axes[0], before, "uncalibrated"),
                          (axes[1], after, f"temperature {temperature:.2f}")):
        edges = np.asarray(rel["bin_edges"])
        centres = (edges[:-1] + edges[1:]) / 2
        count = np.asarray(rel["bin_count"])
        acc = np.asarray(rel["bin_accuracy"])
        conf = np.asarray(rel["bin_confidence"])
        mask = count > 0
        ax.bar(centres[mask], acc[mask], width=edges[1] - edges[0], edgecolor="k",
               alpha=0.7, label="accuracy")
        ax.plot(conf[mask], conf[mask], "r.", label="mean confidence")
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set_title(f"{name}: ECE {rel['ece']:.3f}")
        ax.set_xlabel("confidence")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left")
    return save(fig, path)


def misclassified_png(images: np.ndarray, labels: np.ndarray, probs: np.ndarray, path: Path,
                      per_class: int = 6) -> Path:
    """For each true class, its most confidently wrong faces with the predicted label."""
    pred = probs.argmax(1)
    fig, axes = plt.subplots(7, per_class, figsize=(per_class * 1.3, 7 * 1.45))
    for c in range(7):
        wrong = np.flatnonzero((labels == c) & (pred != c))
        wrong = wrong[np.argsort(-probs[wrong].max(1))][:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(wrong):
                i = wrong[j]
                ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
                ax.set_title(f"{EMOTIONS[pred[i]]} {probs[i].max():.0%}", fontsize=7)
        axes[c, 0].text(-0.15, 0.5, EMOTIONS[c], transform=axes[c, 0].transAxes, ha="right",
                        va="center", fontsize=9)
    fig.suptitle("most confident mistakes (row: true class; title: prediction)", fontsize=9)
    return save(fig, path)


def comparison_png(names: list[str], values: dict[str, list[float]], path: Path,
                   title: str) -> Path:
    """Grouped horizontal bars, one group per run (e.g. accuracy and macro-F1)."""
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    y = np.arange(len(names))
    h = 0.8 / len(values)
    for k, (metric, vals) in enumerate(values.items()):
        bars = ax.barh(y + k * h, vals, height=h, label=metric)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    ax.set_yticks(y + h * (len(values) - 1) / 2, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title(title)
    ax.legend(loc="lower right")
    return save(fig, path)


def explanations_png(mean_maps: np.ndarray, examples: list[list[tuple]], path: Path,
                     method: str) -> Path:
    """Row per class: the mean map over correctly read faces, then example faces with maps.

    ``examples[c]`` holds (face uint8 (S, S), map (S, S), predicted label) tuples.
    """
    cols = 1 + max((len(e) for e in examples), default=0)
    fig, axes = plt.subplots(7, cols, figsize=(cols * 1.35, 7 * 1.45))
    for c in range(7):
        ax = axes[c, 0]
        ax.imshow(mean_maps[c], cmap="jet", vmin=0, vmax=1)
        ax.set_title("mean map", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(EMOTIONS[c], fontsize=9)
        for j in range(1, cols):
            ax = axes[c, j]
            ax.axis("off")
            if j - 1 < len(examples[c]):
                face, heat, pred = examples[c][j - 1]
                ax.imshow(face, cmap="gray", vmin=0, vmax=255)
                ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)
                mark = "ok" if pred == c else "wrong"
                ax.set_title(f"{EMOTIONS[pred]} ({mark})", fontsize=7,
                             color="black" if pred == c else "red")
    fig.suptitle(f"{method}: where the model looks (row: true class)", fontsize=9)
    return save(fig, path)
