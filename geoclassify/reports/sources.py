"""Labelled chips to evaluate, benchmark or calibrate on: a training config's split, or a chip folder.

A training config (YAML, `data.source: chips`) gives the same split by place as training, so
`split="test"` is the held-out test set; a folder of class folders gives all its chips.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from geoclassify.errors import ConfigError, IncompatibleSceneError
from geoclassify.models.card import ModelCard

log = logging.getLogger("geoclassify")


class ClassMismatchError(ConfigError):
    """The data's class names are not the model's."""


@dataclass(frozen=True)
class ChipSet:
    """Labelled chips: the class names, each chip's path and class index (labels: (n,) int), and what they are."""

    class_names: list[str]
    paths: list[str]
    labels: np.ndarray
    description: str


def _data_config(source: str):
    """The DataConfig of a training config file, or of a plain chip folder (every chip its own place)."""
    from geoclassify.training.config import DataConfig, load_config

    path = Path(source)
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        data = load_config(path).data
        if data.source != "chips":
            raise ConfigError(f"{source} is a data.source {data.source!r} config; --data takes chip configs or "
                              "chip folders (for a scene use --data SCENE --labels LABELS)")
        return data, True
    if path.is_dir():
        return DataConfig(path=str(path), split="name"), False
    raise ConfigError(f"--data {source} is neither a training config (.yaml) nor a folder of class folders")


def load_chip_set(source: str, split: str = "test") -> ChipSet:
    """The chips of `source`: the `split` ("train", "val", "test") of a config, or every chip of a folder."""
    from geoclassify.training.chips import scan_chip_folders, split_by_place

    data, is_config = _data_config(source)
    classes, samples = scan_chip_folders(data)
    if is_config:
        samples = split_by_place(samples, data)[split]
        what = f"{split} split (by place) of {source}"
    else:
        what = f"all chips of {source}"
    labels = np.asarray([s.label for s in samples], dtype=np.int64)
    return ChipSet(classes, [s.path for s in samples], labels, f"{what}: {len(samples)} chips")


def align_classes(data_classes: list[str] | tuple[str, ...], card: ModelCard, where: str) -> np.ndarray:
    """For each class index of the data, the model's index of the same class name. The data may hold some of the
    model's classes (labelled chips of 2 of a 30-class model's classes); a name the model lacks is refused."""
    unknown = [name for name in data_classes if name not in card.class_names]
    if unknown:
        raise ClassMismatchError(f"the classes {unknown} of {where} {list(data_classes)} are not the model's "
                                 f"{list(card.class_names)}; use data labelled with the model's classes")
    return np.asarray([card.class_names.index(name) for name in data_classes], dtype=np.int64)


def model_chip_set(source: str, card: ModelCard, split: str, where: str) -> ChipSet:
    """The chips of `source` with labels as the model's class indexes (matched by class name)."""
    chips = load_chip_set(source, split)
    order = align_classes(chips.class_names, card, where)
    return ChipSet(list(card.class_names), chips.paths, order[chips.labels], chips.description)


def read_chip(path: str, card: ModelCard) -> np.ndarray:
    """One chip as (bands, h, w) raw pixels in the model's band order; its size must be the model's."""
    from geoclassify.training.chips import read_image

    image = read_image(path, list(card.bands))
    if image.shape[0] != card.tile_size or image.shape[1] != card.tile_size:
        raise IncompatibleSceneError(f"chip {path} is {image.shape[1]}x{image.shape[0]} pixels but the model takes "
                                     f"{card.tile_size}x{card.tile_size} chips; use chips of the model's size")
    return image.transpose(2, 0, 1)


def chip_batches(chips: ChipSet, card: ModelCard, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(raw pixels (n, bands, h, w), labels) batches; unreadable chips are logged and left out."""
    for start in range(0, len(chips.paths), batch_size):
        images, labels = [], []
        for path, label in zip(chips.paths[start : start + batch_size], chips.labels[start : start + batch_size]):
            try:
                images.append(read_chip(path, card))
            except IncompatibleSceneError:
                raise
            except (OSError, ValueError) as exc:
                log.warning("skipped unreadable chip %s: %s", path, exc)
                continue
            labels.append(label)
        if images:
            yield np.stack(images), np.asarray(labels, dtype=np.int64)


def load_chip_arrays(chips: ChipSet, card: ModelCard, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Up to `limit` chips (evenly spread over the set) as one array, with their labels."""
    if limit is not None and limit < len(chips.paths):
        picked = np.linspace(0, len(chips.paths) - 1, limit).astype(int)
        chips = ChipSet(chips.class_names, [chips.paths[i] for i in picked], chips.labels[picked], chips.description)
    parts = list(chip_batches(chips, card, 256))
    if not parts:
        raise ConfigError(f"no chip of {chips.description} could be read")
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def predict_chips(predictor, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class probabilities (n, classes) of raw chips, `batch_size` at a time."""
    parts = [predictor.predict(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(parts)
