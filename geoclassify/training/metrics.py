"""Classification metrics for training and evaluation (scikit-learn underneath)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score


def classification_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float | None]:
    """Accuracy, precision, recall, F1 (binary: class 1 positive; otherwise macro) and ROC-AUC.

    ROC-AUC is one-vs-rest macro for more than two classes, and None where a class is absent.
    """
    y_pred = probs.argmax(1)
    n_classes = probs.shape[1]
    average = "binary" if n_classes == 2 else "macro"
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average=average, labels=None if n_classes == 2 else list(range(n_classes)), zero_division=0)
    auc = None
    present = np.unique(y_true)
    if n_classes == 2 and len(present) == 2:
        auc = float(roc_auc_score(y_true, probs[:, 1]))
    elif n_classes > 2 and len(present) == n_classes:
        auc = float(roc_auc_score(y_true, probs, multi_class="ovr", average="macro"))
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "precision": float(precision),
            "recall": float(recall), "f1": float(f1), "roc_auc": auc}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix counts (rows: truth, columns: prediction)."""
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def segmentation_metrics(cm: np.ndarray, class_names: list[str]) -> dict[str, float | None]:
    """Pixel accuracy, macro precision/recall/F1, IoU per class and mean IoU from a confusion matrix."""
    tp = np.diag(cm).astype(float)
    truth, predicted = cm.sum(1).astype(float), cm.sum(0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(truth > 0, tp / truth, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        union = truth + predicted - tp
        iou = np.where(union > 0, tp / union, np.nan)
    present = truth > 0
    out: dict[str, float | None] = {
        "accuracy": float(tp.sum() / max(cm.sum(), 1)), "precision": float(precision[present].mean()),
        "recall": float(recall[present].mean()), "f1": float(f1[present].mean()),
        "miou": float(np.nanmean(iou)) if not np.isnan(iou).all() else None,
    }
    for name, value in zip(class_names, iou):
        out[f"iou_{name}"] = None if np.isnan(value) else float(value)
    return out
