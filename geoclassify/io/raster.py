"""Opening rasters with clear errors, and the read plan of a scene (what a strip reader needs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader

from geoclassify.errors import InputError
from geoclassify.geo.grid import Grid


def open_dataset(path: str | os.PathLike) -> DatasetReader:
    """rasterio.open, with errors that say what is wrong with the file.

    Args:
        path: a file path or a GDAL virtual path (/vsi...).

    Returns:
        The open dataset (close it, or use it in a ``with`` block).

    Raises:
        InputError: the file does not exist, or GDAL cannot open it as a raster (not a raster, or damaged).
    """
    path = str(path)
    if not path.startswith("/vsi") and not Path(path).exists():
        raise InputError(f"input file not found: {path}")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"cannot open {path} as a raster (not a raster, or damaged): {exc}") from None


def georeferencing(dataset: DatasetReader) -> str:
    """How `dataset`'s pixels are tied to the ground: "transform" (an affine geotransform, or none at all),
    "gcps" (ground control points with a CRS only) or "rpcs" (rational polynomial coefficients only)."""
    if dataset.transform.is_identity:
        gcps, crs = dataset.gcps
        if gcps and crs:  # GCPs without a CRS tie pixels to nothing known: the scene is in pixel units
            return "gcps"
        if dataset.rpcs is not None:
            return "rpcs"
    return "transform"


@dataclass(frozen=True)
class Scene:
    """A scene's read plan: the path, the bands to read (1-based), the native grid, the working grid and how to
    resample native pixels onto it. No open dataset: it travels to Dask workers.

    Working pixels are native pixels, read as they are or with their rows and/or columns in reverse order
    (`flips`), or, with `resampling`, warped from the native pixels: tied to the ground by the file's
    geotransform, or by its GCPs or RPCs (`georeferencing`).
    """

    path: str
    bands: tuple[int, ...]
    native: Grid  # the file's pixels; with GCPs or RPCs, an identity transform in their CRS
    grid: Grid
    dtype: str
    resampling: Resampling | None  # None: read native pixels, flipped as `flips` says
    flips: tuple[bool, bool] = (False, False)  # (rows, columns) read in reverse order
    georeferencing: str = "transform"  # "transform", "gcps" or "rpcs": see georeferencing()

    @property
    def resampled(self) -> bool:
        """True when native pixels are warped onto a different working grid."""
        return self.resampling is not None
