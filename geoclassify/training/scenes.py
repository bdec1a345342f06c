"""Scenes with label rasters: random windows from spatial blocks, labels reprojected on the fly.

No torch here: the PyTorch and Keras trainers both read their windows through `SceneReader`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geoclassify.errors import ConfigError, InputError
from geoclassify.geo.grid import Grid
from geoclassify.io.gdal_cache import bound_gdal_cache_in_this_process
from geoclassify.io.raster import open_dataset
from geoclassify.training.band_stats import RunningBandStats
from geoclassify.training.class_mapping import IGNORE, ClassMapping, load_class_mapping
from geoclassify.training.config import DataConfig
from geoclassify.training.polygons import PolygonLabels
from geoclassify.training.splits import split_groups

log = logging.getLogger("geoclassify")


LABEL_KINDS = ("labels", "polygons", "mask")  # label raster of codes, label polygons, colour mask


@dataclass(frozen=True)
class ScenePair:
    """A scene and its labels: a label raster of codes, label polygons or a colour mask (`kind`, see LABEL_KINDS)."""

    image: str
    labels: str
    kind: str = "labels"


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
    """Whether two open rasters share CRS, transform and shape: pixel (row, col) is the same place in both."""
    return a.crs == b.crs and a.transform.almost_equals(b.transform) and a.shape == b.shape


def check_overlap(image, labels, pair: ScenePair) -> None:
    """Refuse a label raster that does not overlap its scene."""
    if same_grid(image, labels):
        return
    if image.crs is None and labels.crs is None and image.transform.is_identity:
        raise InputError(f"{pair.labels} ({labels.width}x{labels.height}) and {pair.image} ({image.width}x"
                         f"{image.height}) have no georeferencing and different sizes; they cannot be aligned")
    if (image.crs is None) != (labels.crs is None):
        raise InputError(f"{pair.labels} and {pair.image}: one has a CRS and the other not; cannot align them")
    bounds = labels.bounds
    if image.crs is not None and labels.crs != image.crs:
        bounds = transform_bounds(labels.crs, image.crs, *bounds)
    if not overlaps(image.bounds, bounds):
        raise InputError(f"label raster {pair.labels} does not overlap scene {pair.image}")


def overlaps(scene_bounds, bounds) -> bool:
    """Whether (left, bottom, right, top) `bounds` (None: empty) overlap a scene's bounds."""
    if bounds is None:
        return False
    ib = scene_bounds
    return not (bounds[0] >= ib.right or bounds[2] <= ib.left or min(bounds[1], bounds[3]) >= max(ib.top, ib.bottom)
                or max(bounds[1], bounds[3]) <= min(ib.top, ib.bottom))


def scene_pairs(data: DataConfig) -> list[ScenePair]:
    """The configured (image, labels) pairs, checked: files open and labels overlap their scene."""
    if not data.scenes:
        raise ConfigError("data.source scene needs data.scenes: a list of {image: ..., labels|polygons|mask: ...}")
    if any(isinstance(item, dict) and "polygons" in item for item in data.scenes) and len(data.polygon_classes) < 2:
        raise ConfigError("label polygons need data.polygon_classes: the class names, the first for the background")
    pairs = []
    for item in data.scenes:
        kinds = [k for k in LABEL_KINDS if isinstance(item, dict) and k in item]
        if not isinstance(item, dict) or len(kinds) != 1 or set(item) != {"image", kinds[0]}:
            raise ConfigError(f"each data.scenes entry needs image and one of labels, polygons, mask; got {item!r}")
        pair = ScenePair(str(item["image"]), str(item[kinds[0]]), kinds[0])
        with open_dataset(pair.image) as image:
            if pair.kind == "polygons":
                if not overlaps(image.bounds, polygon_labels(pair, image.crs, data).bounds):
                    raise InputError(f"label polygons {pair.labels} do not overlap scene {pair.image}")
            else:
                with open_dataset(pair.labels) as labels:
                    check_overlap(image, labels, pair)
        pairs.append(pair)
    if any(p.kind == "labels" for p in pairs) and not data.class_mapping:
        raise ConfigError("label rasters need data.class_mapping (label codes -> classes)")
    if any(p.kind == "mask" for p in pairs) and len(data.mask_colors) < 2:
        raise ConfigError("colour masks need data.mask_colors: class name -> [r, g, b], for two classes or more")
    return pairs


def polygon_labels(pair: ScenePair, crs, data: DataConfig) -> PolygonLabels:
    """The label polygons of a pair, in the scene's `crs`, with the configured classes and class field.

    Raises:
        InputError: the polygons cannot be read, or name a class that is not configured.
        ConfigError: the polygons lack `data.class_field`.
    """
    return PolygonLabels(pair.labels, crs, list(data.polygon_classes), data.class_field)


def scene_mapping(data: DataConfig) -> ClassMapping:
    """The class mapping of label rasters; for polygons and colour masks (already class indexes) the identity."""
    if data.class_mapping:
        return load_class_mapping(data.class_mapping)
    names = list(data.polygon_classes) or list(data.mask_colors)
    lut = np.full(256, -1, dtype=np.int16)
    lut[: len(names)] = np.arange(len(names))
    lut[IGNORE] = IGNORE
    colors = {**{k: list(v) for k, v in data.mask_colors.items()}, **data.colors}
    return ClassMapping(tuple(names), colors, lut)


def mask_classes(rgb: np.ndarray, data: DataConfig, where: str) -> np.ndarray:
    """(3, h, w) colour mask -> class indexes; ignore colours -> IGNORE; unknown colours are an error."""
    code = (rgb[0].astype(np.int64) << 16) | (rgb[1].astype(np.int64) << 8) | rgb[2]
    table = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(data.mask_colors.values())}
    table.update({(r << 16) | (g << 8) | b: IGNORE for r, g, b in data.ignore_colors})
    values, inverse = np.unique(code, return_inverse=True)
    unknown = [v for v in values.tolist() if v not in table]
    if unknown:
        colours = [[v >> 16, (v >> 8) & 255, v & 255] for v in unknown[:10]]
        raise InputError(f"{where}: mask colours {colours} are not in data.mask_colors or data.ignore_colors")
    return np.array([table[v] for v in values.tolist()], dtype=np.uint8)[inverse].reshape(code.shape)


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

    def __init__(self, pairs: list[ScenePair], bands: list[int], mapping: ClassMapping, data: DataConfig | None = None):
        self.pairs, self.bands, self.mapping, self.data = pairs, bands, mapping, data
        self._open: dict[int, tuple] = {}
        self._pid = os.getpid()

    def _data_config(self, pair: ScenePair) -> DataConfig:
        """The data config, which label polygons and colour masks need (their classes and colours)."""
        if self.data is None:
            raise ConfigError(f"{pair.labels}: label polygons and colour masks need the data config "
                              "(data.polygon_classes, data.mask_colors), and this scene reader was given none")
        return self.data

    def _datasets(self, scene: int):
        if self._pid != os.getpid():  # a forked DataLoader worker: the parent's open files share their file offsets
            self._open, self._pid = {}, os.getpid()  # with it and every other worker, so reads would corrupt
        if scene not in self._open:
            bound_gdal_cache_in_this_process()  # workers too
            pair = self.pairs[scene]
            image = rasterio.open(pair.image)
            if pair.kind == "polygons":
                self._open[scene] = (image, polygon_labels(pair, image.crs, self._data_config(pair)))
                return self._open[scene]
            labels = rasterio.open(pair.labels)
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
        pair = self.pairs[scene]
        if pair.kind == "polygons":
            codes = labels.read(image.transform, window)
        elif pair.kind == "mask":
            codes = mask_classes(labels.read([1, 2, 3], window=window), self._data_config(pair), pair.labels)
        else:
            codes = labels.read(1, window=window, boundless=False)
        classes = self.mapping.apply(codes, where=pair.labels)
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
        out.append((b.scene, b.row + int(rng.integers(0, b.height - size + 1)),
                    b.col + int(rng.integers(0, b.width - size + 1))))
    return out


def window_stats(reader: SceneReader, blocks: list[Block], size: int,
                 n: int = 64) -> tuple[list[float], list[float], str, np.ndarray]:
    """Band mean/std, dtype and class pixel counts from up to `n` training windows."""
    rng = np.random.default_rng(0)
    stats, counts = RunningBandStats(), np.zeros(len(reader.mapping.class_names), dtype=np.int64)
    for scene, row, col in random_windows(blocks, size, n, rng):
        pixels, classes = reader.read(scene, row, col, size)
        stats.add(pixels)
        counts += np.bincount(classes[classes != IGNORE], minlength=len(counts))
    mean, std = stats.result()
    return mean, std, stats.dtype, counts
