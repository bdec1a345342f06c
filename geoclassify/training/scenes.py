"""Scenes with label rasters: random windows from spatial blocks, labels reprojected on the fly."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import torch
import torch.multiprocessing as mp
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from torch.utils.data import IterableDataset, get_worker_info

from geoclassify.errors import ConfigError, InputError
from geoclassify.geo.grid import Grid
from geoclassify.io.scene import open_dataset
from geoclassify.training.augment import build_augment
from geoclassify.training.class_mapping import IGNORE, ClassMapping
from geoclassify.training.config import DataConfig
from geoclassify.training.splits import split_groups

log = logging.getLogger("geoclassify")


@dataclass(frozen=True)
class ScenePair:
    image: str
    labels: str


@dataclass(frozen=True)
class Block:
    """A square block of one scene: the unit that goes whole to one split."""

    scene: int
    row: int
    col: int
    height: int
    width: int
    group: str


def same_grid(a, b) -> bool:
    return a.crs == b.crs and a.transform.almost_equals(b.transform) and a.shape == b.shape


def check_overlap(image, labels, pair: ScenePair) -> None:
    """Refuse a label raster that does not overlap its scene."""
    if same_grid(image, labels):
        return
    if (image.crs is None) != (labels.crs is None):
        raise InputError(f"{pair.labels} and {pair.image}: one has a CRS and the other not; cannot align them")
    bounds = labels.bounds
    if image.crs is not None and labels.crs != image.crs:
        bounds = transform_bounds(labels.crs, image.crs, *bounds)
    ib = image.bounds
    if bounds[0] >= ib.right or bounds[2] <= ib.left or min(bounds[1], bounds[3]) >= max(ib.top, ib.bottom) \
            or max(bounds[1], bounds[3]) <= min(ib.top, ib.bottom):
        raise InputError(f"label raster {pair.labels} does not overlap scene {pair.image}")


def scene_pairs(data: DataConfig) -> list[ScenePair]:
    if not data.scenes:
        raise ConfigError("data.source scene needs data.scenes: a list of {image: ..., labels: ...}")
    if not data.class_mapping:
        raise ConfigError("data.source scene needs data.class_mapping (label codes -> classes)")
    pairs = []
    for item in data.scenes:
        if not isinstance(item, dict) or set(item) != {"image", "labels"}:
            raise ConfigError(f"each data.scenes entry needs exactly image and labels, got {item!r}")
        pair = ScenePair(str(item["image"]), str(item["labels"]))
        with open_dataset(pair.image) as image, open_dataset(pair.labels) as labels:
            check_overlap(image, labels, pair)
        pairs.append(pair)
    return pairs


def split_blocks(pairs: list[ScenePair], data: DataConfig) -> dict[str, list[Block]]:
    """Cut each scene into blocks and send each block whole to train, validation or test."""
    size = data.block_size
    if size < data.tile_size:
        raise ConfigError(f"data.block_size {size} must be at least data.tile_size {data.tile_size}")
    blocks = []
    for i, pair in enumerate(pairs):
        with rasterio.open(pair.image) as ds:
            grid = Grid.from_dataset(ds)
        for row in range(0, grid.height - data.tile_size + 1, size):
            for col in range(0, grid.width - data.tile_size + 1, size):
                group = f"{Path(pair.image).stem}/{row // size}/{col // size}"
                blocks.append(Block(i, row, col, min(size, grid.height - row), min(size, grid.width - col), group))
    return split_groups(blocks, [b.group for b in blocks], data, "use a smaller data.block_size or other fractions")


class SceneReader:
    """Reads image and label windows of scene pairs; labels are warped onto the image grid if needed."""

    def __init__(self, pairs: list[ScenePair], bands: list[int], mapping: ClassMapping):
        self.pairs, self.bands, self.mapping = pairs, bands, mapping
        self._open: dict[int, tuple] = {}

    def _datasets(self, scene: int):
        if scene not in self._open:
            pair = self.pairs[scene]
            image, labels = rasterio.open(pair.image), rasterio.open(pair.labels)
            if not same_grid(image, labels):
                labels = WarpedVRT(labels, crs=image.crs, transform=image.transform, width=image.width,
                                   height=image.height, resampling=Resampling.nearest)
            self._open[scene] = (image, labels)
        return self._open[scene]

    def read(self, scene: int, row: int, col: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(height, width, bands) image and (height, width) class indexes (IGNORE where unlabelled)."""
        image, labels = self._datasets(scene)
        window = Window(col, row, size, size)
        pixels = image.read(self.bands or None, window=window).transpose(1, 2, 0)
        codes = labels.read(1, window=window, boundless=False)
        classes = self.mapping.apply(codes, where=self.pairs[scene].labels)
        classes[~(image.read_masks(1, window=window) > 0)] = IGNORE
        return pixels, classes


def block_windows(blocks: list[Block], size: int) -> list[tuple[int, int, int]]:
    """Non-overlapping windows that fit in each block (for a fixed validation / test set)."""
    return [(b.scene, b.row + r, b.col + c) for b in blocks
            for r in range(0, b.height - size + 1, size) for c in range(0, b.width - size + 1, size)]


def random_windows(blocks: list[Block], size: int, count: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """`count` windows at random positions inside blocks chosen in proportion to their area."""
    areas = np.array([(b.height - size + 1) * (b.width - size + 1) for b in blocks], dtype=float)
    picks = rng.choice(len(blocks), size=count, p=areas / areas.sum())
    out = []
    for i in picks:
        b = blocks[i]
        out.append((b.scene, b.row + int(rng.integers(0, b.height - size + 1)), b.col + int(rng.integers(0, b.width - size + 1))))
    return out


class SceneWindowStream(IterableDataset):
    """Streams (image, label map) windows; training windows are drawn anew each epoch."""

    def __init__(self, reader: SceneReader, blocks: list[Block], size: int, mean: list[float], std: list[float], *,
                 count: int | None, augment: bool, min_labelled: float, seed: int = 0):
        self.reader, self.blocks, self.size, self.count = reader, blocks, size, count
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.augment, self.min_labelled, self.seed = augment, min_labelled, seed
        self._epoch = mp.Value("i", 0)
        self._fixed = block_windows(blocks, size) if count is None else None

    def set_epoch(self, epoch: int) -> None:
        self._epoch.value = epoch

    def __len__(self) -> int:
        return self.count if self.count is not None else len(self._fixed)

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        epoch = self._epoch.value
        windows = self._fixed if self._fixed is not None else random_windows(
            self.blocks, self.size, self.count, np.random.default_rng([self.seed, epoch]))
        augment = build_augment(seed=self.seed * 1_000_003 + epoch * 1009 + worker) if self.augment else None
        for scene, row, col in windows[worker::workers]:
            pixels, classes = self.reader.read(scene, row, col, self.size)
            if (classes != IGNORE).mean() < self.min_labelled:
                yield ("skip", f"window {row},{col} of {self.reader.pairs[scene].image}: too few labelled pixels")
                continue
            if augment is not None:
                out = augment(image=pixels, mask=classes)
                pixels, classes = out["image"], out["mask"]
            x = (pixels.astype(np.float32) - self.mean) / self.std
            yield (torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
                   torch.from_numpy(np.ascontiguousarray(classes).astype(np.int64)))


def window_stats(reader: SceneReader, blocks: list[Block], size: int, n: int = 64) -> tuple[list[float], list[float], str, np.ndarray]:
    """Band mean/std, dtype and class pixel counts from up to `n` training windows."""
    rng = np.random.default_rng(0)
    arrays, counts = [], np.zeros(len(reader.mapping.class_names), dtype=np.int64)
    for scene, row, col in random_windows(blocks, size, n, rng):
        pixels, classes = reader.read(scene, row, col, size)
        arrays.append(pixels.reshape(-1, pixels.shape[2]))
        counts += np.bincount(classes[classes != IGNORE], minlength=len(counts))
    stacked = np.concatenate(arrays)
    dtype = stacked.dtype.name
    stacked = stacked.astype(np.float64)
    return stacked.mean(0).tolist(), np.maximum(stacked.std(0), 1e-6).tolist(), dtype, counts
