"""Windowed, parallel reading of strips (runs of rows): thread-local dataset handles, boundless windows."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geoclassify.errors import InputError
from geoclassify.io.raster import Scene

CHUNK_WIDTH = 2048  # columns read by one task


@dataclass
class PendingStrip:
    """A strip being read: arrays filled in place by column-chunk tasks."""

    data: np.ndarray
    valid: np.ndarray
    futures: list[Future]


class StripReader:
    """Reads windows of a scene's working grid, with pixels outside the scene marked invalid.

    Each thread opens its own dataset (tasks get paths, not handles). Returns (data, valid):
    data is (bands, height, width) in the scene dtype, valid is (height, width) bool.
    """

    def __init__(self, scene: Scene, workers: int = 2):
        self.scene = scene
        self._local = threading.local()
        self._handles: list = []
        self._lock = threading.Lock()
        # one single-thread pool per worker: a column chunk is always read by the same thread, through
        # the same dataset handle, so blocks shared by consecutive strips come from GDAL's cache
        self._pools = [ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoclassify-read")
                       for _ in range(max(1, workers))]

    def _dataset(self):
        ds = getattr(self._local, "ds", None)
        if ds is None:
            src = rasterio.open(self.scene.path)
            ds = src
            if self.scene.resampled:
                g = self.scene.grid
                ds = WarpedVRT(src, crs=src.crs, transform=g.transform, width=g.width, height=g.height,
                               resampling=self.scene.resampling)
            with self._lock:
                self._handles.append((ds, src))
            self._local.ds = ds
        return ds

    def _read_into(self, data: np.ndarray, valid: np.ndarray, row: int, col: int) -> None:
        """Fill preallocated (zeroed) `data` and `valid` with the window at (row, col)."""
        grid = self.scene.grid
        height, width = valid.shape
        r0, c0 = max(row, 0), max(col, 0)
        r1, c1 = min(row + height, grid.height), min(col + width, grid.width)
        if r1 <= r0 or c1 <= c0:
            return
        window = Window(c0, r0, c1 - c0, r1 - r0)
        rows, cols = slice(r0 - row, r1 - row), slice(c0 - col, c1 - col)
        ds = self._dataset()
        try:
            ds.read(self.scene.bands, window=window, out=data[:, rows, cols])
            masks = ds.read_masks(self.scene.bands, window=window)
        except RasterioError as exc:
            raise InputError(f"failed to read {self.scene.path} at rows {r0}-{r1}, columns {c0}-{c1}: "
                             f"the file is damaged or truncated ({exc})") from None
        valid[rows, cols] = masks.max(axis=0) > 0  # nodata only where all bands are

    def submit_strip(self, row: int, height: int, col: int, width: int) -> PendingStrip:
        """Start reading a strip of rows, in column chunks, into one preallocated array."""
        data = np.zeros((len(self.scene.bands), height, width), dtype=self.scene.dtype)
        valid = np.zeros((height, width), dtype=bool)
        pools = self._pools
        futures = [
            pools[i % len(pools)].submit(self._read_into, data[:, :, c : c + CHUNK_WIDTH],
                                         valid[:, c : c + CHUNK_WIDTH], row, col + c)
            for i, c in enumerate(range(0, width, CHUNK_WIDTH))
        ]
        return PendingStrip(data, valid, futures)

    @staticmethod
    def collect(strip: PendingStrip) -> tuple[np.ndarray, np.ndarray]:
        """Wait for a strip started by `submit_strip`; returns (data, valid)."""
        for future in strip.futures:
            future.result()
        return strip.data, strip.valid

    def close(self) -> None:
        """Wait for the reads in flight, drop those not started, and close every thread's dataset."""
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
        for ds, src in self._handles:
            ds.close()
            if src is not ds:
                src.close()
        self._handles.clear()

    def __enter__(self) -> "StripReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
