"""Each rule on a prediction's options is checked once, when the options are made."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from geoclassify.cli.main import cli
from geoclassify.errors import ConfigError
from geoclassify.inference.config import LoopOptions, ModelSource, PredictConfig, SceneOutputs


@pytest.mark.parametrize("options, flag", [
    (dict(batch_size=0), "--batch-size"), (dict(stride=0), "--stride"), (dict(tile_size=0), "--tile-size"),
    (dict(overlap=-1), "--overlap"), (dict(read_workers=0), "--read-workers"),
    (dict(checkpoint_seconds=-1), "--checkpoint-seconds"), (dict(probabilities_dtype="float16"),
                                                            "--probabilities-dtype"),
    (dict(bands=(0, 1, 2)), "--bands"),
])
def test_bad_options_are_refused_when_made(options, flag):
    with pytest.raises(ConfigError, match=flag):
        PredictConfig(**options)


def test_loop_options_come_from_the_config_and_are_checked_alone():
    config = PredictConfig(batch_size=8, prefetch=2, read_workers=3, fully_convolutional=True)
    assert config.loop(64, 65_536) == LoopOptions(8, 2, 3, True, 65_536)


@pytest.mark.parametrize(("window", "budget", "windows"), [(64, 65_536, 16), (256, 65_536, 1), (224, 131_072, 2),
                                                            (64, 262_144, 64), (512, 65_536, 1), (1, 4, 4)])
def test_without_a_batch_size_the_windows_per_call_fit_the_pixel_budget(window, budget, windows):
    assert PredictConfig().loop(window, budget).batch_size == windows


def test_the_pixel_budget_suits_the_backend_and_device():
    from geoclassify.inference.batching import CUDA_PIXELS_PER_CALL, pixels_per_call

    assert pixels_per_call("onnx", "cpu") < pixels_per_call("torch", "cpu") < pixels_per_call("onnx", "cuda")
    assert pixels_per_call("torch", "cuda") == CUDA_PIXELS_PER_CALL
    with pytest.raises(ConfigError, match="--batch-size"):
        LoopOptions(batch_size=0)


def test_model_source_refuses_an_unknown_device_and_makes_paths_absolute(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="--device"):
        ModelSource("m.onnx", device="tpu")
    monkeypatch.chdir(tmp_path)
    source = ModelSource("m.onnx", card="card.json").absolute()
    assert source.path == str(tmp_path / "m.onnx") and source.card == str(tmp_path / "card.json")
    assert ModelSource("/vsicurl/https://example.com/m.onnx").absolute().path.startswith("/vsicurl/")


def test_scene_outputs_take_strings_and_list_their_files(tmp_path):
    outputs = SceneOutputs(str(tmp_path / "c.tif"), vector=str(tmp_path / "v.gpkg"))
    assert outputs.rasters == [tmp_path / "c.tif"] and outputs.files == [tmp_path / "c.tif", tmp_path / "v.gpkg"]


def test_cli_reports_a_bad_batch_size_as_a_usage_error(rgb_byte, chip_model, tmp_path):
    result = CliRunner().invoke(cli, ["predict", str(rgb_byte), "-o", str(tmp_path / "o.tif"), "--model",
                                      str(chip_model), "--batch-size", "0"])
    assert result.exit_code == 2 and "--batch-size must be at least 1, got 0" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_chip_resized_inside_the_model_counts_at_the_size_the_network_sees():
    from geoclassify.inference.batching import network_window
    from geoclassify.models.bundled import bundled_path
    from geoclassify.models.files import read_model_card

    assert network_window(read_model_card(bundled_path("aerial-scenes")), 150) == 224
    assert network_window(read_model_card(bundled_path("agri-s2-rgb")), 64) == 64
