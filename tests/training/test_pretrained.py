"""Training from ImageNet weights offline (`--pretrained imagenet`), on the tiny real Ag-Net chips."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from click.testing import CliRunner

from geoclassify.cli.main import cli
from geoclassify.errors import ConfigError
from geoclassify.models.files import load_model
from geoclassify.models.imagenet import lite_weights_file
from geoclassify.training import trainer as trainer_module
from geoclassify.training.config import config_from_dict
from geoclassify.training.run import RunDir

from .conftest import chip_config

LANDSAT_OLI = ["coastal", "blue", "green", "red", "nir08", "swir16", "swir22"]  # Ag-Net's bands 1-7


def lite_config(tiny_chips, **optim) -> dict:
    values = chip_config(tiny_chips, **optim)
    values["data"]["band_names"] = LANDSAT_OLI
    values["model"] = {"arch": "efficientnet_lite0", "pretrained": "imagenet"}
    return values


def test_trainer_starts_from_imagenet_with_a_slower_backbone(tiny_chips, tmp_path):
    config = config_from_dict(lite_config(tiny_chips, lr=0.002, backbone_lr_scale=0.25))
    run = RunDir(tmp_path / "run")
    run.create(config)
    trainer = trainer_module.Trainer(config, run)
    source = torch.load(lite_weights_file("lite0"), map_location="cpu", weights_only=True)
    stem = trainer.model.conv_stem.weight.detach()
    rgb = source["_conv_stem.weight"]  # ImageNet's red, green, blue filters go to bands 4, 3, 2
    assert torch.equal(stem[:, 3], rgb[:, 0]) and torch.equal(stem[:, 2], rgb[:, 1])
    assert torch.equal(stem[:, 1], rgb[:, 2]) and torch.allclose(stem[:, 4], rgb.mean(dim=1))
    assert torch.equal(trainer.model.blocks[3][2].conv_dw.weight, source["_blocks.7._depthwise_conv.weight"])
    rates = sorted(group["lr"] for group in trainer.optimizer.param_groups)
    assert rates == [0.002 * 0.25, 0.002]
    head = {id(p) for p in trainer.model.get_classifier().parameters()}
    fast = next(g for g in trainer.optimizer.param_groups if g["lr"] == 0.002)
    assert {id(p) for p in fast["params"]} == head


def test_train_cli_pretrained_imagenet_offline_records_its_weights(tiny_chips, tmp_path):
    """The whole command, offline: the model file's card says which weights it started from, under what licence,
    and how its first convolution was adapted to the 7 Landsat bands."""
    config_path = tmp_path / "run.yaml"
    values = chip_config(tiny_chips)
    values["data"]["band_names"] = LANDSAT_OLI
    config_path.write_text(yaml.safe_dump(values))
    out = tmp_path / "run"
    proc = CliRunner().invoke(cli, ["-q", "train", "--config", str(config_path), "--arch", "efficientnet_lite0",
                                    "--pretrained", "imagenet", "--out", str(out)])
    assert proc.exit_code == 0, proc.output
    assert 0 <= json.loads(proc.stdout.splitlines()[-1])["test"]["accuracy"] <= 1
    model, card = load_model(out / "best.safetensors")
    pretrained = card.provenance["pretrained"]
    assert pretrained["licence"] == "Apache-2.0" and pretrained["file"] == lite_weights_file("lite0").name
    assert "blue (band 2), green (band 3), red (band 4)" in pretrained["first_conv"]
    assert "coastal, nir08, swir16, swir22 initialised with the mean" in pretrained["first_conv"]
    assert card.architecture == "efficientnet_lite0" and model.conv_stem.weight.shape[1] == 7


def test_backbone_learning_rate_scale_is_checked(tiny_chips):
    with pytest.raises(ConfigError, match="backbone_lr_scale"):
        config_from_dict(lite_config(tiny_chips, backbone_lr_scale=0))
