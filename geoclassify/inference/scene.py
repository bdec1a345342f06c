"""The model's scene policy: check a scene's bands and dtype against a model card, and decide its working
grid (native, or resampled to the model's GSD)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import DatasetReader
from rasterio.warp import calculate_default_transform

from geoclassify.errors import ConfigError, IncompatibleSceneError
from geoclassify.geo.grid import Grid
from geoclassify.io.bands import find_bands, has_named_bands
from geoclassify.io.radiometry import PRODUCTS, dataset_radiometry, share_in_range
from geoclassify.io.raster import BandValues, Scene, georeferencing, open_dataset
from geoclassify.io.remote import remote_read_env
from geoclassify.io.sources import SceneArg, SceneInput, resolve_scene
from geoclassify.models.card import ModelCard

log = logging.getLogger("geoclassify")

GSD_TOLERANCE = 0.05  # relative difference of pixel size tolerated without resampling
NOMINAL_SCALE_TOLERANCE = 0.01  # a projection this close to true scale counts its metres as ground metres


def check_band_count(dataset: DatasetReader, bands: tuple[int, ...], card: ModelCard, path: str) -> None:
    """Refuse a selection of bands that is not the model's number of bands, or names a band the scene lacks.

    Raises:
        IncompatibleSceneError: the number of bands differs from the model's, or a band does not exist.
    """
    expected = f"the model expects {card.in_channels} band(s) {list(card.band_names or card.bands)}"
    if len(bands) != card.in_channels:
        raise IncompatibleSceneError(f"{expected}, but {len(bands)} band(s) {list(bands)} were selected")
    missing = [b for b in bands if b < 1 or b > dataset.count]
    if missing:
        raise IncompatibleSceneError(
            f"{expected}; {path} has {dataset.count} band(s), so band(s) {missing} do not exist (use --bands)"
        )


def select_bands(dataset: DatasetReader, bands: tuple[int | str, ...] | None, card: ModelCard,
                 path: str) -> tuple[int, ...]:
    """The scene's bands (1-based) to feed the model, in its order: `bands` as numbers, or found by name (names
    given, or the card's band names where the scene names its bands: description, colour interpretation, STAC
    common name); the card's band numbers for a scene whose bands have no names.

    Raises:
        IncompatibleSceneError: a name matches no band (or several), the wrong number of bands, a band number
            the scene does not have, or a colour-table band.
    """
    if bands and all(isinstance(b, int) for b in bands):
        chosen = tuple(int(b) for b in bands)
    elif bands:
        chosen = find_bands(dataset, tuple(str(b) for b in bands), path)
    elif card.band_names and has_named_bands(dataset):
        chosen = find_bands(dataset, card.band_names, path)
        if chosen != card.bands:
            log.info("%s: bands %s are the model's %s", path, list(chosen), ", ".join(card.band_names))
    else:
        chosen = card.bands
    check_palette(dataset, chosen, path)
    check_band_count(dataset, chosen, card, path)
    return chosen


def input_values(dataset: DatasetReader, bands: tuple[int, ...], card: ModelCard, source: SceneInput,
                 product: str | None) -> tuple[str, tuple[BandValues, ...] | None]:
    """The bands' raw dtype and how their raw values become the model's input values (None: as they are).

    A model that takes reflectance (card.reflectance_scale) gets it from the product's digital numbers (the
    `product` named by the user, the bands' scale/offset tags, or a product the scene names: see
    geoclassify.io.radiometry.dataset_radiometry), or the raw values when the scene's dtype is the card's and no
    radiometry is known (8-bit true colour, as it is). A model that takes raw values gets them, of its dtype.

    Raises:
        IncompatibleSceneError: the raw dtype is not the model's and no radiometry is known, the bands differ in
            dtype, or no sampled data pixel is in the radiometry's valid range (the wrong product).
        ConfigError: `product` given for a model that takes raw values, or an unknown product.
    """
    dtypes = {dataset.dtypes[b - 1] for b in bands}
    if len(dtypes) > 1:
        raise IncompatibleSceneError(f"{source.name}: the model's bands {list(bands)} differ in data type "
                                     f"({'/'.join(sorted(dtypes))})")
    dtype = dtypes.pop()
    if card.reflectance_scale is None:
        if product:
            raise ConfigError(f"--product {product}: the model takes the scene's raw {card.dtype} values, not "
                              "reflectance; leave --product out")
        if dtype != card.dtype:
            raise IncompatibleSceneError(f"the model expects {card.in_channels} band(s) of {card.dtype}; "
                                         f"{source.name} has {dtype} data")
        return dtype, None
    found = [dataset_radiometry(dataset, b, source.name, product or None, source.product) for b in bands]
    if all(r is None for r in found) and dtype == card.dtype:
        return dtype, None
    if any(r is None for r in found):
        raise IncompatibleSceneError(
            f"{source.name} has {dtype} data and nothing says what its values are; the model takes "
            f"{card.input_values()}. Name the product with --product ({', '.join(PRODUCTS)}), or give the bands "
            "their reflectance scale and offset (gdal_edit.py -scale S -offset O)")
    known = [r for r in found if r is not None]
    share = share_in_range(dataset, bands, [r.valid for r in known])
    if share == 0:
        raise IncompatibleSceneError(
            f"{source.name}: no sampled pixel has values in the valid range of {known[0].source} "
            f"({known[0].valid[0]:g}-{known[0].valid[1]:g}): is it that product? (--product names it)")
    k = card.reflectance_scale
    values = tuple(BandValues(r.scale * k, r.offset * k, r.valid, card.value_range) for r in known)
    log.info("%s: %s, reflectance = DN x %g %+g; the model takes %s", source.name, known[0].source,
             known[0].scale, known[0].offset, card.input_values())
    return dtype, values


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
    from geoclassify.geo.units import ground_units, pixel_size_metres  # pyproj: only for a model with a GSD

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


def open_scene(scene: SceneArg, card: ModelCard, bands: tuple[int | str, ...] | None = None,
               resample: bool = True, product: str | None = None) -> Scene:
    """Validate a scene for a model: its bands (by number or name), its values (converted to the model's input
    where the model takes reflectance) and its working grid.

    The working grid is north-up and east-right where the scene's axes allow (south-up and east-left scenes
    are read with their rows or columns reversed, exactly), in the scene's own frame otherwise (rotated and
    sheared scenes keep their rotation), at the model's GSD in ground metres (ground_pixel_size). GCP- and
    RPC-only scenes are warped onto the grid GDAL suggests for them, in the GCPs' CRS or EPSG:4326 for RPCs.

    Args:
        scene: any raster GDAL opens, an https:// or s3:// URL of one, a STAC item (JSON file or URL), or a tuple
            of rasters stacked as one scene (geoclassify.io.sources).
        card: the model's card (bands and their names, input values, GSD in metres).
        bands: the scene's bands to feed the model, in the model's order: 1-based numbers, or names (common
            names such as "red", band ids such as "B04"); default: the card's band names, found in the scene
            where it names its bands, else the card's band numbers.
        resample: resample to the model's GSD when the scene's ground pixel differs by more than
            GSD_TOLERANCE (5 %): averaging when coarsening, bilinear when refining.
        product: the product the scene's digital numbers come from (geoclassify.io.radiometry.PRODUCTS), when
            the scene does not say it itself.

    Returns:
        The scene's read plan (bands, conversion of values, native and working grids).

    Raises:
        InputError: the file is missing or not a raster, or a STAC item cannot be read.
        IncompatibleSceneError: its bands or values do not fit the model, or a band is a colour-table index.
        ConfigError: an unknown product, or a product for a model that takes raw values.
    """
    if bands:  # a STAC item is stacked from the assets of the bands named here, or from all of them for numbers
        wanted = tuple(str(b) for b in bands) if isinstance(bands[0], str) else None
    else:
        wanted = card.band_names or None
    source = resolve_scene(scene, wanted)
    name = source.name
    with remote_read_env(source.path), open_dataset(source.path) as ds:
        chosen = select_bands(ds, bands, card, name)
        dtype, values = input_values(ds, chosen, card, source, product)
        kind = georeferencing(ds)
        native = Grid(ds.height, ds.width, ds.transform, ds.gcps[1] if kind == "gcps" else ds.crs or None)
        frame = georeferenced_grid(ds, kind)
        block_row = ds.width * ds.block_shapes[chosen[0] - 1][0] * sum(np.dtype(ds.dtypes[b - 1]).itemsize
                                                                         for b in chosen)
    grid, resampling, flips = working_grid(name, native, frame, kind, card, resample)
    return Scene(source.path, chosen, native, grid, dtype, resampling, flips, kind, values, name, block_row)


def working_grid(name: str, native: Grid, frame: Grid, kind: str, card: ModelCard, resample: bool
                 ) -> tuple[Grid, Resampling | None, tuple[bool, bool]]:
    """The working grid of a scene whose native pixels lie on `frame` (see open_scene), how its pixels are
    resampled onto it (None: read as they are) and the flips of a native read."""
    if kind != "transform":
        log.info("%s is georeferenced by its %s only: warped to a north-up grid in %s", name,
                 "GCPs" if kind == "gcps" else "RPCs", frame.crs)
    elif native.crs is None:
        log.warning("%s has no CRS: the output will have no CRS either", name)
    flips = (False, False) if native.transform.is_identity else frame.flips  # no geotransform: pixel order is all
    if any(flips):  # flipped before resampling: the working grid starts at the north-west corner, as the twin's
        frame = frame.flipped(*flips)
        log.info("%s is %s: read in north-up, east-right order", name,
                 " and ".join(axis for axis, flip in zip(("south-up", "east-left"), flips) if flip))
    grid, resampling = frame, None if kind == "transform" else Resampling.bilinear
    size = ground_pixel_size(frame) if card.gsd else None
    if card.gsd and size is not None:
        mean_size = (size[0] + size[1]) / 2
        if abs(mean_size / card.gsd - 1) > GSD_TOLERANCE:
            if resample:
                grid = frame.resampled(*working_scale(frame, size, card.gsd))
                resampling = Resampling.average if mean_size < card.gsd else Resampling.bilinear
                log.info("resampling %s from %.3g m to the model's %.3g m pixels (%dx%d -> %dx%d)",
                         name, mean_size, card.gsd, frame.width, frame.height, grid.width, grid.height)
            else:
                log.warning("%s has %.3g m pixels, the model expects %.3g m; --no-resample keeps them",
                            name, mean_size, card.gsd)
    elif card.gsd and size is None:
        log.warning("%s has no CRS, so its pixel size is unknown: not resampled to %.3g m", name, card.gsd)
    return grid, resampling, flips if resampling is None else (False, False)
