"""Open a scene, check it against a model card and decide the working grid (native or resampled)."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError

from geoclassify.errors import IncompatibleSceneError, InputError
from geoclassify.geo.grid import Grid
from geoclassify.models.card import ModelCard

log = logging.getLogger("geoclassify")

GSD_TOLERANCE = 0.05  # relative difference of pixel size tolerated without resampling
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Scene:
    """What the reader needs: a path, the bands to read, the working grid and how to resample."""

    path: str
    bands: tuple[int, ...]
    native: Grid
    grid: Grid
    dtype: str
    resampling: Resampling | None  # None: read the native grid as it is

    @property
    def resampled(self) -> bool:
        return self.resampling is not None


def open_dataset(path: str | os.PathLike):
    """rasterio.open with errors that say what is wrong with the file."""
    path = str(path)
    if not path.startswith("/vsi") and not Path(path).exists():
        raise InputError(f"input file not found: {path}")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"cannot open {path} as a raster (not a raster, or damaged): {exc}") from None


def pixel_size_metres(grid: Grid) -> tuple[float, float] | None:
    """The grid's pixel size in metres, or None without a CRS."""
    if grid.crs is None:
        return None
    rx, ry = grid.res
    if grid.crs.is_geographic:
        lat = grid.transform.f + grid.transform.e * grid.height / 2
        return rx * METRES_PER_DEGREE * math.cos(math.radians(lat)), ry * METRES_PER_DEGREE
    factor = grid.crs.linear_units_factor[1]
    return rx * factor, ry * factor


def check_bands(dataset, bands: tuple[int, ...], card: ModelCard, path: str) -> str:
    """Refuse a scene whose bands or dtype do not fit the model; return the scene dtype."""
    expected = f"the model expects {card.in_channels} band(s) {list(card.bands)} of {card.dtype}"
    if len(bands) != card.in_channels:
        raise IncompatibleSceneError(f"{expected}, but {len(bands)} band(s) {list(bands)} were selected")
    missing = [b for b in bands if b < 1 or b > dataset.count]
    if missing:
        raise IncompatibleSceneError(
            f"{expected}; {path} has {dataset.count} band(s), so band(s) {missing} do not exist (use --bands)"
        )
    dtypes = {dataset.dtypes[b - 1] for b in bands}
    if dtypes != {card.dtype}:
        raise IncompatibleSceneError(f"{expected}; {path} has {'/'.join(sorted(dtypes))} data")
    return card.dtype


def open_scene(path: str | os.PathLike, card: ModelCard, bands: tuple[int, ...] | None = None, resample: bool = True) -> Scene:
    """Validate a scene for a model and decide its working grid."""
    bands = tuple(bands) if bands else card.bands
    with open_dataset(path) as ds:
        dtype = check_bands(ds, bands, card, str(path))
        native = Grid.from_dataset(ds)
    if native.crs is None:
        log.warning("%s has no CRS: the output will have no CRS either", path)
    grid, resampling = native, None
    size = pixel_size_metres(native)
    if card.gsd and size is not None:
        mean_size = (size[0] + size[1]) / 2
        if abs(mean_size / card.gsd - 1) > GSD_TOLERANCE:
            if resample:
                sx, sy = native.res
                grid = native.resampled(sx * card.gsd / size[0], sy * card.gsd / size[1])
                resampling = Resampling.average if mean_size < card.gsd else Resampling.bilinear
                log.info("resampling %s from %.3g m to the model's %.3g m pixels (%dx%d -> %dx%d)",
                         path, mean_size, card.gsd, native.width, native.height, grid.width, grid.height)
            else:
                log.warning("%s has %.3g m pixels, the model expects %.3g m; --no-resample keeps them",
                            path, mean_size, card.gsd)
    elif card.gsd and size is None:
        log.warning("%s has no CRS, so its pixel size is unknown: not resampled to %.3g m", path, card.gsd)
    return Scene(str(path), bands, native, grid, dtype, resampling)
