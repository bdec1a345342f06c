"""Grid: the immutable georeferencing of a raster (shape, affine transform, CRS)."""

from __future__ import annotations

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
        """Pixel size (x, y), positive, in CRS units."""
        t = self.transform
        return (abs(t.a) if t.b == 0 else (t.a**2 + t.d**2) ** 0.5, abs(t.e) if t.d == 0 else (t.b**2 + t.e**2) ** 0.5)

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
