"""What both trainers (PyTorch and Keras) know about their data before streaming it, and the card it gives.

No torch and no TensorFlow here: each trainer wraps the splits in its own streaming pipeline.
"""

from __future__ import annotations

import colorsys
import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import rasterio

from geoclassify.errors import ConfigError
from geoclassify.models.card import ModelCard
from geoclassify.training.chips import Sample, band_stats, scan_chip_folders, split_by_place
from geoclassify.training.config import TrainConfig
from geoclassify.training.scenes import Block, SceneReader, scene_mapping, scene_pairs, split_blocks, window_stats

log = logging.getLogger("geoclassify")

PALETTE = [(230, 180, 40), (200, 200, 200), (31, 119, 180), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (255, 127, 14)]
GOLDEN = 0.618033988749895  # hue step of the colours after PALETTE: each new hue far from the ones before


def palette_colour(index: int) -> tuple[int, int, int]:
    """The default colour of class `index`: PALETTE's, then colours of golden-ratio-spaced hues at three
    saturation/brightness levels, so that up to 255 classes get distinct colours.

    Args:
        index: the class index, 0-254.

    Returns:
        (r, g, b), 0-255 each.
    """
    if index < len(PALETTE):
        return PALETTE[index]
    k = index - len(PALETTE)
    saturation, value = ((0.65, 0.95), (0.9, 0.7), (0.45, 0.8))[k % 3]
    r, g, b = colorsys.hsv_to_rgb((0.11 + k * GOLDEN) % 1.0, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


@dataclass
class DataInfo:
    """Classes, bands and normalisation of a data source (from its training split)."""

    task: str
    classes: list[str]
    bands: list[int]
    dtype: str
    mean: list[float]
    std: list[float]
    train_counts: np.ndarray
    colors: dict[str, list[int]]


def chip_source(config: TrainConfig) -> tuple[DataInfo, dict[str, list[Sample]]]:
    """Chip folders: their description and the train / val / test samples, split by place."""
    data = config.data
    classes, samples = scan_chip_folders(data)
    splits = split_by_place(samples, data)
    stats = band_stats(splits["train"], data.bands)
    bands = list(data.bands) or list(range(1, stats.count + 1))
    log.info("chips: %s; classes: %s", ", ".join(f"{k} {len(v)}" for k, v in splits.items()), ", ".join(classes))
    counts = np.bincount([s.label for s in splits["train"]], minlength=len(classes))
    info = DataInfo("classification", classes, bands, stats.dtype, stats.mean, stats.std, counts, dict(data.colors))
    return info, splits


def scene_source(config: TrainConfig) -> tuple[DataInfo, SceneReader, dict[str, list[Block]]]:
    """Scenes with labels: their description, a window reader and the blocks of each split."""
    data = config.data
    pairs = scene_pairs(data)
    mapping = scene_mapping(data)
    blocks = split_blocks(pairs, data)
    reader = SceneReader(pairs, list(data.bands), mapping, data)
    mean, std, dtype, counts = window_stats(reader, blocks["train"], data.tile_size)
    with rasterio.open(pairs[0].image) as ds:
        bands = list(data.bands) or list(range(1, ds.count + 1))
    log.info("scene blocks: %s; classes: %s", ", ".join(f"{k} {len(v)}" for k, v in blocks.items()),
             ", ".join(mapping.class_names))
    colors = {**mapping.colors, **data.colors}
    info = DataInfo("segmentation", list(mapping.class_names), bands, dtype, mean, std, counts, colors)
    return info, reader, blocks


def _rgb(name: str, color: Sequence[int]) -> tuple[int, int, int]:
    """A class's colour (config, class mapping or palette_colour) as (r, g, b); ConfigError unless 3 values."""
    if len(color) != 3:
        raise ConfigError(f"the colour of class {name!r} must be [r, g, b], not {list(color)}")
    r, g, b = color
    return r, g, b


def training_card(config: TrainConfig, info: DataInfo, architecture: str, run: str, parameters: int,
                  extra: dict[str, Any]) -> ModelCard:
    """The model card of a trained model: classes, bands, normalisation and provenance.

    Raises:
        ConfigError: a class colour is not [r, g, b].
    """
    data = config.data
    colors = [_rgb(c, info.colors.get(c, palette_colour(i))) for i, c in enumerate(info.classes)]
    kwargs = {k: v for k, v in config.model.kwargs.items() if k not in ("pretrained", "pretrained_cfg_overlay")}
    margin = data.receptive_margin if data.receptive_margin is not None else data.tile_size // 8
    return ModelCard(
        architecture=architecture, task=info.task, class_names=tuple(info.classes),
        receptive_margin=margin if info.task == "segmentation" else 0,
        class_colors=tuple(colors), bands=tuple(info.bands), band_names=tuple(data.band_names),
        mean=tuple(info.mean), std=tuple(info.std), tile_size=data.tile_size, dtype=info.dtype,
        gsd=data.gsd, arch_kwargs=kwargs, reflectance_scale=data.reflectance_scale,
        value_range=(float(data.value_range[0]), float(data.value_range[1])) if data.value_range else None,
        radiometry=data.radiometry,
        provenance={"run": run, "data": data.path or [s["image"] for s in data.scenes],
                    "split": data.split if data.source == "chips" else f"blocks of {data.block_size} px",
                    "parameters": parameters, **extra})
