"""Ground units: what one unit of a raster's CRS is on the ground, from pyproj (the CRS's unit, its ellipsoid).

The one place that turns CRS units into metres: the working pixel size (resampling to a model's GSD), the
polygon sieve's `--min-area` and the `area_m2` / `perimeter_m` of the polygons all go through here, so they
agree on every CRS.

- Projected CRS: the axis unit's conversion factor to metres (1 for metre CRSs, 0.3048 for international feet).
- Geographic CRS: distances on the CRS's own ellipsoid (pyproj.Geod), angles converted from the axis unit
  (degrees, grads, radians) to degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyproj import CRS as ProjCRS
from pyproj import Geod

from geoclassify.geo.grid import Grid


@dataclass(frozen=True)
class GroundUnits:
    """How a CRS's units map to the ground.

    Attributes:
        geod: the ellipsoid of a geographic CRS (distances and areas are geodesic); None for a projected CRS.
        factor: metres per CRS unit for a projected CRS; degrees per CRS unit for a geographic one.
    """

    geod: Geod | None
    factor: float

    @property
    def geographic(self) -> bool:
        """True for a geographic CRS (angular units, geodesic measures)."""
        return self.geod is not None


def ground_units(crs) -> GroundUnits | None:
    """The ground units of `crs` (a rasterio or pyproj CRS), or None without a CRS.

    Raises:
        pyproj.exceptions.CRSError: `crs` cannot be read by PROJ.
    """
    if crs is None:
        return None
    proj = crs if isinstance(crs, ProjCRS) else ProjCRS.from_wkt(crs.to_wkt())
    unit = proj.axis_info[0].unit_conversion_factor if proj.axis_info else 1.0
    if proj.is_geographic:
        return GroundUnits(proj.get_geod(), math.degrees(unit))  # unit: radians per axis unit
    return GroundUnits(None, unit)


def pixel_size_metres(grid: Grid) -> tuple[float, float] | None:
    """The ground size (x, y) of one pixel of `grid` in metres, or None when the grid has no CRS.

    In a projected CRS: the pixel size times the unit's factor. In a geographic CRS: the geodesic length on
    the ellipsoid of one pixel step along a row and along a column, at the grid's centre.

    Examples:
        >>> from affine import Affine
        >>> from rasterio.crs import CRS
        >>> pixel_size_metres(Grid(10, 10, Affine(2.0, 0, 0, 0, -2.0, 0), CRS.from_epsg(32633)))
        (2.0, 2.0)
        >>> feet = Grid(10, 10, Affine(2.0, 0, 0, 0, -2.0, 0), CRS.from_epsg(2263))  # US survey feet
        >>> [round(v, 6) for v in pixel_size_metres(feet)]
        [0.609601, 0.609601]
        >>> at_47n = Grid(2, 2, Affine(0.001, 0, 10.999, 0, -0.001, 47.001), CRS.from_epsg(4326))  # 0.001 degree
        >>> [round(v, 2) for v in pixel_size_metres(at_47n)]
        [76.06, 111.17]
    """
    units = ground_units(grid.crs)
    if units is None:
        return None
    rx, ry = grid.res
    if units.geod is None:
        return rx * units.factor, ry * units.factor
    t = grid.transform
    lon, lat = t * (grid.width / 2, grid.height / 2)
    k = units.factor
    lon, lat = lon * k, lat * k
    along_row = units.geod.inv(lon, lat, lon + t.a * k, lat + t.d * k)[2]
    along_col = units.geod.inv(lon, lat, lon + t.b * k, lat + t.e * k)[2]
    return float(along_row), float(along_col)
