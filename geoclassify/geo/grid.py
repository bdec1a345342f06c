"""Grid: the immutable georeferencing of a raster (shape, affine transform, CRS)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS


@dataclass(frozen=True)
class Grid:
    """A raster grid: shape (height, width), affine transform and CRS (None when unknown)."""

    height: int
    width: int
    transform: Affine
    crs: CRS | None = None

    @classmethod
    def from_dataset(cls, dataset) -> "Grid":
        """The grid of an open rasterio dataset; an empty CRS becomes None."""
        return cls(dataset.height, dataset.width, dataset.transform, dataset.crs or None)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return self.height, self.width

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y), positive, in CRS units: the length of one column step and of one row step (rotated
        and sheared grids included)."""
        t = self.transform
        return math.hypot(t.a, t.d), math.hypot(t.b, t.e)

    def coarsened(self, stride: int) -> "Grid":
        """The grid of one output pixel per `stride` x `stride` block, from the origin."""
        height = -(-self.height // stride)
        width = -(-self.width // stride)
        transform = self.transform @ Affine.scale(stride)
        return Grid(height, width, transform, self.crs)

    def resampled(self, scale_x: float, scale_y: float) -> "Grid":
        """The same extent in pixels `scale_x` times wider and `scale_y` times taller (rounded to whole pixels),
        in the grid's own frame: rotation, shear and axis directions kept.

        Examples:
            >>> rotated = Grid(100, 80, Affine(4.33, 2.5, 1000, 2.5, -4.33, 5000))
            >>> r = rotated.resampled(2, 2)
            >>> r.shape, [round(v, 2) for v in r.transform[:6]]
            ((50, 40), [8.66, 5.0, 1000.0, 5.0, -8.66, 5000.0])
        """
        width = max(1, round(self.width / scale_x))
        height = max(1, round(self.height / scale_y))
        return Grid(height, width, self.transform @ Affine.scale(scale_x, scale_y), self.crs)

    @property
    def flips(self) -> tuple[bool, bool]:
        """(rows, columns): which pixel axes run against north-up, east-right order: rows when a row step goes
        north (south-up grids), columns when a column step goes west (east-left grids). For rotated grids, the
        axis's component along north or east decides."""
        t = self.transform
        return t.e > 0, t.a < 0

    def flipped(self, rows: bool, cols: bool) -> "Grid":
        """The same pixels with the row order and/or the column order reversed (an exact reindexing).

        Examples:
            >>> south_up = Grid(3, 4, Affine(10, 0, 500, 0, 10, 100))
            >>> south_up.flipped(*south_up.flips).transform[:6]
            (10.0, 0.0, 500.0, 0.0, -10.0, 130.0)
        """
        t = self.transform
        if rows:
            t = t @ Affine(1, 0, 0, 0, -1, self.height)
        if cols:
            t = t @ Affine(-1, 0, self.width, 0, 1, 0)
        return Grid(self.height, self.width, t, self.crs)
