"""The model's scene policy: check a scene's bands and dtype against a model card, and decide its working
grid (native, or resampled to the model's GSD)."""

from __future__ import annotations

import logging
import os

from rasterio.enums import Resampling
from rasterio.io import DatasetReader

from geoclassify.errors import IncompatibleSceneError
from geoclassify.geo.grid import Grid
from geoclassify.geo.units import pixel_size_metres
from geoclassify.io.raster import Scene, open_dataset
from geoclassify.models.card import ModelCard

log = logging.getLogger("geoclassify")

GSD_TOLERANCE = 0.05  # relative difference of pixel size tolerated without resampling


def check_bands(dataset: DatasetReader, bands: tuple[int, ...], card: ModelCard, path: str) -> str:
    """Refuse a scene whose bands or dtype do not fit the model; return the scene dtype.

    Raises:
        IncompatibleSceneError: the number of bands differs from the model's, a band does not exist, or the
            bands' dtype is not the model's.
    """
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


def open_scene(path: str | os.PathLike, card: ModelCard, bands: tuple[int, ...] | None = None,
               resample: bool = True) -> Scene:
    """Validate a scene for a model and decide its working grid.

    Args:
        path: the scene (any raster GDAL opens).
        card: the model's card (bands, dtype, GSD in metres).
        bands: the scene's bands to feed the model, 1-based, in the model's order (default: the card's).
        resample: resample to the model's GSD when the scene's ground pixel differs by more than
            GSD_TOLERANCE (5 %): averaging when coarsening, bilinear when refining.

    Returns:
        The scene's read plan (native and working grids).

    Raises:
        InputError: the file is missing or not a raster.
        IncompatibleSceneError: its bands or dtype do not fit the model.
    """
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
