"""Native pixels and their validity, and windows of a working grid warped from them.

Validity rules (the same on every read path):
- A native pixel is valid when GDAL's mask of at least one selected band says so (nodata value, internal or
  external mask, alpha band: GDAL's mask flags), and all its selected bands are finite: NaN and +-inf are
  never data in a float raster, whether or not the file declares them as nodata.
- A working pixel warped from native pixels is valid when more than half of its footprint (the native area it
  covers, pixels outside the scene included) is valid; its values come from the valid native pixels only
  (GDAL's warper with the validity as source alpha).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import DatasetReader
from rasterio.rpc import RPC
from rasterio.transform import GCPTransformer, RPCTransformer
from rasterio.warp import reproject
from rasterio.windows import Window

from geoclassify.io.raster import Scene

# GDAL's warper on in-memory arrays from two threads at once makes rasterio warn, now and then, that a dataset has no
# geotransform, though every call here gives one and the pixels are those of one thread (tested): not for users
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module=r"rasterio\.warp")

MARGIN = 2  # native pixels read around a working window's footprint (bilinear needs one)
EDGE_POINTS = 9  # points per window edge mapped to native pixels (GCP and RPC mappings are not affine)
MAX_NATIVE_PIXELS = 1 << 24  # native pixels read for one warp: a larger footprint is warped in parts (memory)
VALID_SHARE = 0.5  # a warped working pixel is valid when more than this share of its footprint is


def read_native(ds: DatasetReader, bands: tuple[int, ...], window: Window, dtype: str,
                valid_ranges: tuple[tuple[float, float], ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Native pixels of `window` (may reach outside the raster) and their validity; with `valid_ranges` (per band,
    inclusive), a pixel is valid only where every band's value is in its range too.

    Returns:
        (data, valid): data (bands, rows, cols) in `dtype`, zero where invalid; valid (rows, cols) bool, False
        outside the raster.

    Raises:
        rasterio.errors.RasterioError: GDAL cannot read the window (damaged file).
    """
    rows, cols = int(window.height), int(window.width)
    data = np.zeros((len(bands), rows, cols), dtype)
    valid = np.zeros((rows, cols), bool)
    r0, c0 = max(int(window.row_off), 0), max(int(window.col_off), 0)
    r1, c1 = min(int(window.row_off) + rows, ds.height), min(int(window.col_off) + cols, ds.width)
    if r1 <= r0 or c1 <= c0:
        return data, valid
    inside = Window(c0, r0, c1 - c0, r1 - r0)
    part = (slice(None), slice(r0 - int(window.row_off), r1 - int(window.row_off)),
            slice(c0 - int(window.col_off), c1 - int(window.col_off)))
    ds.read(bands, window=inside, out=data[part])
    ok = native_validity(ds, bands, inside, data[part])
    for band, (low, high) in zip(data[part], valid_ranges or ()):
        ok &= (band >= low) & (band <= high)
    valid[part[1:]] = ok
    data[part][:, ~ok] = 0
    return data, valid


def apply(transform: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`transform` applied to arrays of points."""
    a, b, c, d, e, f = transform[:6]
    return a * x + b * y + c, d * x + e * y + f


def native_validity(ds: DatasetReader, bands: tuple[int, ...], window: Window, data: np.ndarray) -> np.ndarray:
    """GDAL's validity of `window`'s pixels, read as cheaply as the mask flags allow: valid where at least one of
    `bands` is (`data`: those bands' pixels, already read)."""
    flags = [ds.mask_flag_enums[b - 1] for b in bands]
    if all(f == [MaskFlags.all_valid] for f in flags):
        ok = np.ones(data.shape[1:], bool)
    elif any(MaskFlags.per_dataset in f for f in flags):  # one mask for all bands (internal mask, alpha)
        ok = ds.read_masks(bands[0], window=window) > 0
    elif all(f == [MaskFlags.nodata] for f in flags) and ds.nodata is not None and not np.isnan(ds.nodata):
        ok = (data != np.asarray(ds.nodata).astype(data.dtype)).any(axis=0)
    else:
        ok = ds.read_masks(bands, window=window).max(axis=0) > 0
    if data.dtype.kind == "f":
        ok &= np.isfinite(data).all(axis=0)  # NaN and infinities are never data
    return ok


class NativeMapping:
    """Maps CRS coordinates to native pixel coordinates of a scene, by its geotransform, GCPs or RPCs, and
    gives the georeferencing of a native window for GDAL's warper."""

    def __init__(self, scene: Scene, ds: DatasetReader):
        self.kind = scene.georeferencing
        self.transform = scene.native.transform
        self.gcps: list[GroundControlPoint] = list(ds.gcps[0]) if self.kind == "gcps" else []
        self.rpcs: RPC | None = ds.rpcs if self.kind == "rpcs" else None
        self.crs = ds.gcps[1] if self.kind == "gcps" else ("EPSG:4326" if self.kind == "rpcs" else scene.native.crs)
        if self.kind == "gcps":
            self._to_pixels = GCPTransformer(self.gcps)
        elif self.kind == "rpcs":
            self._to_pixels = RPCTransformer(self.rpcs)

    def pixels(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) as floats of CRS points (pixel corners at integers)."""
        if self.kind == "transform":
            cols, rows = apply(~self.transform, xs, ys)
            return rows, cols
        rows, cols = self._to_pixels.rowcol(xs, ys, op=lambda v: v)
        return np.asarray(rows, np.float64), np.asarray(cols, np.float64)

    def window_georeferencing(self, window: Window) -> dict:
        """The reproject() arguments that tie the pixels of native `window` to the CRS."""
        r0, c0 = int(window.row_off), int(window.col_off)
        if self.kind == "gcps":
            gcps = [GroundControlPoint(g.row - r0, g.col - c0, g.x, g.y, g.z) for g in self.gcps]
            return {"gcps": gcps, "src_crs": self.crs}
        if self.kind == "rpcs":
            assert self.rpcs is not None
            fields = {**self.rpcs.to_dict(), "line_off": self.rpcs.line_off - r0, "samp_off": self.rpcs.samp_off - c0}
            return {"rpcs": RPC(**fields), "src_crs": self.crs}
        return {"src_transform": self.transform @ Affine.translation(c0, r0), "src_crs": self.crs}


def footprint(mapping: NativeMapping, transform: Affine, rows: int, cols: int) -> Window:
    """The native window (with a margin) that covers a working window of `rows` x `cols` pixels whose
    upper-left pixel corner is at `transform`'s origin."""
    edge = np.linspace(0, 1, EDGE_POINTS)
    u = np.concatenate([edge * cols, np.full(EDGE_POINTS, cols), edge * cols, np.zeros(EDGE_POINTS)])
    v = np.concatenate([np.zeros(EDGE_POINTS), edge * rows, np.full(EDGE_POINTS, rows), edge * rows])
    r, c = mapping.pixels(*apply(transform, u, v))
    r0, c0 = math.floor(r.min()) - MARGIN, math.floor(c.min()) - MARGIN
    r1, c1 = math.ceil(r.max()) + MARGIN, math.ceil(c.max()) + MARGIN
    return Window(c0, r0, c1 - c0, r1 - r0)


def warp_window(ds: DatasetReader, scene: Scene, mapping: NativeMapping, row: int, col: int, rows: int,
                cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The working-grid window at (row, col) of `rows` x `cols` pixels, warped from the native pixels with
    `scene.resampling`.

    Returns:
        (data, valid): data (bands, rows, cols) in the scene dtype, valid (rows, cols) bool, as the module
        docstring's rules say.

    Raises:
        rasterio.errors.RasterioError: GDAL cannot read the native pixels.
    """
    grid = scene.grid
    dst_transform = grid.transform @ Affine.translation(col, row)
    window = footprint(mapping, dst_transform, rows, cols)
    if window.width * window.height > MAX_NATIVE_PIXELS and rows * cols > 1:  # much finer native pixels: in halves
        if rows >= cols:
            top, bottom = rows // 2, rows - rows // 2
            parts = [warp_window(ds, scene, mapping, row, col, top, cols),
                     warp_window(ds, scene, mapping, row + top, col, bottom, cols)]
        else:
            left, right = cols // 2, cols - cols // 2
            parts = [warp_window(ds, scene, mapping, row, col, rows, left),
                     warp_window(ds, scene, mapping, row, col + left, rows, right)]
        axis = 0 if rows >= cols else 1  # of `valid`; data has the bands first
        return (np.concatenate([p[0] for p in parts], axis=axis + 1),
                np.concatenate([p[1] for p in parts], axis=axis))
    bands = len(scene.bands)
    data = np.zeros((bands, rows, cols), scene.dtype)
    valid = np.zeros((rows, cols), bool)
    src, src_valid = read_native(ds, scene.bands, window, scene.dtype, scene.valid_ranges)
    if not src_valid.any():
        return data, valid
    where = {**mapping.window_georeferencing(window), "dst_transform": dst_transform, "dst_crs": grid.crs}
    if src_valid.all():  # the footprint is inside the scene and all valid (most windows): every working pixel is
        reproject(src, data, resampling=scene.resampling, init_dest_nodata=False, **where)
        valid[:] = True
        return data, valid
    opaque = min(255, int(np.iinfo(src.dtype).max)) if src.dtype.kind in "iu" else 255
    alpha = np.where(src_valid, opaque, 0).astype(src.dtype)
    warped = np.zeros((bands + 1, rows, cols), scene.dtype)
    reproject(np.concatenate([src, alpha[None]]), warped, src_alpha=bands + 1, dst_alpha=bands + 1,
              resampling=scene.resampling, init_dest_nodata=False, SRC_ALPHA_MAX=opaque, DST_ALPHA_MAX=opaque,
              **where)
    share = np.zeros((rows, cols), np.float32)
    reproject(src_valid.astype(np.float32), share, resampling=Resampling.average, init_dest_nodata=False, **where)
    valid = share > VALID_SHARE
    data[:] = warped[:bands]
    data[:, ~valid] = 0
    return data, valid
