"""The Keras/TensorFlow path on tiny real data: a run directory like the PyTorch trainer's, a model file that
predict and evaluate run, the tf.data cache, and the errors (TensorFlow missing, unknown architecture)."""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from geoclassify.training import keras as keras_package
from geoclassify.training.chips import scan_chip_folders, split_by_place
from geoclassify.training.config import config_from_dict, load_config
from geoclassify.training.trainer import train as torch_train
from tests.training.conftest import AGNET

from .conftest import geoclassify, keras_config, needs_keras, write_config

PYTORCH_ONLY = {"best.safetensors", "last.safetensors", "checkpoint.pt"}
KERAS_ONLY = {"best.onnx", "last.onnx", "best.keras", "last.keras", "checkpoint.keras", "checkpoint.json"}


def header(path) -> list[str]:
    with open(path, newline="") as fh:
        return next(csv.reader(fh))


@needs_keras
def test_run_directory_matches_the_pytorch_layout(keras_run, agnet_chips, tmp_path):
    run = keras_run[0]
    torch_run = tmp_path / "torch"
    torch_train(config_from_dict(keras_config(agnet_chips) | {"model": {"arch": "compact_cnn"}}), str(torch_run))
    keras_files = {p.name for p in run.iterdir()}
    torch_files = {p.name for p in torch_run.iterdir()}
    assert keras_files - KERAS_ONLY == torch_files - PYTORCH_ONLY
    assert KERAS_ONLY <= keras_files
    assert header(run / "metrics.csv") == header(torch_run / "metrics.csv")
    history = json.loads((run / "metrics.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(row["train_images_per_s"] > 0 and row["train_skipped"] == 0 for row in history)
    keras_test = json.loads((run / "test_metrics.json").read_text())
    torch_test = json.loads((torch_run / "test_metrics.json").read_text())
    assert keras_test.keys() == torch_test.keys() and keras_test["test"].keys() == torch_test["test"].keys()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    environment = json.loads((run / "run.json").read_text())["environment"]
    assert "tensorflow" in environment and "torch" not in environment


@needs_keras
def test_the_model_file_runs_in_predict_and_evaluate(keras_run, agnet_scene, tmp_path):
    run, config = keras_run[0], keras_run[1]
    card = json.loads(geoclassify("info", "--json", run / "best.onnx").stdout)
    assert card["architecture"] == "keras:resnet50" and card["bands"] == [1, 2, 3, 4, 5, 6, 7]
    assert card["tile_size"] == 32 and card["provenance"]["gflops"] > 0
    keras_card = json.loads(geoclassify("info", "--json", run / "best.keras").stdout)
    assert {**keras_card, "provenance": {}} == {**card, "provenance": {}}

    out = tmp_path / "classes.tif"
    proc = geoclassify("predict", agnet_scene, "-m", run / "best.onnx", "-o", out, "--stride", "16")
    assert proc.returncode == 0, proc.stderr
    with rasterio.open(out) as ds:
        assert ds.read(1).shape == (8, 8) and set(np.unique(ds.read(1))) <= {0, 1}
        assert json.loads(ds.tags(1)["CLASS_NAMES"]) == ["agricultural", "non_agricultural"]

    report = tmp_path / "report"
    proc = geoclassify("evaluate", "--model", run / "best.onnx", "--data", config, "--out", report)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((report / "metrics.json").read_text())
    test = json.loads((run / "test_metrics.json").read_text())["test"]
    # the same held-out chips, the Keras model in training and its ONNX file in evaluate: the same answers
    assert metrics["accuracy"] == pytest.approx(test["accuracy"], abs=1e-9)
    assert metrics["training_run"] == str(run)

    proc = geoclassify("predict", agnet_scene, "-m", run / "best.keras", "-o", tmp_path / "k.tif")
    assert proc.returncode == 1 and "best.onnx" in proc.stderr


@needs_keras
@pytest.mark.slow  # a second Keras training run: 130-190 s on 2 cores (TensorFlow start, tracing, tf2onnx)
def test_cache_is_written_then_reused(keras_run, tmp_path):
    """Train chips made unreadable after the first run still train in the second: they come from the cache.
    The second run also starts from the first one's model (--pretrained best.keras)."""
    run, config, cache, chips = keras_run
    indexes = sorted(p.name for p in cache.glob("*.index"))
    assert [name.split("-")[0] for name in indexes] == ["test", "train", "val"]
    written = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    data = load_config(config).data
    train_chips = {Path(s.path) for s in split_by_place(scan_chip_folders(data)[1], data)["train"]}
    saved = {p: p.read_bytes() for p in train_chips}
    try:
        for path in sorted(train_chips)[::2]:
            path.write_bytes(b"not a GeoTIFF")
        with pytest.raises(rasterio.errors.RasterioIOError):
            rasterio.open(sorted(train_chips)[0])
        proc = geoclassify("-v", "train", "--config", config, "--out", tmp_path / "again", "--cache-dir", cache,
                           "--epochs", "1", "--pretrained", run / "best.keras")
    finally:
        for path, data in saved.items():
            path.write_bytes(data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "decoded samples from the cache" in proc.stderr
    assert "pretrained: 320 of 320 weight tensors from" in proc.stderr
    history = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert history[0]["train_skipped"] == 0
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == written


def test_missing_tensorflow_is_one_line(agnet_chips, tmp_path):
    config = write_config(tmp_path / "run.yaml", keras_config(agnet_chips))
    blocked = "import sys; sys.modules['tensorflow'] = None; "
    cli = subprocess.run([sys.executable, "-c", blocked + "from geoclassify.cli.main import cli; cli()", "train",
                          "--framework", "keras", "--arch", "resnet50", "--config", str(config), "--out",
                          str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    child = subprocess.run([sys.executable, "-c", blocked + "import runpy; runpy.run_module("
                            "'geoclassify.cli.keras_process', run_name='__main__')", "--config", str(config), "--out",
                            str(tmp_path / "run")],
                           capture_output=True, text=True, timeout=120)
    for proc in (cli, child):
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines() == [
            "Error: Keras training runs need tensorflow, which is not installed: pip install 'geoclassify[keras]'"]
    assert not (tmp_path / "run").exists()


def test_unknown_architecture_is_refused_before_starting_tensorflow(agnet_chips, tmp_path):
    config = write_config(tmp_path / "run.yaml", keras_config(agnet_chips))
    proc = geoclassify("train", "--framework", "keras", "--arch", "efficientnet_b3", "--config", config, "--out",
                       tmp_path / "run", timeout=60)
    assert proc.returncode == 1 and "builds resnet50, not 'efficientnet_b3'" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_the_cli_imports_neither_framework_before_dispatching():
    code = ("import sys; from geoclassify.cli.main import cli; import geoclassify.cli.train; "
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules, 'a framework was imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_keras_trainer_does_not_import_the_cli():
    """The trainer is training code; its process entry point, with the CLI's error handling, is in cli/."""
    sources = sorted(Path(keras_package.__file__).parent.glob("*.py"))
    assert len(sources) > 1
    for path in sources:
        nodes = list(ast.walk(ast.parse(path.read_text())))
        imported = [n.module for n in nodes if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in nodes if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m and m.startswith("geoclassify.cli")], path


@needs_keras
def test_the_keras_trainer_process_never_imports_torch():
    code = ("import sys, geoclassify.training.keras.trainer, geoclassify.cli.keras_process; "
            "assert 'torch' not in sys.modules, 'torch was imported beside TensorFlow'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


@needs_keras
@pytest.mark.slow
def test_scene_windows_train_a_chip_classifier(agnet_scene, tmp_path):
    """Scenes with a label raster: windows read by SceneReader, each labelled by its majority class."""
    from geoclassify.training.class_mapping import load_class_mapping
    from tests.training.test_scenes import MAPPING, scene_config

    values = scene_config([{"image": str(agnet_scene), "labels": str(AGNET / "target" / "cdl_2015245_10_12.tif")}])
    values["data"]["block_size"] = 32
    values["model"] = {"framework": "keras", "arch": "resnet50"}
    values["data"]["class_mapping"] = MAPPING
    config = write_config(tmp_path / "scene.yaml", values)
    proc = geoclassify("train", "--config", config, "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads(geoclassify("info", "--json", tmp_path / "run" / "best.onnx").stdout)
    assert card["task"] == "classification" and card["class_names"] == list(load_class_mapping(MAPPING).class_names)
    # random training windows change every epoch and are not cached; the fixed validation / test windows are
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "cache").glob("*.index")) == ["test", "val"]


@needs_keras
@pytest.mark.slow
def test_resume_continues_a_run(agnet_chips, tmp_path):
    values = keras_config(agnet_chips, epochs=1)
    config = write_config(tmp_path / "run.yaml", values)
    run = tmp_path / "run"
    assert geoclassify("train", "--config", config, "--out", run).returncode == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["optim"]["epochs"] = 2  # continue the finished run for one more epoch
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    proc = geoclassify("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [row["epoch"] for row in json.loads((run / "metrics.json").read_text())] == [1, 2]
