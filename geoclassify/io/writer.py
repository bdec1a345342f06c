"""Atomic, tiled, compressed GeoTIFF/COG output with colour table and class names."""

from __future__ import annotations

import errno
import json
import logging
import os
from contextlib import suppress
from html import escape  # &, < and > as XML text needs them (xml.sax.saxutils imports urllib: 40 ms)
from pathlib import Path
from typing import Iterable

import numpy as np
import rasterio
from rasterio.shutil import copy as rio_copy
from rasterio.windows import Window

from geoclassify.errors import OutputError
from geoclassify.geo.grid import Grid
from geoclassify.io.atomic import publish, temp_beside
from geoclassify.io.failures import GDAL_ERRORS, gdal_checked, write_error

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
    cats = "".join(f"      <Category>{escape(n, quote=False)}</Category>\n" for n in class_names)
    return (f'<PAMDataset>\n  <PAMRasterBand band="1">\n    <CategoryNames>\n{cats}    </CategoryNames>\n'
            '  </PAMRasterBand>\n</PAMDataset>\n')


class RasterWriter:
    """Writes a raster window by window to a temporary file, renamed over the target on `commit`.

    Used as a context manager: leaving the block without `commit` (an error, Ctrl-C) deletes the
    temporary file, so nothing is left at the output path. Every GDAL call that writes (window writes, and the
    closes that flush GDAL's cache) is checked: a failure raises an OutputError that names the file and the cause
    (io.failures), and a partial file removed by someone else is noticed at the next checkpoint or at the commit.
    `commit` is `finish` (everything that can fail: flush, COG copy, sidecar) then `publish` (renames), so that
    several writers can finish all before any is published (see inference.sink.OutputSink.commit).
    """

    def __init__(self, path: str | os.PathLike, grid: Grid, count: int, dtype: str, *, nodata: float | None = None,
                 class_names: list[str] | None = None, colors: list[tuple[int, int, int]] | None = None,
                 band_names: list[str] | None = None, cog: bool = False, overwrite: bool = False,
                 partial: Path | None = None, resume: bool = False):
        """`partial`: write to this fixed temporary path (a resumable run) instead of a unique one;
        `resume`: reopen it and keep what it holds."""
        self.path = check_output_path(path, overwrite)
        self.class_names, self.colors, self.cog = class_names, colors, cog
        self.ds = None
        self.finished: list[tuple[Path, Path]] = []  # (temporary file, target) once finished, in publishing order
        self.made: list[Path] = []  # the temporary files `finish` makes beside the partial file (COG, sidecar)
        self.published: list[Path] = []
        try:
            self.tmp: Path | None = temp_beside(self.path, ".tmp.tif") if partial is None else partial
            if not resume:
                self.tmp.write_bytes(b"")
        except OSError as exc:
            raise write_error(partial or self.path.parent, exc) from None
        if resume:
            self.ds = self._reopen()
            if (self.ds.width, self.ds.height, self.ds.count) != (grid.width, grid.height, count):
                self.ds.close()
                raise OutputError(f"the partial output {self.tmp} does not fit this run; run without --resume")
        else:
            try:
                self._create(grid, count, dtype, nodata, band_names)
            except BaseException:
                self.abort()
                raise
        self.file_id = file_id(self.tmp)

    def _create(self, grid: Grid, count: int, dtype: str, nodata: float | None, band_names: list[str] | None):
        assert self.tmp is not None
        profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=count, dtype=dtype,
                       crs=grid.crs, transform=grid.transform, nodata=nodata, compress="deflate",
                       tiled=True, blockxsize=BLOCK, blockysize=BLOCK, BIGTIFF="IF_SAFER")
        if dtype == "float32":
            profile["predictor"] = 3
        with gdal_checked(self.tmp, "creating"):
            self.ds = ds = rasterio.open(self.tmp, "w", **profile)
            if band_names:
                for i, name in enumerate(band_names, start=1):
                    ds.set_band_description(i, name)
            if self.class_names:
                ds.update_tags(1, CLASS_NAMES=json.dumps(list(self.class_names)))
            if self.colors:
                table = {i: tuple(c) + (255,) for i, c in enumerate(self.colors)}
                if nodata is not None and 0 <= nodata <= 255:
                    table[int(nodata)] = (0, 0, 0, 0)
                ds.write_colormap(1, table)

    def _reopen(self):
        assert self.tmp is not None
        with gdal_checked(self.tmp, "reopening"):
            return rasterio.open(self.tmp, "r+")

    def _close(self) -> None:
        """Close the dataset, raising when GDAL could not write its blocks, or the file was removed meanwhile."""
        assert self.tmp is not None
        ds, self.ds = self.ds, None
        if ds is not None:
            with gdal_checked(self.tmp):
                ds.close()
        if file_id(self.tmp) != self.file_id:
            raise write_error(self.tmp, FileNotFoundError(errno.ENOENT, "removed"))

    def checkpoint(self) -> None:
        """Save everything written so far to the temporary file, so that a killed run can resume from it."""
        self._close()
        self.ds = self._reopen()

    def write(self, data: np.ndarray, row: int, col: int = 0, mask: np.ndarray | None = None) -> None:
        """Write (count, h, w) or (h, w) data at (row, col), clipped to the grid; `mask` marks valid pixels."""
        assert self.ds is not None and self.tmp is not None
        if data.ndim == 2:
            data = data[None]
        h = min(data.shape[1], self.ds.height - row)
        w = min(data.shape[2], self.ds.width - col)
        if h > 0 and w > 0:
            window = Window(col, row, w, h)
            with gdal_checked(self.tmp):
                self.ds.write(data[:, :h, :w], window=window)
                if mask is not None:
                    self.ds.write_mask(np.where(mask[:h, :w], 255, 0).astype(np.uint8), window=window)

    def finish(self) -> None:
        """Close the file (every block written), make the COG copy and the category-names sidecar: all that may
        fail before `publish`. The partial file stays until `publish`, so that `close` can still keep it."""
        if self.tmp is None or self.finished:
            raise OutputError(f"{self.path} was committed or aborted already")
        self._close()
        final_tmp = self.tmp
        if self.cog:
            final_tmp = self.tmp.with_suffix(".cog.tif")
            self.made.append(final_tmp)
            with gdal_checked(final_tmp):
                rio_copy(self.tmp, final_tmp, driver="COG", compress="deflate", blocksize=BLOCK)
        if self.class_names:
            tmp_aux = aux_path(final_tmp)
            self.made.append(tmp_aux)
            try:
                tmp_aux.write_text(category_aux_xml(list(self.class_names)))
            except OSError as exc:
                raise write_error(tmp_aux, exc) from None
            self.finished.append((tmp_aux, aux_path(self.path)))
        self.finished.append((final_tmp, self.path))

    @property
    def finished_file(self) -> Path:
        """Where the finished raster is until `publish` (readable, with its sidecar)."""
        if not self.finished:
            raise OutputError(f"{self.path} is not finished")
        return self.finished[-1][0]

    def publish(self) -> None:
        """Move the finished file (and its sidecar) into place; an old sidecar the new file lacks is removed."""
        if not self.finished:
            raise OutputError(f"{self.path} is not finished")
        try:
            if not self.class_names:
                aux_path(self.path).unlink(missing_ok=True)
            for tmp, target in self.finished:
                publish(tmp, target)
                self.published.append(target)
        except OSError as exc:
            raise write_error(self.path, exc, "publishing") from None
        if self.cog:  # the partial file the COG was copied from
            remove_files([self.tmp, aux_path(self.tmp)] if self.tmp is not None else [])
        self.tmp, self.finished, self.made = None, [], []

    def unpublish(self) -> None:
        """Remove what `publish` put in place (another output failed to be published): best effort."""
        remove_files(self.published)
        self.published = []

    def commit(self) -> None:
        """Finish the file and move it (and its category-names sidecar) into place."""
        self.finish()
        self.publish()

    def close(self) -> None:
        """Close the temporary file and keep it (an interrupted resumable run).

        Raises:
            OutputError: GDAL could not write its blocks, or the file was removed.
        """
        if self.tmp is not None:
            try:
                self._close()
            finally:
                remove_files(self.made)  # finished, not published: only the partial file is kept
                self.tmp, self.finished, self.made = None, [], []

    def abort(self) -> None:
        """Close and delete the temporary file and its sidecar: nothing is published. A no-op once committed.
        Never raises for the files: it runs after another error, which it must not hide."""
        if self.tmp is None:
            return
        ds, self.ds = self.ds, None
        try:
            if ds is not None:
                with suppress(*GDAL_ERRORS):
                    ds.close()
        finally:
            remove_files([self.tmp, aux_path(self.tmp), *self.made])
            self.tmp, self.finished, self.made = None, [], []

    def __enter__(self) -> "RasterWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or self.tmp is not None:
            self.abort()


def aux_path(path: Path) -> Path:
    """The GDAL PAM sidecar of `path`."""
    return Path(f"{path}.aux.xml")


def file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of `path`, None when it is gone: tells a file from one put at its name since."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def remove_files(paths: Iterable[Path]) -> None:
    """Delete the files that exist; those that cannot be deleted (a read-only disk now) are named in a warning."""
    for p in paths:
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove %s: %s", p, exc.strerror)
