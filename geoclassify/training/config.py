"""Training configuration: frozen dataclasses loaded from YAML, overridden by `key=value` pairs."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import yaml

from geoclassify.errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    """Where samples come from and how they are split by place."""

    source: str = "chips"  # chips: one folder per class; scene: scenes with label rasters
    path: str = ""
    # scene: [{image: a.tif, labels: a.tif | polygons: a.gpkg}]
    scenes: list[dict[str, str]] = field(default_factory=list)
    class_mapping: str = ""  # scene + label rasters: YAML mapping codes to classes (examples/cdl_agricultural.yaml)
    polygon_classes: list[str] = field(default_factory=list)  # scene + polygons: class names, the first = background
    class_field: str = ""  # scene + polygons: attribute holding class names (none: every polygon is the second class)
    mask_colors: dict[str, list[int]] = field(default_factory=dict)  # scene + colour masks: class name -> [r, g, b]
    ignore_colors: list[list[int]] = field(default_factory=list)  # scene + colour masks: colours of unlabelled pixels
    block_size: int = 512  # scene: square blocks (pixels) that go whole to train, validation or test
    windows_per_epoch: int = 1000  # scene: random training windows per epoch
    min_labelled: float = 0.5  # scene: skip windows with less than this fraction of labelled pixels
    receptive_margin: int | None = None  # scene: unreliable pixels at tile edges for predict (default tile/8)
    classes: dict[str, str] = field(default_factory=dict)  # class name -> folder name (default: folder names)
    colors: dict[str, list[int]] = field(default_factory=dict)
    bands: list[int] = field(default_factory=list)  # 1-based bands of multi-band chips (default: all)
    band_names: list[str] = field(default_factory=list)  # STAC common names (red, nir ...): predict finds them by name
    # what the training pixels are: surface reflectance x reflectance_scale, clipped to value_range (e.g. 1275 and
    # [0, 255] for 8-bit Sentinel-2 true colour, 1 for reflectance); unset: raw values (predict takes the scene's as
    # they are). Recorded in the card; predict converts known products' digital numbers to it
    reflectance_scale: float | None = None
    value_range: list[float] | None = None
    radiometry: str = ""  # the same in words, with where it comes from
    gsd: float | None = None
    tile_size: int = 64
    split: str = "name"  # s2-blocks: 43x43-chip blocks of each Sentinel-2 tile; pattern: group_pattern; name: each file
    block: int = 43
    group_pattern: str = ""  # split: pattern; the regex's first group names a file's place, e.g. lc8_\d+_(\d+_\d+)_
    test_groups: list[str] = field(default_factory=list)  # groups forced into the test set (e.g. an S2 tile)
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    max_per_class: int | None = None

    def __post_init__(self) -> None:
        """Refuse input values the model card could not record.

        Raises:
            ConfigError: data.value_range is not [low, high] with low < high, or data.reflectance_scale is not
                positive.
        """
        if self.value_range is not None and (len(self.value_range) != 2 or
                                             not float(self.value_range[0]) < float(self.value_range[1])):
            raise ConfigError(f"data.value_range must be [low, high] with low < high, got {self.value_range}")
        if self.reflectance_scale is not None and not float(self.reflectance_scale) > 0:
            raise ConfigError(f"data.reflectance_scale must be positive, got {self.reflectance_scale}")


@dataclass(frozen=True)
class ModelConfig:
    """The model to train: framework, architecture, pretrained weights and the architecture's own arguments."""

    framework: str = "torch"  # torch | keras (a Keras ResNet-50 trained in its own process; needs geoclassify[keras])
    arch: str = "compact_cnn"
    # imagenet: ImageNet weights (EfficientNet-Lite0/1/2 offline from geoclassify[pretrained], others from timm's hub);
    # True: timm hub weights (internet); a path: a local weights file
    pretrained: str | bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimConfig:
    """The optimisation: epochs, batch size, optimizer and schedule, regularisation, mixed precision."""

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adamw"  # adamw | adam
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | plateau
    grad_clip: float | None = 1.0
    label_smoothing: float = 0.05
    class_weights: str | None = None  # balanced
    mixup: float = 0.0  # probability of MixUp per batch
    cutmix: float = 0.0  # probability of CutMix per batch
    early_stopping: int | None = 5  # epochs without validation improvement
    backbone_lr_scale: float = 1.0  # the backbone (a U-Net's encoder, a classifier but its head) learns at lr x this
    amp: bool = False
    channels_last: bool = True

    def __post_init__(self) -> None:
        """Refuse an unknown optimizer (both trainers build AdamW or Adam).

        Raises:
            ConfigError: optim.optimizer is neither adamw nor adam, or optim.backbone_lr_scale is not in (0, 1].
        """
        if self.optimizer not in ("adamw", "adam"):
            raise ConfigError(f"optim.optimizer must be adamw or adam, not {self.optimizer!r}")
        if not 0 < self.backbone_lr_scale <= 1:
            raise ConfigError(f"optim.backbone_lr_scale must be in (0, 1], not {self.backbone_lr_scale!r}")


@dataclass(frozen=True)
class LoaderConfig:
    """The data loader: worker processes, read-ahead, the sample cache and augmentation."""

    workers: int = 2
    prefetch_factor: int = 2
    persistent_workers: bool = True
    cache_dir: str | None = None  # on-disk cache of decoded samples
    augment: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """A whole training configuration: data, model, optimisation, loader, seed and device."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    seed: int = 0
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        """The configuration as nested dicts (sections as YAML has them)."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The configuration as YAML that `load_config` reads back, keys in field order."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _build(cls, values: dict[str, Any], where: str):
    """Instantiate a (nested) config dataclass, refusing unknown keys with close matches."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {values!r}")
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.4)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"unknown config key {where + key!r}{hint}")
        sub = known[key].default_factory if known[key].default_factory is not dataclasses.MISSING else None
        if sub is not None and dataclasses.is_dataclass(sub):
            kwargs[key] = _build(sub, value, f"{where}{key}.")
        else:
            kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """A TrainConfig from nested dicts (None or empty: the defaults).

    Raises:
        ConfigError: an unknown key (with close matches), or a section that is not a mapping.
    """
    return _build(TrainConfig, values or {}, "")


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML config (or start from defaults) and apply `section.key=value` overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value, e.g. optim.lr=0.001")
        node = values
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[leaf] = yaml.safe_load(raw)
    return config_from_dict(values)
