"""Report metrics against scikit-learn, on real predictions: a model trained on the Ag-Net chips,
applied to every chip (real Landsat 8 pixels, labels from the CDL)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    jaccard_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from geoclassify.errors import ConfigError
from geoclassify.inference.predictor import load_predictor
from geoclassify.reports.metrics import chip_metrics, pixel_metrics
from geoclassify.reports.sources import load_chip_arrays, load_chip_set, predict_chips
from geoclassify.training.metrics import confusion


@pytest.fixture(scope="module")
def real_predictions(agnet_model, agnet_chips):
    predictor = load_predictor(str(agnet_model), "cpu")
    images, y = load_chip_arrays(load_chip_set(str(agnet_chips)), predictor.card)
    return y, predict_chips(predictor, images, 16), list(predictor.card.class_names)


@pytest.mark.parametrize("threshold", [None, 0.3])
def test_chip_metrics_match_scikit_learn(real_predictions, threshold):
    y, probs, names = real_predictions
    m = chip_metrics(y, probs, names, threshold)
    pred = (probs[:, 1] >= (threshold or 0.5)).astype(int)
    assert len(set(y)) == 2 and m["samples"] == len(y) == 96
    assert m["threshold"] == (threshold or 0.5)
    assert np.isclose(m["accuracy"], accuracy_score(y, pred))
    p, r, f, s = precision_recall_fscore_support(y, pred, zero_division=0)
    for i, name in enumerate(names):
        row = m["per_class"][name]
        assert np.allclose([row["precision"], row["recall"], row["f1"]], [p[i], r[i], f[i]], atol=1e-6)
        assert row["support"] == s[i]
    assert np.isclose(m["macro"]["f1"], f1_score(y, pred, average="macro"), atol=1e-6)
    assert np.isclose(m["roc_auc"], roc_auc_score(y, probs[:, 1]), atol=1e-6)
    assert m["confusion_matrix"] == confusion_matrix(y, pred).tolist()


def test_multiclass_auc_is_one_vs_rest_macro(real_predictions):
    """Three classes from real probabilities: split class 1 by its probability into two classes."""
    y, probs, _ = real_predictions
    y3 = np.where((y == 1) & (probs[:, 1] > np.median(probs[:, 1])), 2, y)
    p3 = np.stack([probs[:, 0], probs[:, 1] * 0.5, probs[:, 1] * 0.5], axis=1)
    p3[:, 2] += (y3 == 2) * 0.1
    p3 /= p3.sum(1, keepdims=True)
    m = chip_metrics(y3, p3, ["a", "b", "c"])
    assert np.isclose(m["roc_auc"], roc_auc_score(y3, p3, multi_class="ovr", average="macro"), atol=1e-6)
    assert np.isclose(m["roc_auc_per_class"]["c"], roc_auc_score(y3 == 2, p3[:, 2]), atol=1e-6)
    assert m["threshold"] is None and np.isclose(m["accuracy"], accuracy_score(y3, p3.argmax(1)))
    with pytest.raises(ConfigError, match="two-class"):
        chip_metrics(y3, p3, ["a", "b", "c"], threshold=0.4)


def test_pixel_metrics_match_scikit_learn(real_predictions):
    y, probs, names = real_predictions
    truth, pred = np.repeat(y, 50), np.repeat(probs.argmax(1), 50)
    m = pixel_metrics(confusion(truth, pred, 2), names)
    assert np.allclose([m["iou"][n] for n in names], jaccard_score(truth, pred, average=None))
    assert np.isclose(m["mean_iou"], jaccard_score(truth, pred, average="macro"), atol=1e-6)
    assert np.allclose([m["f1"][n] for n in names], f1_score(truth, pred, average=None), atol=1e-6)
    assert np.isclose(m["pixel_accuracy"], accuracy_score(truth, pred)) and m["pixels"] == len(truth)
