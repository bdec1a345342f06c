"""ONNX Runtime backend: exported and INT8 models run through `geoclassify predict` on a real raster
and agree with the source model; the card travels inside; no torch at inference; foreign files."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geoclassify.cli.main import cli
from geoclassify.errors import ConfigError
from geoclassify.inference.onnx_backend import OnnxPredictor
from geoclassify.inference.predictor import load_predictor, read_model_card


def run(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def predict(model, scene, out, *extra):
    result = run("predict", scene, "-o", out, "-m", model, "--stride", 4, "--probabilities", out.with_suffix(".p.tif"),
                 "--probabilities-dtype", "float32", *extra)
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as classes, rasterio.open(out.with_suffix(".p.tif")) as probs:
        assert json.loads(classes.tags(1)["CLASS_NAMES"]) == ["agricultural", "non_agricultural"]
        return classes.read(1), probs.read()


def test_card_travels_in_the_onnx_file(agnet_model, agnet_onnx):
    card, exported = read_model_card(agnet_model), read_model_card(agnet_onnx)
    assert exported.class_names == card.class_names and exported.mean == card.mean and exported.bands == card.bands
    assert exported.provenance["exported_from"] == str(agnet_model)
    info = run("info", agnet_onnx, "--json")
    assert info.exit_code == 0 and json.loads(info.output)["class_names"] == list(card.class_names)


def test_onnx_and_int8_predict_agree_with_torch(agnet_model, agnet_onnx, agnet_int8, agnet_scene, tmp_path):
    torch_classes, torch_probs = predict(agnet_model, agnet_scene, tmp_path / "torch.tif")
    onnx_classes, onnx_probs = predict(agnet_onnx, agnet_scene, tmp_path / "onnx.tif")
    int8_classes, int8_probs = predict(agnet_int8, agnet_scene, tmp_path / "int8.tif")
    assert torch_classes.shape == (32, 32) and len(np.unique(torch_classes)) == 2
    assert np.mean(onnx_classes == torch_classes) >= 0.999
    assert np.abs(onnx_probs - torch_probs).max() < 1e-4
    assert np.mean(int8_classes == torch_classes) >= 0.95
    assert np.abs(int8_probs - torch_probs).mean() < 0.05
    assert "quantization" in read_model_card(agnet_int8).provenance


def test_onnx_predict_needs_no_torch(agnet_onnx, agnet_scene, tmp_path):
    code = ("import sys; from geoclassify.cli.main import cli\n"
            f"try: cli(['-q', 'predict', {str(agnet_scene)!r}, '-o', {str(tmp_path / 'x.tif')!r}, '-m', "
            f"{str(agnet_onnx)!r}, '--stride', '16'])\n"
            "except SystemExit as e: assert e.code in (0, None), e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x.tif").exists()


def test_foreign_onnx_needs_a_card(foreign_onnx, agnet_scene, tmp_path):
    model, card = foreign_onnx
    refused = run("predict", agnet_scene, "-o", tmp_path / "a.tif", "-m", model)
    assert refused.exit_code == 1 and "did not export" in refused.output and "--card" in refused.output
    assert not (tmp_path / "a.tif").exists()
    done = run("predict", agnet_scene, "-o", tmp_path / "b.tif", "-m", model, "--card", card, "--stride", 16)
    assert done.exit_code == 0, done.output


def test_card_option_is_for_onnx_only(agnet_model, agnet_scene, foreign_onnx, tmp_path):
    result = run("predict", agnet_scene, "-o", tmp_path / "a.tif", "-m", agnet_model, "--card", foreign_onnx[1])
    assert result.exit_code == 1 and "ONNX models only" in result.output


def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    result = run("predict", "tests/data/RGB.byte.tif", "-o", tmp_path / "a.tif", "-m", bad)
    assert result.exit_code == 1 and "not a readable ONNX model" in result.output


def test_card_that_does_not_fit_the_graph(foreign_onnx, tmp_path):
    model, card = foreign_onnx
    values = json.loads(card.read_text())
    values.update(bands=[1, 2, 3], mean=[0, 0, 0], std=[1, 1, 1])
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(values))
    try:
        OnnxPredictor(model, "cpu", card_path=str(wrong))
    except Exception as exc:  # noqa: BLE001
        assert "takes 7 bands but its card lists 3" in str(exc)
    else:
        raise AssertionError("a 3-band card on a 7-band graph was accepted")


@pytest.mark.parametrize("load", [load_predictor, read_model_card])
def test_keras_model_is_run_as_its_onnx_export(load, tmp_path):
    keras = tmp_path / "best.keras"
    keras.write_bytes(b"PK")  # never opened: the suffix alone decides
    with pytest.raises(ConfigError, match="runs Keras models as ONNX: export it to ONNX first"):
        load(str(keras))
    (tmp_path / "best.onnx").write_bytes(b"")
    with pytest.raises(ConfigError, match=re.escape(f"use {tmp_path / 'best.onnx'}")):
        load(str(keras))
