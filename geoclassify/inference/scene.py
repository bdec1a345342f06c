"""The model's scene policy: check a scene's bands and dtype against a model card, and decide its working
grid (native, or resampled to the model's GSD)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import DatasetReader
from rasterio.warp import calculate_default_transform

from geoclassify.errors import IncompatibleSceneError
from geoclassify.geo.grid import Grid
from geoclassify.geo.units import ground_units, pixel_size_metres
from geoclassify.io.raster import Scene, georeferencing, open_dataset
from geoclassify.models.card import ModelCard

log = logging.getLogger("geoclassify")

GSD_TOLERANCE = 0.05  # relative difference of pixel size tolerated without resampling
NOMINAL_SCALE_TOLERANCE = 0.01  # a projection this close to true scale counts its metres as ground metres


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


def check_palette(dataset: DatasetReader, bands: tuple[int, ...], path: str) -> None:
    """Refuse colour-table indices as reflectance.

    Raises:
        IncompatibleSceneError: a selected band is a palette band, with the GDAL command that expands it.
    """
    palette = [b for b in bands if 1 <= b <= dataset.count and dataset.colorinterp[b - 1] == ColorInterp.palette]
    if palette:
        expand = "rgba" if has_alpha_entries(dataset, palette[0]) else "rgb"
        raise IncompatibleSceneError(
            f"{path} band {palette[0]} holds colour-table (palette) indices, not reflectance: expand it to "
            f"{expand.upper()} first, e.g. gdal_translate -expand {expand} {path} {Path(path).stem}_{expand}.tif"
        )


def has_alpha_entries(dataset: DatasetReader, band: int) -> bool:
    """True when `band`'s colour table has transparent entries."""
    try:
        return any(entry[3] < 255 for entry in dataset.colormap(band).values())
    except ValueError:  # no colour table
        return False


def ground_pixel_size(grid: Grid) -> tuple[float, float] | None:
    """The pixel size (x, y) in ground metres that the GSD policy compares with a model's GSD, or None without
    a CRS.

    Geodesic at the scene's centre (geoclassify.geo.units), except that a projected CRS whose scale there is
    within NOMINAL_SCALE_TOLERANCE of 1 (UTM, national grids) counts its metres as ground metres, so a scene
    resampled to 10 m keeps the 10 m grid of the products it is compared with.
    """
    size = pixel_size_metres(grid)
    units = ground_units(grid.crs)
    if size is None or units is None or units.geographic:
        return size
    nominal = (grid.res[0] * units.factor, grid.res[1] * units.factor)
    if all(abs(g / n - 1) <= NOMINAL_SCALE_TOLERANCE for g, n in zip(size, nominal)):
        return nominal
    return size


def working_scale(grid: Grid, size: tuple[float, float], gsd: float) -> tuple[float, float]:
    """How many native pixels (x, y) one working pixel of `gsd` ground metres spans, given the native pixel's
    ground size (x, y). Where the projection stretches both axes alike at the scene (within
    NOMINAL_SCALE_TOLERANCE: Web Mercator, UTM), one factor for both, from their mean: pixels square in CRS
    units stay square. Otherwise (a geographic CRS away from the equator) each axis its own."""
    (res_x, res_y), (size_x, size_y) = grid.res, size
    if abs((size_x / size_y) / (res_x / res_y) - 1) <= NOMINAL_SCALE_TOLERANCE:
        scale = gsd / ((size_x + size_y) / 2)
        return scale, scale
    return gsd / size_x, gsd / size_y


def georeferenced_grid(dataset: DatasetReader, kind: str) -> Grid:
    """The grid the scene's pixels lie on: the file's own, or for GCP- and RPC-only files the north-up grid
    GDAL's warper suggests at about their native resolution (as gdalwarp does)."""
    if kind == "transform":
        return Grid.from_dataset(dataset)
    if kind == "gcps":
        gcps, crs = dataset.gcps
        transform, width, height = calculate_default_transform(crs, crs, dataset.width, dataset.height, gcps=gcps)
    else:
        crs = CRS.from_epsg(4326)
        transform, width, height = calculate_default_transform(crs, crs, dataset.width, dataset.height,
                                                               rpcs=dataset.rpcs)
    return Grid(height, width, transform, crs)


def open_scene(path: str | os.PathLike, card: ModelCard, bands: tuple[int, ...] | None = None,
               resample: bool = True) -> Scene:
    """Validate a scene for a model and decide its working grid.

    The working grid is north-up and east-right where the scene's axes allow (south-up and east-left scenes
    are read with their rows or columns reversed, exactly), in the scene's own frame otherwise (rotated and
    sheared scenes keep their rotation), at the model's GSD in ground metres (ground_pixel_size). GCP- and
    RPC-only scenes are warped onto the grid GDAL suggests for them, in the GCPs' CRS or EPSG:4326 for RPCs.

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
        IncompatibleSceneError: its bands or dtype do not fit the model, or a band is a colour-table index.
    """
    bands = tuple(bands) if bands else card.bands
    with open_dataset(path) as ds:
        check_palette(ds, bands, str(path))
        dtype = check_bands(ds, bands, card, str(path))
        kind = georeferencing(ds)
        native = Grid(ds.height, ds.width, ds.transform, ds.gcps[1] if kind == "gcps" else ds.crs or None)
        frame = georeferenced_grid(ds, kind)
    if kind != "transform":
        log.info("%s is georeferenced by its %s only: warped to a north-up grid in %s", path,
                 "GCPs" if kind == "gcps" else "RPCs", frame.crs)
    elif native.crs is None:
        log.warning("%s has no CRS: the output will have no CRS either", path)
    flips = (False, False) if native.transform.is_identity else frame.flips  # no geotransform: pixel order is all
    if any(flips):  # flipped before resampling: the working grid starts at the north-west corner, as the twin's
        frame = frame.flipped(*flips)
        log.info("%s is %s: read in north-up, east-right order", path,
                 " and ".join(name for name, flip in zip(("south-up", "east-left"), flips) if flip))
    grid, resampling = frame, None if kind == "transform" else Resampling.bilinear
    size = ground_pixel_size(frame)
    if card.gsd and size is not None:
        mean_size = (size[0] + size[1]) / 2
        if abs(mean_size / card.gsd - 1) > GSD_TOLERANCE:
            if resample:
                grid = frame.resampled(*working_scale(frame, size, card.gsd))
                resampling = Resampling.average if mean_size < card.gsd else Resampling.bilinear
                log.info("resampling %s from %.3g m to the model's %.3g m pixels (%dx%d -> %dx%d)",
                         path, mean_size, card.gsd, frame.width, frame.height, grid.width, grid.height)
            else:
                log.warning("%s has %.3g m pixels, the model expects %.3g m; --no-resample keeps them",
                            path, mean_size, card.gsd)
    elif card.gsd and size is None:
        log.warning("%s has no CRS, so its pixel size is unknown: not resampled to %.3g m", path, card.gsd)
    return Scene(str(path), bands, native, grid, dtype, resampling, flips if resampling is None else (False, False),
                 kind)
