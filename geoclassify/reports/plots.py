"""PNG plots for reports: ROC and precision-recall curves, confusion matrices, training curves,
latency bars and a side-by-side map preview. matplotlib with the non-interactive Agg backend."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Mapping, Sequence

import numpy as np

from geoclassify.io.atomic import atomic_target
from geoclassify.optional import require


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the Agg backend.

    Returns:
        The imported `matplotlib.pyplot` module.

    Raises:
        GeoclassifyError: matplotlib is not installed (the message names the report extra).
    """
    matplotlib = require("matplotlib", "report", "reports")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic_target(path, path.suffix) as tmp:
        fig.savefig(tmp, dpi=110)
    pyplot().close(fig)
    return path


def _one_vs_rest(y: np.ndarray, probs: np.ndarray, names: Sequence[str]):
    """(name, is-positive, score) per curve: binary models get one curve, class 1 positive."""
    classes = [1] if probs.shape[1] == 2 else range(probs.shape[1])
    for c in classes:
        if 0 < (y == c).sum() < len(y):
            yield names[c], y == c, probs[:, c]


def _curves_plot(y, probs, names, path: Path, curve, title: str, labels: tuple[str, str], loc: str,
                 diagonal: bool = False) -> Path:
    """One curve per one-vs-rest class; `curve(positive, score)` gives (x, y, legend note)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, positive, score in _one_vs_rest(y, probs, names):
        xs, ys, note = curve(positive, score)
        ax.plot(xs, ys, label=f"{name} ({note})")
    if diagonal:
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
    ax.set(xlabel=labels[0], ylabel=labels[1], title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc=loc, fontsize=8)
    return _save(fig, path)


def roc_plot(y: np.ndarray, probs: np.ndarray, names: Sequence[str], path: Path) -> Path:
    """ROC curves, one per class against the rest (binary models: one, class 1 positive), with their AUC.

    Args:
        y: (n,) true class indexes.
        probs: (n, classes) predicted probabilities.
        names: the class names, in class index order.
        path: the PNG file to write.

    Returns:
        `path`.

    Raises:
        GeoclassifyError: matplotlib is not installed.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    def curve(positive, score):
        fpr, tpr, _ = roc_curve(positive, score)
        return fpr, tpr, f"AUC {roc_auc_score(positive, score):.4f}"

    return _curves_plot(y, probs, names, path, curve, "ROC curve", ("false positive rate", "true positive rate"),
                        "lower right", diagonal=True)


def pr_plot(y: np.ndarray, probs: np.ndarray, names: Sequence[str], path: Path) -> Path:
    """Precision-recall curves, one per class against the rest (binary models: one, class 1 positive), with their
    average precision. Arguments ((n,) true classes, (n, classes) probabilities), result and errors as `roc_plot`'s.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    def curve(positive, score):
        precision, recall, _ = precision_recall_curve(positive, score)
        return recall, precision, f"AP {average_precision_score(positive, score):.4f}"

    return _curves_plot(y, probs, names, path, curve, "Precision-recall curve", ("recall", "precision"), "lower left")


def confusion_plot(cm: np.ndarray, names: Sequence[str], path: Path, normalise: bool) -> Path:
    """Rows: truth, columns: prediction; `normalise` divides each row by its total (recall per class)."""
    plt = pyplot()
    values = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalise else cm
    size = 2.5 + 0.5 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    fig.colorbar(image, ax=ax, fraction=0.046)
    for (i, j), v in np.ndenumerate(values):
        text = f"{v:.3f}" if normalise else f"{int(v)}"
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if v > (values.max() or 1) * 0.6 else "black")
    ticks = range(len(names))
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix" + (" (row-normalised)" if normalise else ""))
    return _save(fig, path)


def training_curves_plot(history: Sequence[Mapping[str, float | None]], path: Path) -> Path:
    """Losses (left) and validation metrics (right) per epoch, from a run's metrics.csv."""
    plt = pyplot()
    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("train_loss", "val_loss"):
        left.plot(epochs, [row.get(key) for row in history], marker="o", label=key)
    for key in ("val_accuracy", "val_f1", "val_roc_auc", "val_miou"):
        if any(row.get(key) is not None for row in history):
            right.plot(epochs, [row.get(key) for row in history], marker="o", label=key)
    left.set(xlabel="epoch", ylabel="loss", title="Loss per epoch")
    right.set(xlabel="epoch", ylabel="value", title="Validation metrics per epoch")
    for ax in (left, right):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, path)


def latency_plot(labels: Sequence[str], latency_ms: Sequence[float], path: Path) -> Path:
    """Horizontal bars: median latency per image at batch 1."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * len(labels)))
    bars = ax.barh(list(labels), list(latency_ms), color="tab:blue")
    ax.bar_label(bars, fmt="%.2f ms", fontsize=8, padding=3)
    ax.invert_yaxis()
    ax.set(xlabel="latency per image at batch 1 (ms, median)", title="Latency")
    ax.set_xlim(0, max(latency_ms) * 1.25 if latency_ms else 1)
    return _save(fig, path)


def preview_plot(panels: Sequence[tuple[str, np.ndarray]], path: Path) -> Path:
    """Images (h, w, 3) uint8 side by side with their titles."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.8))
    for ax, (title, image) in zip(np.atleast_1d(axes), panels):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    return _save(fig, path)
