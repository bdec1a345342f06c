from dataclasses import fields

import pytest

from geoclassify.errors import ConfigError
from geoclassify.training.config import (
    DataConfig,
    LoaderConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    config_from_dict,
    load_config,
)

# every field of every section, each set to a value other than its default
NOT_DEFAULT = {
    "data": {
        "source": "scene", "path": "/data/chips",
        "scenes": [{"image": "a.tif", "labels": "a_cdl.tif"}, {"image": "b.tif", "polygons": "b.gpkg"}],
        "class_mapping": "examples/cdl_agricultural.yaml", "polygon_classes": ["background", "field"],
        "class_field": "crop", "mask_colors": {"water": [0, 0, 255]}, "ignore_colors": [[0, 0, 0]],
        "block_size": 256, "windows_per_epoch": 50, "min_labelled": 0.25, "receptive_margin": 6,
        "classes": {"crops": "agri", "other": "non_agri"}, "colors": {"crops": [230, 180, 40]}, "bands": [4, 3, 2],
        "band_names": ["red", "green", "blue"], "reflectance_scale": 1.0, "value_range": [0.0, 1.0],
        "radiometry": "surface reflectance", "gsd": 10.0, "tile_size": 32, "split": "pattern", "block": 21,
        "group_pattern": r"lc8_\d+_(\d+_\d+)_", "test_groups": ["T32UPE"], "val_fraction": 0.1,
        "test_fraction": 0.3, "max_per_class": 500,
    },
    "model": {"framework": "keras", "arch": "resnet50", "pretrained": "weights/resnet50.safetensors",
              "kwargs": {"drop_rate": 0.2}},
    "optim": {"epochs": 3, "batch_size": 8, "optimizer": "adam", "lr": 0.0003, "weight_decay": 0.0,
              "schedule": "plateau", "grad_clip": None, "label_smoothing": 0.0, "class_weights": "balanced",
              "mixup": 0.2, "cutmix": 0.5, "early_stopping": None, "backbone_lr_scale": 0.5, "amp": True,
              "channels_last": False},
    "loader": {"workers": 0, "prefetch_factor": 4, "persistent_workers": False, "cache_dir": "/tmp/cache",
               "augment": False},
    "seed": 7,
    "device": "cuda",
}
SECTIONS = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "loader": LoaderConfig}


def test_the_round_trip_values_set_every_field_away_from_its_default():
    """A field added to the config without a value here fails: the round trip below must cover it."""
    defaults = TrainConfig().to_dict()
    assert NOT_DEFAULT.keys() == {f.name for f in fields(TrainConfig)}
    for section, cls in SECTIONS.items():
        assert NOT_DEFAULT[section].keys() == {f.name for f in fields(cls)}, section
        for key, value in NOT_DEFAULT[section].items():
            assert value != defaults[section][key], f"{section}.{key}"
    assert NOT_DEFAULT["seed"] != defaults["seed"] and NOT_DEFAULT["device"] != defaults["device"]


@pytest.mark.parametrize("pretrained", ["weights/resnet50.safetensors", True])
def test_every_field_round_trips_through_yaml(pretrained, tmp_path):
    values = {**NOT_DEFAULT, "model": {**NOT_DEFAULT["model"], "pretrained": pretrained}}
    config = config_from_dict(values)
    assert config.to_dict() == values
    assert isinstance(config.data, DataConfig) and isinstance(config.loader, LoaderConfig)
    path = tmp_path / "run.yaml"
    path.write_text(config.to_yaml())
    again = load_config(path)
    assert again == config and again.to_dict() == values


def test_defaults_round_trip_through_yaml(tmp_path):
    path = tmp_path / "defaults.yaml"
    path.write_text(TrainConfig().to_yaml())
    assert load_config(path) == TrainConfig() == load_config(None) == config_from_dict({})
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == TrainConfig()
    assert TrainConfig().optim.amp is False and TrainConfig().loader.persistent_workers is True


def test_overrides_are_parsed_as_yaml_values():
    config = load_config(None, ["model.arch=resnet50", "optim.lr=0.0003", "data.classes={a: x, b: y}", "seed=7",
                                "optim.grad_clip=null", "data.bands=[3, 2, 1]"])
    assert config.model.arch == "resnet50" and config.optim.lr == 0.0003 and config.seed == 7
    assert config.data.classes == {"a": "x", "b": "y"} and config.optim.grad_clip is None
    assert config.data.bands == [3, 2, 1]
    assert config == config_from_dict({"model": {"arch": "resnet50"}, "optim": {"lr": 0.0003, "grad_clip": None},
                                       "data": {"classes": {"a": "x", "b": "y"}, "bands": [3, 2, 1]}, "seed": 7})


def test_overrides_apply_on_top_of_a_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(config_from_dict(NOT_DEFAULT).to_yaml())
    config = load_config(path, ["optim.epochs=12", "data.tile_size=64"])
    assert config.optim.epochs == 12 and config.data.tile_size == 64
    assert config.optim.lr == 0.0003 and config.data.split == "pattern", "the file's other values stay"


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


@pytest.mark.parametrize("key, value, message", [("value_range", [0], "value_range must be"),
                                                 ("value_range", [255, 0], "value_range must be"),
                                                 ("reflectance_scale", 0, "reflectance_scale must be positive")])
def test_input_values_are_checked(key, value, message):
    with pytest.raises(ConfigError, match=message):
        DataConfig(**{key: value})
