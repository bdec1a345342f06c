"""Windowed, parallel reading of strips (runs of rows) of a scene's working grid: thread-local dataset handles,
boundless windows, validity as geoclassify.io.warp says."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from geoclassify.errors import InputError
from geoclassify.io.raster import Scene
from geoclassify.io.remote import remote_read_env
from geoclassify.io.warp import NativeMapping, read_native, warp_window

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
    data is (bands, height, width) in the scene's output dtype (raw, or float32 model values when the scene
    converts them), valid is (height, width) bool.
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

    def _dataset(self) -> tuple[DatasetReader, NativeMapping]:
        """This thread's dataset handle and its native mapping."""
        handle = getattr(self._local, "handle", None)
        if handle is None:
            ds = rasterio.open(self.scene.path)
            handle = ds, NativeMapping(self.scene, ds)
            with self._lock:
                self._handles.append(ds)
            self._local.handle = handle
        return handle

    def _read_into(self, data: np.ndarray, valid: np.ndarray, row: int, col: int) -> None:
        """Fill preallocated (zeroed) `data` and `valid` with the window at (row, col)."""
        grid = self.scene.grid
        height, width = valid.shape
        r0, c0 = max(row, 0), max(col, 0)
        r1, c1 = min(row + height, grid.height), min(col + width, grid.width)
        if r1 <= r0 or c1 <= c0:
            return
        rows, cols = slice(r0 - row, r1 - row), slice(c0 - col, c1 - col)
        try:
            with remote_read_env(self.scene.path):
                ds, mapping = self._dataset()
                if self.scene.resampled:
                    part, ok = warp_window(ds, self.scene, mapping, r0, c0, r1 - r0, c1 - c0)
                else:
                    part, ok = self._read_native(ds, r0, r1, c0, c1)
        except RasterioError as exc:
            raise InputError(f"failed to read {self.scene.label} at rows {r0}-{r1}, columns {c0}-{c1}: "
                             f"the file is damaged or truncated ({exc})") from None
        data[:, rows, cols] = self.scene.convert(part)
        valid[rows, cols] = ok

    def _read_native(self, ds: DatasetReader, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """Working rows r0..r1 and columns c0..c1 read from the native pixels, reversed where the scene flips."""
        flip_rows, flip_cols = self.scene.flips
        grid = self.scene.grid
        if flip_rows:
            r0, r1 = grid.height - r1, grid.height - r0
        if flip_cols:
            c0, c1 = grid.width - c1, grid.width - c0
        data, valid = read_native(ds, self.scene.bands, Window(c0, r0, c1 - c0, r1 - r0), self.scene.dtype,
                                  self.scene.valid_ranges)
        axes = [axis for axis, flip in ((0, flip_rows), (1, flip_cols)) if flip]
        if axes:
            data, valid = np.flip(data, tuple(a + 1 for a in axes)), np.flip(valid, tuple(axes))
        return data, valid

    def submit_strip(self, row: int, height: int, col: int, width: int) -> PendingStrip:
        """Start reading a strip of rows, in column chunks, into one preallocated array."""
        data = np.zeros((len(self.scene.bands), height, width), dtype=self.scene.output_dtype)
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
        for ds in self._handles:
            ds.close()
        self._handles.clear()

    def __enter__(self) -> "StripReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
