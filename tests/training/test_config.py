import pytest

from geoclassify.errors import ConfigError
from geoclassify.training.config import TrainConfig, config_from_dict, load_config


def test_config_round_trips_through_yaml(tmp_path):
    config = load_config(None, ["model.arch=resnet50", "optim.lr=0.0003", "data.classes={a: x, b: y}", "seed=7"])
    assert config.model.arch == "resnet50" and config.optim.lr == 0.0003 and config.seed == 7
    path = tmp_path / "run.yaml"
    path.write_text(config.to_yaml())
    assert load_config(path) == config
    assert config_from_dict(config.to_dict()) == config


def test_unknown_key_names_close_matches():
    with pytest.raises(ConfigError, match=r"unknown config key 'optim.lr_rate'.*did you mean lr"):
        config_from_dict({"optim": {"lr_rate": 1}})
    with pytest.raises(ConfigError, match="unknown config key 'dataa'"):
        config_from_dict({"dataa": {}})


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["optim.lr"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_defaults():
    assert TrainConfig().optim.amp is False and TrainConfig().loader.persistent_workers is True
