"""The bundled models, chosen by name: listed with their cards, and run through predict, evaluate, export and
quantize on the shipped NAIP scene."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.windows import Window

from geoclassify.cli.main import cli
from geoclassify.errors import ModelFileError
from geoclassify.models.bundled import BUNDLED, bundled_path, resolve_model
from geoclassify.models.files import read_model_card

LANDCOVER = ["Building", "Land", "Road", "Vegetation", "Water"]


def run(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


@pytest.mark.parametrize("name", list(BUNDLED))
def test_each_bundled_model_has_a_card_that_says_where_it_comes_from(name):
    card = read_model_card(bundled_path(name))
    assert {"data", "split"} <= set(card.provenance)
    assert any(k.startswith("test_") for k in card.provenance)
    if name != "agri-s2-rgb":  # the two aerial models: licence, command, GSD decision, float16 and a few MB
        assert {"licence", "command", "gsd_evidence", "pretrained"} <= set(card.provenance)
        assert card.provenance["command"].startswith("geoclassify train ")
        assert bundled_path(name).stat().st_size < 15e6


def test_models_lists_the_bundled_models():
    result = run("models")
    assert result.exit_code == 0, result.output
    for name in BUNDLED:
        assert name in result.output
    assert "classes: Building, Land, Road, Vegetation, Water" in result.output
    assert "test: accuracy 0." in result.output and "GSD: 10 m" in result.output


def test_an_unknown_name_is_refused_listing_the_bundled_models(naip, tmp_path):
    with pytest.raises(ModelFileError, match="bundled: agri-s2-rgb, aerial-scenes, aerial-landcover"):
        resolve_model("aerial-landuse")
    result = run("predict", naip, "-m", "aerial-landuse", "-o", tmp_path / "o.tif")
    assert result.exit_code == 2 and "no bundled model is called 'aerial-landuse'" in result.output
    assert not list(tmp_path.iterdir())


def test_land_cover_by_name_is_the_bundled_file_through_predict_and_the_api(naip, tmp_path):
    """`-m aerial-landcover` runs the bundled file: the same map as its path, per pixel on the scene's grid, with
    the classes named; `load_predictor` takes the name too. (What the map says of this North Dakota scene is
    wrong, fields as water: the model knows Dubai, see the README; no labelled Dubai image may be shipped.)"""
    from geoclassify.inference.predictor import load_predictor

    maps = []
    for model in ("aerial-landcover", bundled_path("aerial-landcover")):
        out = tmp_path / f"landcover{len(maps)}.tif"
        result = run("predict", naip, "-m", model, "-o", out)
        assert result.exit_code == 0, result.output
        with rasterio.open(naip) as scene, rasterio.open(out) as ds:
            assert (ds.width, ds.height, ds.transform) == (scene.width, scene.height, scene.transform)
            assert json.loads(ds.tags(1)["CLASS_NAMES"]) == LANDCOVER
            maps.append(ds.read(1))
    assert np.array_equal(maps[0], maps[1]) and set(np.unique(maps[0])) <= set(range(5))
    assert load_predictor("aerial-landcover", "cpu").card.class_names == tuple(LANDCOVER)


# 150-pixel chips of the NAIP scene, labelled by eye with AID's classes: (row, col) on a 150-pixel grid
NAIP_CHIPS = {"Pond": [(0, 5), (1, 3), (0, 2)], "Farmland": [(0, 1), (1, 0), (2, 1), (2, 2), (3, 0), (3, 3)]}


@pytest.fixture(scope="module")
def naip_chips(tmp_path_factory, naip):
    """Nine 150-pixel RGB chips of the NAIP farmland scene in AID's class folders Pond and Farmland."""
    root = tmp_path_factory.mktemp("naip_chips")
    profile = {"driver": "GTiff", "width": 150, "height": 150, "count": 3, "dtype": "uint8"}
    with rasterio.open(naip) as ds:
        for name, cells in NAIP_CHIPS.items():
            (root / name).mkdir()
            for row, col in cells:
                with rasterio.open(root / name / f"naip_{row}_{col}.tif", "w", **profile) as chip:
                    chip.write(ds.read([1, 2, 3], window=Window(col * 150, row * 150, 150, 150)))
    return root


def test_aerial_scenes_through_evaluate_export_quantize_and_predict(naip, naip_chips, tmp_path):
    """By name through evaluate; exported to ONNX and quantized to INT8 (calibrated on the NAIP chips), and both
    run by predict; the INT8 map agrees with the float one on most windows."""
    result = run("evaluate", "-m", "aerial-scenes", "--data", naip_chips, "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and metrics["samples"] == 9
    cm = np.array(metrics["confusion_matrix"])  # 30 x 30; the data holds 2 of the classes: macro F1 over those 2
    f1 = [2 * cm[i, i] / (cm[i].sum() + cm[:, i].sum()) for i in np.flatnonzero(cm.sum(axis=1))]
    assert metrics["macro"]["classes"] == 2 and np.isclose(metrics["macro"]["f1"], np.mean(f1), atol=1e-4)

    onnx, int8 = tmp_path / "scenes.onnx", tmp_path / "scenes.int8.onnx"
    assert run("export", "aerial-scenes", "--format", "onnx", "-o", onnx).exit_code == 0
    result = run("quantize", onnx, "--calibration", naip_chips, "-o", int8, "--chips", 9)
    assert result.exit_code == 0, result.output
    maps = []
    for model in ("aerial-scenes", onnx, int8):
        out = tmp_path / f"{len(maps)}.tif"
        result = run("predict", naip, "-m", model, "-o", out, "--stride", 75)
        assert result.exit_code == 0, result.output
        with rasterio.open(out) as ds:
            maps.append(ds.read(1))
    assert np.mean(maps[0] == maps[1]) > 0.99  # ONNX Runtime float32 vs torch
    assert np.mean(maps[0] == maps[2]) > 0.7  # INT8


def test_auto_runs_each_bundled_model_on_its_measured_cpu_backend_without_a_gpu(monkeypatch):
    from geoclassify.models import bundled

    monkeypatch.setattr(bundled, "torch_cuda_usable", lambda: False)
    for name, model in bundled.BUNDLED.items():
        assert bundled.choose_backend(name, "auto", "auto") == model.cpu_backend
        assert bundled.choose_backend(name, "auto", "cuda") == "torch"
        assert bundled.resolve_model(name, "onnx").endswith(".onnx")
        assert bundled.resolve_model(name, "torch").endswith(".safetensors")


@pytest.mark.parametrize(("file", "backend", "words"), [
    ("m.safetensors", "onnx", "a torch model file; export it first"),
    ("m.onnx", "torch", "an ONNX model file"),
    ("m.keras", "torch", "a Keras model file"),
])
def test_a_backend_that_cannot_run_a_model_file_is_refused_in_words(file, backend, words):
    from geoclassify.errors import ConfigError
    from geoclassify.models.bundled import resolve_model

    with pytest.raises(ConfigError, match=words):
        resolve_model(file, backend)
    assert resolve_model(file, "auto") == file


def test_models_json_gives_each_bundled_model_as_data():
    import json

    listed = {m["name"]: m for m in json.loads(run("models", "--json").output)}
    assert list(listed) == list(BUNDLED) and [m["default"] for m in listed.values()] == [True, False, False]
    agri, landcover = listed["agri-s2-rgb"], listed["aerial-landcover"]
    assert agri["stride"] == 16 and agri["tile_size"] == 64 and agri["gsd"] == 10.0
    assert landcover["task"] == "segmentation" and landcover["stride"] is None
    for model in listed.values():
        assert len(model["classes"]) == len(model["colors"]) and all(len(c) == 3 for c in model["colors"])
        assert model["files"]["torch"].endswith(".safetensors") and model["files"]["onnx"].endswith(".onnx")
