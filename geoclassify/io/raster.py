"""Opening rasters with clear errors, and the read plan of a scene (what a strip reader needs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader

from geoclassify.errors import InputError
from geoclassify.geo.grid import Grid
from geoclassify.io.identity import is_local_path


def open_dataset(path: str | os.PathLike) -> DatasetReader:
    """rasterio.open, with errors that say what is wrong with the file.

    Args:
        path: a file path, a GDAL virtual path (/vsi...) or a VRT's XML text.

    Returns:
        The open dataset (close it, or use it in a ``with`` block).

    Raises:
        InputError: the file does not exist, or GDAL cannot open it as a raster (not a raster, or damaged).
    """
    path = str(path)
    if is_local_path(path) and not Path(path).exists():
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
class BandValues:
    """How one band's raw values become the values a model takes: raw x `gain` + `bias`, clipped to `clip`
    (None: not clipped); raw values outside `valid` (inclusive) are no data."""

    gain: float
    bias: float
    valid: tuple[float, float]
    clip: tuple[float, float] | None = None

    def convert(self, raw: np.ndarray) -> np.ndarray:
        """`raw` (any shape) as float32 model values."""
        out = raw.astype(np.float32) * np.float32(self.gain) + np.float32(self.bias)
        return np.clip(out, *self.clip, out=out) if self.clip else out


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
    values: tuple[BandValues, ...] | None = None  # per band: raw values -> model values; None: raw, as they are
    name: str = ""  # what the user named the scene (`path` may be a /vsi path or a VRT's XML); default: path
    block_row_bytes: int = 0  # bytes of one row of the file's blocks, every band read (0: not known)

    @property
    def label(self) -> str:
        """The scene as the user named it, for messages."""
        return self.name or self.path

    @property
    def valid_ranges(self) -> tuple[tuple[float, float], ...] | None:
        """Per band, the raw values that are data (None: all that GDAL's masks let through)."""
        return None if self.values is None else tuple(v.valid for v in self.values)

    @property
    def output_dtype(self) -> str:
        """The dtype of the pixels read: the raw dtype, or float32 when they are converted."""
        return self.dtype if self.values is None else "float32"

    def convert(self, raw: np.ndarray) -> np.ndarray:
        """Raw pixels (bands, rows, cols) as the model's values (a new float32 array), or `raw` itself when the
        scene has no conversion."""
        if self.values is None:
            return raw
        return np.stack([v.convert(band) for v, band in zip(self.values, raw)])

    @property
    def resampled(self) -> bool:
        """True when native pixels are warped onto a different working grid."""
        return self.resampling is not None
