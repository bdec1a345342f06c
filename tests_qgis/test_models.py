"""The bundled models in QGIS: listed by name, each run with its default stride, its output styled in the project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import read_raster, run_cli
from qgis.core import QgsApplication, QgsProject
from test_algorithms import Recorder, run, run_fails


@pytest.fixture(scope="module")
def bundled(cli) -> list[dict]:
    """The CLI's own list of its bundled models."""
    return json.loads(run_cli(cli, "models", "--json").stdout)


def test_the_algorithms_list_the_bundled_models_default_first(provider, bundled):
    names = [m["name"] for m in bundled if m["default"]] + [m["name"] for m in bundled if not m["default"]]
    for alg_id in ("geoclassify:classify", "geoclassify:info"):
        alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
        param = alg.parameterDefinition("BUNDLED_MODEL")
        assert param.options() == names and param.defaultValue() == names[0] and param.usesStaticStrings()
        assert all(name in alg.shortHelpString() for name in names)
        assert alg.parameterDefinition("MODEL").flags() & param.FlagOptional


@pytest.mark.parametrize("index", [0, 1, 2])
def test_each_bundled_model_gives_a_styled_map_like_the_clis(provider, cli, bundled, small_scene, tmp_path, index):
    """No stride given: a chip classifier runs at its suggested stride; the layer has the model's names and colours."""
    import processing

    assert len(bundled) == 3, "a bundled model was added or removed: update the parametrization"
    model = bundled[index]
    out = tmp_path / "classes.tif"
    project = QgsProject.instance()
    project.removeAllMapLayers()
    feedback = Recorder()
    processing.runAndLoadResults("geoclassify:classify", {"INPUT": str(small_scene), "BUNDLED_MODEL": model["name"],
                                                          "OUTPUT": str(out)}, feedback=feedback)
    stride = ["--stride", str(model["stride"])] if model["stride"] else []
    command = feedback.commands[0]
    assert f"--model {model['name']}" in command and (" ".join(stride) in command if stride else "--stride" not in
                                                        command)
    run_cli(cli, "predict", small_scene, "-o", tmp_path / "reference.tif", "--model", model["name"], *stride)
    got, transform, _ = read_raster(out)
    want, want_transform, _ = read_raster(tmp_path / "reference.tif")
    np.testing.assert_array_equal(got, want)
    assert transform == want_transform
    (layer,) = project.mapLayers().values()
    assert layer.name() == f"Classification ({model['name']})"
    renderer = layer.renderer()
    assert renderer.type() == "paletted"
    assert [(c.value, c.label) for c in renderer.classes()] == list(enumerate(model["classes"]))
    assert [list(c.color.getRgb()[:3]) for c in renderer.classes()] == model["colors"]
    project.removeAllMapLayers()


def test_a_model_file_wins_and_gets_its_cards_stride(provider, bundled, small_scene, tmp_path):
    """The default model's ONNX file, copied under another name: its card (read by `info --json`) gives the stride."""
    default = next(m for m in bundled if m["default"])
    other = next(m for m in bundled if not m["default"])
    model_file = tmp_path / "my model.onnx"
    shutil.copyfile((default.get("files") or {}).get("onnx") or default["file"], model_file)
    feedback = Recorder()
    result = run("classify", {"INPUT": str(small_scene), "BUNDLED_MODEL": other["name"], "MODEL": str(model_file),
                              "OUTPUT": str(tmp_path / "c.tif")}, feedback)
    assert f"--model '{model_file}' --stride {default['stride']}" in feedback.commands[0]
    assert any(f"stride {default['stride']} scene pixels" in line for line in feedback.infos)
    with_stride = Recorder()
    run("classify", {"INPUT": str(small_scene), "MODEL": str(model_file), "STRIDE": 32,
                     "OUTPUT": str(tmp_path / "d.tif")}, with_stride)
    assert "--stride 32" in with_stride.commands[0]
    assert read_raster(result["OUTPUT"])[0].shape == (8, 8)  # 128 working pixels at 10 m, one per 16


def test_without_a_cli_the_algorithms_load_and_point_to_the_set_up(cli_setting, small_scene, tmp_path):
    cli_setting(str(tmp_path / "no such env"))
    alg = QgsApplication.processingRegistry().createAlgorithmById("geoclassify:classify")
    assert alg is not None and alg.parameterDefinition("BUNDLED_MODEL").options() == ["agri-s2-rgb"]
    assert "Only the default model is listed" in alg.shortHelpString() and "Set up geoclassify" in alg.shortHelpString()
    message = run_fails("classify", {"INPUT": str(small_scene), "BUNDLED_MODEL": "aerial-scenes",
                                     "OUTPUT": str(tmp_path / "c.tif")})
    assert "Set up geoclassify" in message and "does not exist" in message
    assert "Incorrect parameter value" not in message  # the missing CLI is said first, and alone
    assert Path(tmp_path).exists() and not (tmp_path / "c.tif").exists()


def test_fully_convolutional_and_the_batch_budget_reach_the_cli(provider, cli, bundled, small_scene, tmp_path):
    """No batch size given: none is passed (the CLI's pixel budget decides, not 64 windows); the fully
    convolutional option runs the default model so, at its suggested stride, as the CLI does."""
    default = next(m for m in bundled if m["default"])
    plain, dense = Recorder(), Recorder()
    run("classify", {"INPUT": str(small_scene), "OUTPUT": str(tmp_path / "a.tif")}, plain)
    result = run("classify", {"INPUT": str(small_scene), "OUTPUT": str(tmp_path / "b.tif"),
                              "FULLY_CONVOLUTIONAL": True}, dense)
    assert "--batch-size" not in plain.commands[0] and "--fully-convolutional" not in plain.commands[0]
    assert "--fully-convolutional" in dense.commands[0]
    run_cli(cli, "predict", small_scene, "-o", tmp_path / "reference.tif", "--stride", default["stride"],
            "--fully-convolutional")
    np.testing.assert_array_equal(read_raster(result["OUTPUT"])[0], read_raster(tmp_path / "reference.tif")[0])
