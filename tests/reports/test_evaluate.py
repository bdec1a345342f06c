"""`geoclassify evaluate` on chips (a config's test split) and on a scene with a label raster."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from sklearn.metrics import accuracy_score, jaccard_score

from geoclassify.cli.main import cli
from geoclassify.inference.predictor import load_predictor
from geoclassify.reports.sources import load_chip_arrays, load_chip_set, predict_chips

MAPPING = "examples/cdl_agricultural.yaml"


def run(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def assert_pngs(folder, names):
    for name in names:
        data = (folder / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name


def test_evaluate_chips_writes_metrics_report_and_plots(agnet_model, agnet_config, tmp_path):
    out = tmp_path / "report"
    result = run("evaluate", "--model", agnet_model, "--data", agnet_config, "--out", out)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    predictor = load_predictor(str(agnet_model), "cpu")
    chips = load_chip_set(str(agnet_config), "test")
    images, y = load_chip_arrays(chips, predictor.card)
    expected = accuracy_score(y, predict_chips(predictor, images).argmax(1))
    assert np.isclose(metrics["accuracy"], expected) and metrics["samples"] == len(y)
    assert metrics["threshold"] == 0.5 and "test split" in metrics["data"]
    assert metrics["training_run"] == str(agnet_model.parent)
    assert_pngs(out, ["roc.png", "precision_recall.png", "confusion.png", "confusion_normalised.png",
                      "training_curves.png"])
    html, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    assert "roc.png" in html and "training_curves.png" in html and "| macro |" in md
    again = run("evaluate", "--model", agnet_model, "--data", agnet_config, "--out", out)
    assert again.exit_code == 1 and "--overwrite" in again.output


def test_evaluate_scene_with_label_raster(agnet_model, agnet_scene, agnet_labels, tmp_path):
    out = tmp_path / "scene"
    result = run("evaluate", "--model", agnet_model, "--data", agnet_scene, "--labels", agnet_labels,
                 "--class-mapping", MAPPING, "--stride", 8, "--out", out)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert_pngs(out, ["preview.png", "confusion.png", "confusion_normalised.png"])
    assert "preview.png" in (out / "report.html").read_text()
    # the same figures from the prediction and the labels' majority class per 8 x 8 block
    from geoclassify.training.class_mapping import load_class_mapping

    pred = rasterio.open(out / "prediction.tif").read(1)
    codes = rasterio.open(agnet_labels).read(1)
    mapping = load_class_mapping(MAPPING)
    order = np.array([metrics["class_names"].index(n) for n in mapping.class_names] + [255] * 255, np.uint8)
    classes = order[mapping.apply(codes)]  # the model's class indexes (its order differs from the mapping's)
    blocks = classes.reshape(16, 8, 16, 8).transpose(0, 2, 1, 3).reshape(16, 16, 64)
    truth = np.array([[np.bincount(b[b != 255], minlength=2).argmax() if (b != 255).any() else 255
                       for b in row] for row in blocks])
    valid = truth != 255
    assert metrics["pixels"] == valid.sum() == pred.size
    assert np.isclose(metrics["pixel_accuracy"], accuracy_score(truth[valid], pred[valid]))
    iou = jaccard_score(truth[valid], pred[valid], average=None, labels=[0, 1])
    assert np.allclose([metrics["iou"]["agricultural"], metrics["iou"]["non_agricultural"]], iou)


def test_labels_with_other_classes_are_refused(agnet_model, agnet_chips, tmp_path):
    other = tmp_path / "chips"
    for name, source in (("crop", "agricultural"), ("other", "non_agricultural")):
        (other / name).mkdir(parents=True)
        for f in list((agnet_chips / source).iterdir())[:2]:
            (other / name / f.name).write_bytes(f.read_bytes())
    result = run("evaluate", "--model", agnet_model, "--data", other, "--out", tmp_path / "r")
    assert result.exit_code == 1
    assert "['crop', 'other']" in result.output and "['agricultural', 'non_agricultural']" in result.output


@pytest.mark.parametrize("case", ["empty folder", "not a source"])
def test_empty_or_wrong_data_source(agnet_model, tmp_path, case):
    data = tmp_path / "empty"
    data.mkdir()
    if case == "not a source":
        data = tmp_path / "x.txt"
        data.write_text("x")
    result = run("evaluate", "--model", agnet_model, "--data", data, "--out", tmp_path / "r")
    assert result.exit_code == 1 and str(data) in result.output


def test_model_without_card_is_refused(tmp_path, agnet_config):
    from safetensors.numpy import save_file

    bare = tmp_path / "bare.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, str(bare))
    result = run("evaluate", "--model", bare, "--data", agnet_config, "--out", tmp_path / "r")
    assert result.exit_code == 1 and "no geoclassify model card" in result.output
