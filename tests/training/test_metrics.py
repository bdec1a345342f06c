import numpy as np
from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score, roc_auc_score

from geoclassify.training.metrics import classification_metrics, confusion, segmentation_metrics


def test_binary_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(y * 0.6 + rng.random(200) * 0.5, 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    m = classification_metrics(y, probs)
    pred = probs.argmax(1)
    assert m["accuracy"] == np.mean(pred == y)
    assert m["precision"] == precision_score(y, pred) and m["recall"] == recall_score(y, pred)
    assert m["f1"] == f1_score(y, pred) and m["roc_auc"] == roc_auc_score(y, p1)


def test_multiclass_macro_and_missing_class_auc():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    probs = rng.dirichlet([1, 1, 1], 300)
    m = classification_metrics(y, probs)
    assert np.isclose(m["f1"], f1_score(y, probs.argmax(1), average="macro"))
    assert np.isclose(m["roc_auc"], roc_auc_score(y, probs, multi_class="ovr"))
    assert classification_metrics(np.zeros(5, int), np.tile([0.6, 0.3, 0.1], (5, 1)))["roc_auc"] is None


def test_segmentation_iou_matches_scikit_learn():
    rng = np.random.default_rng(2)
    truth, pred = rng.integers(0, 3, 5000), rng.integers(0, 3, 5000)
    m = segmentation_metrics(confusion(truth, pred, 3), ["a", "b", "c"])
    ious = jaccard_score(truth, pred, average=None)
    assert np.allclose([m["iou_a"], m["iou_b"], m["iou_c"]], ious) and np.isclose(m["miou"], ious.mean())
    assert np.isclose(m["accuracy"], np.mean(truth == pred))
    assert np.isclose(m["f1"], f1_score(truth, pred, average="macro"))
