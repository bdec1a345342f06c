"""Atomic, tiled, compressed GeoTIFF/COG output with colour table and class names."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.shutil import copy as rio_copy
from rasterio.windows import Window

from geoclassify.errors import OutputError
from geoclassify.geo.grid import Grid
from geoclassify.io.atomic import publish, temp_beside

log = logging.getLogger("geoclassify")

CLASS_NODATA = 255
BLOCK = 256


def check_output_path(path: str | os.PathLike, overwrite: bool, what: str = "output") -> Path:
    """Refuse an existing output without overwrite, and a missing or read-only directory."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{what} {path} exists; use --overwrite to replace it")
    if path.is_dir():
        raise OutputError(f"{what} {path} is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"directory {parent} for {what} {path} does not exist; create it first")
    return path


def category_aux_xml(class_names: list[str]) -> str:
    """A GDAL PAM sidecar holding the category names of band 1."""
    cats = "".join(f"      <Category>{escape(n)}</Category>\n" for n in class_names)
    return (f'<PAMDataset>\n  <PAMRasterBand band="1">\n    <CategoryNames>\n{cats}    </CategoryNames>\n'
            '  </PAMRasterBand>\n</PAMDataset>\n')


class RasterWriter:
    """Writes a raster window by window to a temporary file, renamed over the target on `commit`.

    Used as a context manager: leaving the block without `commit` (an error, Ctrl-C) deletes the
    temporary file, so nothing is left at the output path.
    """

    def __init__(self, path: str | os.PathLike, grid: Grid, count: int, dtype: str, *, nodata: float | None = None,
                 class_names: list[str] | None = None, colors: list[tuple[int, int, int]] | None = None,
                 band_names: list[str] | None = None, cog: bool = False, overwrite: bool = False,
                 partial: Path | None = None, resume: bool = False):
        """`partial`: write to this fixed temporary path (a resumable run) instead of a unique one;
        `resume`: reopen it and keep what it holds."""
        self.path = check_output_path(path, overwrite)
        self.class_names, self.colors, self.cog = class_names, colors, cog
        try:
            self.tmp: Path | None = temp_beside(self.path, ".tmp.tif") if partial is None else partial
            if not resume:
                self.tmp.write_bytes(b"")
        except OSError as exc:
            raise OutputError(f"cannot write in {self.path.parent}: {exc.strerror}") from None
        if resume:
            self.ds = self._reopen()
            if (self.ds.width, self.ds.height, self.ds.count) != (grid.width, grid.height, count):
                self.ds.close()
                raise OutputError(f"the partial output {self.tmp} does not fit this run; run without --resume")
            return
        profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=count, dtype=dtype,
                       crs=grid.crs, transform=grid.transform, nodata=nodata, compress="deflate",
                       tiled=True, blockxsize=BLOCK, blockysize=BLOCK, BIGTIFF="IF_SAFER")
        if dtype == "float32":
            profile["predictor"] = 3
        try:
            self.ds = rasterio.open(self.tmp, "w", **profile)
        except RasterioError as exc:
            self.tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot create {self.path}: {exc}") from None
        if band_names:
            for i, name in enumerate(band_names, start=1):
                self.ds.set_band_description(i, name)
        if class_names:
            self.ds.update_tags(1, CLASS_NAMES=json.dumps(list(class_names)))
        if colors:
            table = {i: tuple(c) + (255,) for i, c in enumerate(colors)}
            if nodata is not None and 0 <= nodata <= 255:
                table[int(nodata)] = (0, 0, 0, 0)
            self.ds.write_colormap(1, table)

    def _reopen(self):
        try:
            return rasterio.open(self.tmp, "r+")
        except RasterioError as exc:
            raise OutputError(f"cannot reopen the partial output {self.tmp}: {exc}") from None

    def checkpoint(self) -> None:
        """Save everything written so far to the temporary file, so that a killed run can resume from it."""
        self.ds.close()
        self.ds = self._reopen()

    def write(self, data: np.ndarray, row: int, col: int = 0, mask: np.ndarray | None = None) -> None:
        """Write (count, h, w) or (h, w) data at (row, col), clipped to the grid; `mask` marks valid pixels."""
        if data.ndim == 2:
            data = data[None]
        h = min(data.shape[1], self.ds.height - row)
        w = min(data.shape[2], self.ds.width - col)
        if h > 0 and w > 0:
            window = Window(col, row, w, h)
            self.ds.write(data[:, :h, :w], window=window)
            if mask is not None:
                self.ds.write_mask(np.where(mask[:h, :w], 255, 0).astype(np.uint8), window=window)

    def commit(self) -> None:
        """Finish the file and move it (and its category-names sidecar) into place."""
        if self.tmp is None:
            raise OutputError(f"{self.path} was committed or aborted already")
        self.ds.close()
        final_tmp = self.tmp
        if self.cog:
            final_tmp = final_tmp.with_suffix(".cog.tif")
            rio_copy(self.tmp, final_tmp, driver="COG", compress="deflate", blocksize=BLOCK)
            self.tmp.unlink()
            self.tmp = final_tmp
        aux = Path(str(self.path) + ".aux.xml")
        if self.class_names:
            tmp_aux = Path(str(final_tmp) + ".aux.xml")
            tmp_aux.write_text(category_aux_xml(list(self.class_names)))
            publish(tmp_aux, aux)
        else:
            aux.unlink(missing_ok=True)
        publish(final_tmp, self.path)
        self.tmp = None

    def close(self) -> None:
        """Close the temporary file and keep it (an interrupted resumable run)."""
        if self.tmp is not None:
            self.ds.close()
            self.tmp = None

    def abort(self) -> None:
        """Close and delete the temporary file and its sidecar: nothing is published. A no-op once committed."""
        if self.tmp is None:
            return
        try:
            self.ds.close()
        finally:
            for p in (self.tmp, Path(str(self.tmp) + ".aux.xml")):
                p.unlink(missing_ok=True)
            self.tmp = None

    def __enter__(self) -> "RasterWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or self.tmp is not None:
            self.abort()
