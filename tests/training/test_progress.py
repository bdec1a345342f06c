"""`geoclassify --progress-format json train`: training reports its progress as JSON lines, like predict."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from geoclassify.cli.main import cli

from .conftest import chip_config


def test_train_reports_json_progress_per_epoch(agnet_chips, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({**chip_config(agnet_chips, epochs=2), "model": {"arch": "compact_cnn"}}))
    result = CliRunner().invoke(cli, ["--progress-format", "json", "train", "--config", str(config),
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines() if line.startswith('{"progress"')]
    epochs = [r for r in records if r["progress"].startswith("epoch ")]
    assert {r["progress"] for r in epochs} == {"epoch 1/2", "epoch 2/2"}
    last = [r for r in epochs if r["progress"] == "epoch 2/2"][-1]
    assert last["unit"] == "img" and last["done"] == last["total"] > 0 and float(last["info"]["loss"]) > 0
    assert "img/s" not in result.output and "\r" not in result.output  # no tqdm bar beside the JSON lines


def test_quiet_train_reports_no_progress(agnet_chips, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({**chip_config(agnet_chips), "model": {"arch": "compact_cnn"}}))
    result = CliRunner().invoke(cli, ["-q", "--progress-format", "json", "train", "--config", str(config),
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert '"progress"' not in result.output and "img/s" not in result.output
