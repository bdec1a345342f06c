"""Grid and Tile: immutable georeferencing and window value types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from geoclassify.geo.tiling import axis_starts


@dataclass(frozen=True)
class Grid:
    """A raster grid: shape (height, width), affine transform and CRS (None when unknown)."""

    height: int
    width: int
    transform: Affine
    crs: CRS | None = None

    @classmethod
    def from_dataset(cls, dataset) -> "Grid":
        return cls(dataset.height, dataset.width, dataset.transform, dataset.crs or None)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y), positive, in CRS units."""
        t = self.transform
        return (abs(t.a) if t.b == 0 else (t.a**2 + t.d**2) ** 0.5, abs(t.e) if t.d == 0 else (t.b**2 + t.e**2) ** 0.5)

    def window(self, window: Window) -> "Grid":
        """The sub-grid covered by a window (which may extend beyond this grid)."""
        col, row = int(window.col_off), int(window.row_off)
        return Grid(int(window.height), int(window.width), self.transform @ Affine.translation(col, row), self.crs)

    def coarsened(self, stride: int) -> "Grid":
        """The grid of one output pixel per `stride` x `stride` block, from the origin."""
        height = -(-self.height // stride)
        width = -(-self.width // stride)
        transform = self.transform @ Affine.scale(stride)
        return Grid(height, width, transform, self.crs)

    def resampled(self, res_x: float, res_y: float) -> "Grid":
        """The same extent at another pixel size (north-up grids only)."""
        t = self.transform
        if t.b != 0 or t.d != 0:
            raise ValueError("resampling a rotated grid is not supported")
        width = max(1, round(self.width * abs(t.a) / res_x))
        height = max(1, round(self.height * abs(t.e) / res_y))
        transform = Affine(res_x if t.a > 0 else -res_x, 0, t.c, 0, -res_y if t.e < 0 else res_y, t.f)
        return Grid(height, width, transform, self.crs)

    def tiles(self, size: int, stride: int, start: int = 0) -> Iterator["Tile"]:
        """Tiles of `size` pixels every `stride` pixels from `start` (may be negative) until covered."""
        for row in axis_starts(self.height, size, stride, start):
            for col in axis_starts(self.width, size, stride, start):
                yield Tile.at(row, col, size, self)


@dataclass(frozen=True)
class Tile:
    """A model input window (`read`, may extend past the grid: padded) and the part inside the grid."""

    read: Window
    inside: Window

    @classmethod
    def at(cls, row: int, col: int, size: int, grid: Grid) -> "Tile":
        read = Window(col, row, size, size)
        r0, c0 = max(row, 0), max(col, 0)
        r1, c1 = min(row + size, grid.height), min(col + size, grid.width)
        return cls(read, Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0)))
