"""Evaluation metrics (scikit-learn underneath): chip classification and pixel-wise scene metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from geoclassify.errors import ConfigError


def decide(probs: np.ndarray, threshold: float | None) -> np.ndarray:
    """Predicted classes: binary models call class 1 at P(class 1) >= threshold; others take the argmax."""
    if probs.shape[1] == 2:
        return (probs[:, 1] >= (0.5 if threshold is None else threshold)).astype(np.int64)
    if threshold is not None:
        raise ConfigError(f"--threshold {threshold} applies to two-class models; this one has {probs.shape[1]} classes")
    return probs.argmax(1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def per_class_table(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> dict[str, dict[str, Any]]:
    """Precision, recall, F1 and support of each class."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=list(range(len(names))),
                                                       average=None, zero_division=0)
    return {name: {"precision": _round(p[i]), "recall": _round(r[i]), "f1": _round(f[i]), "support": int(support[i])}
            for i, name in enumerate(names)}


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> tuple[float | None, dict[int, float | None]]:
    """ROC-AUC (binary: class 1 positive; else one-vs-rest macro) and one-vs-rest AUC per class (None: absent)."""
    from sklearn.metrics import roc_auc_score

    present = set(np.unique(y_true).tolist())
    binary = probs.shape[1] == 2  # both classes scored by P(class 1), so float rounding cannot split ties apart
    scores = [-probs[:, 1], probs[:, 1]] if binary else [probs[:, c] for c in range(probs.shape[1])]
    per_class = {c: (float(roc_auc_score(y_true == c, scores[c])) if c in present and len(present) > 1 else None)
                 for c in range(probs.shape[1])}
    if len(present) < 2:
        return None, per_class
    if binary:
        return per_class[1], per_class
    if len(present) < probs.shape[1]:
        return None, per_class
    return float(roc_auc_score(y_true, probs, multi_class="ovr", average="macro")), per_class


def chip_metrics(y_true: np.ndarray, probs: np.ndarray, names: list[str], threshold: float | None = None) -> dict:
    """Accuracy, per-class and macro precision/recall/F1 (macro: over the classes present in `y_true`), ROC-AUC,
    confusion matrix and the threshold used."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    y_pred = decide(probs, threshold)
    labels = list(range(len(names)))
    present = np.unique(y_true).tolist()  # macro over the classes the data holds (all, unless it holds some)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, average="macro", zero_division=0)
    auc, auc_per_class = roc_auc(y_true, probs)
    binary = len(names) == 2
    return {
        "samples": int(len(y_true)),
        "decision": (f"{names[1]} when P({names[1]}) >= {0.5 if threshold is None else threshold}" if binary
                     else "argmax of the class probabilities"),
        "threshold": (0.5 if threshold is None else threshold) if binary else None,
        "accuracy": _round(accuracy_score(y_true, y_pred)),
        "macro": {"precision": _round(p), "recall": _round(r), "f1": _round(f), "classes": len(present)},
        "per_class": per_class_table(y_true, y_pred, names),
        "roc_auc": _round(auc),
        "roc_auc_averaging": "binary, positive class " + names[1] if binary else "one-vs-rest, macro",
        "roc_auc_per_class": {names[c]: _round(v) for c, v in auc_per_class.items()},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "class_names": list(names),
    }


def pixel_metrics(cm: np.ndarray, names: list[str]) -> dict:
    """Pixel accuracy, IoU per class, mean IoU, per-class and macro F1 from a confusion matrix (rows: truth)."""
    from geoclassify.training.metrics import segmentation_metrics

    base = segmentation_metrics(cm, names)
    tp = np.diag(cm).astype(float)
    truth, predicted = cm.sum(1).astype(float), cm.sum(0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(truth + predicted > 0, 2 * tp / (truth + predicted), np.nan)
    return {
        "pixels": int(cm.sum()),
        "pixel_accuracy": _round(base["accuracy"]),
        "mean_iou": _round(base["miou"]),
        "iou": {n: _round(base[f"iou_{n}"]) for n in names},
        "f1": {n: (None if np.isnan(v) else _round(v)) for n, v in zip(names, f1)},
        "macro": {"precision": _round(base["precision"]), "recall": _round(base["recall"]), "f1": _round(base["f1"])},
        "confusion_matrix": cm.astype(int).tolist(),
        "class_names": list(names),
    }
