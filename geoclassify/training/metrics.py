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
