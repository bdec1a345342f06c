"""Ground units: what a raster's pixels and polygons measure on the ground, from pyproj (PROJ).

The one place that turns CRS units into metres: the working pixel size (resampling to a model's GSD), the
polygon sieve's `--min-area` and the `area_m2` / `perimeter_m` of the polygons all go through here, so they
agree on every CRS.

- Pixel sizes are geodesic in every CRS: the length on the CRS's ellipsoid of one pixel step along a row and
  along a column, at the grid's centre. A Web Mercator pixel of 7.33 CRS metres at 47 N is 5 m on the ground.
- Geographic CRS: distances and areas on the CRS's own ellipsoid (pyproj.Geod), angles converted from the axis
  unit (degrees, grads, radians) to degrees.
- Projected CRS: planar measures divided by the projection's scale at the polygon (the centre of its envelope),
  measured geodesically: the ground area of two small CRS steps (east and north) over their CRS area. Areas
  are exact to about 1e-5 for polygons of a few km; perimeters use the square root of the areal scale, exact
  for conformal projections (UTM, Lambert conformal conic) and within 0.3 % for Web Mercator (not conformal on
  the ellipsoid: its x and y scales differ by that much at 47 N).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyproj import CRS as ProjCRS
from pyproj import Geod, Proj

from geoclassify.geo.grid import Grid

SCALE_STEP_M = 100.0  # the CRS steps (in metres of CRS units) whose ground length gives a projection's scale


@dataclass(frozen=True)
class GroundUnits:
    """How a CRS's units map to the ground.

    Attributes:
        geod: the CRS's ellipsoid (geodesic distances and areas).
        factor: metres per CRS unit for a projected CRS; degrees per CRS unit for a geographic one.
        proj: the projection (PROJ), for a projected CRS; None for a geographic one.
    """

    geod: Geod
    factor: float
    proj: Proj | None = None

    @property
    def geographic(self) -> bool:
        """True for a geographic CRS (angular units, geodesic measures)."""
        return self.proj is None

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitudes and latitudes in degrees of points in CRS units (arrays of one shape)."""
        if self.proj is None:
            return np.asarray(x) * self.factor, np.asarray(y) * self.factor
        lon, lat = self.proj(np.asarray(x, np.float64), np.asarray(y, np.float64), inverse=True)
        return np.asarray(lon), np.asarray(lat)

    def areal_scale(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """CRS area / ground area at points in CRS units, from geodesic steps of 100 m of CRS units east and
        north of each point (1 for a geographic CRS: measured geodesically instead)."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if self.proj is None:
            return np.ones(x.shape)
        h = SCALE_STEP_M / self.factor / 2
        lon, lat = self.lonlat(np.concatenate([x - h, x + h, x, x]), np.concatenate([y, y, y - h, y + h]))
        west, east, south, north = np.split(np.column_stack([lon, lat]), 4)
        az_x, _, along_x = self.geod.inv(west[:, 0], west[:, 1], east[:, 0], east[:, 1])
        az_y, _, along_y = self.geod.inv(south[:, 0], south[:, 1], north[:, 0], north[:, 1])
        ground = along_x * along_y * np.abs(np.sin(np.radians(az_x - az_y)))
        return (SCALE_STEP_M**2) / ground


def ground_units(crs) -> GroundUnits | None:
    """The ground units of `crs` (a rasterio or pyproj CRS), or None without a CRS or without an ellipsoid (an
    engineering CRS: its units are the raster's own).

    Raises:
        pyproj.exceptions.CRSError: `crs` cannot be read by PROJ.
    """
    if crs is None:
        return None
    proj = crs if isinstance(crs, ProjCRS) else ProjCRS.from_wkt(crs.to_wkt())
    geod = proj.get_geod()
    if geod is None:
        return None
    unit = proj.axis_info[0].unit_conversion_factor if proj.axis_info else 1.0
    if proj.is_geographic:
        return GroundUnits(geod, math.degrees(unit))  # unit: radians per axis unit
    return GroundUnits(geod, unit, Proj(proj))


def pixel_size_metres(grid: Grid) -> tuple[float, float] | None:
    """The ground size (x, y) of one pixel of `grid` in metres, or None when the grid has no CRS.

    The geodesic length on the CRS's ellipsoid of one pixel step along a row (x) and along a column (y), at
    the grid's centre, in any CRS.

    Examples:
        >>> from affine import Affine
        >>> from rasterio.crs import CRS
        >>> utm = Grid(10, 10, Affine(2.0, 0, 500000, 0, -2.0, 5200000), CRS.from_epsg(32633))
        >>> [round(v, 4) for v in pixel_size_metres(utm)]  # at the central meridian: scale 0.9996
        [2.0008, 2.0008]
        >>> feet = Grid(10, 10, Affine(2.0, 0, 900000, 0, -2.0, 200000), CRS.from_epsg(2263))  # US survey feet
        >>> [round(v, 6) for v in pixel_size_metres(feet)]
        [0.609603, 0.609603]
        >>> at_47n = Grid(2, 2, Affine(0.001, 0, 10.999, 0, -0.001, 47.001), CRS.from_epsg(4326))  # 0.001 degree
        >>> [round(v, 2) for v in pixel_size_metres(at_47n)]
        [76.06, 111.17]
        >>> mercator = Grid(10, 10, Affine(7.33, 0, -11040000, 0, -7.33, 5948000), CRS.from_epsg(3857))
        >>> [round(v, 2) for v in pixel_size_metres(mercator)]  # 7.33 Mercator metres at 47 N
        [5.0, 4.99]
    """
    units = ground_units(grid.crs)
    if units is None:
        return None
    t = grid.transform
    col, row = grid.width / 2, grid.height / 2
    x, y = zip(t * (col, row), t * (col + 1, row), t * (col, row + 1))
    lon, lat = units.lonlat(np.array(x), np.array(y))
    _, _, dist = units.geod.inv(lon[[0, 0]], lat[[0, 0]], lon[[1, 2]], lat[[1, 2]])
    return float(dist[0]), float(dist[1])


def pixel_area_m2(grid: Grid) -> float | None:
    """The ground area in m² of the pixel at the centre of `grid` (geodesic), or None without a CRS.

    Examples:
        >>> from affine import Affine
        >>> from rasterio.crs import CRS
        >>> mercator = Grid(10, 10, Affine(7.33, 0, -11040000, 0, -7.33, 5948000), CRS.from_epsg(3857))
        >>> round(pixel_area_m2(mercator), 1)  # 7.33 x 7.33 Mercator metres at 47 N
        25.0
    """
    units = ground_units(grid.crs)
    if units is None:
        return None
    t = grid.transform
    col, row = grid.width // 2, grid.height // 2
    x, y = zip(t * (col, row), t * (col + 1, row), t * (col + 1, row + 1), t * (col, row + 1))
    lon, lat = units.lonlat(np.array(x), np.array(y))
    return abs(float(units.geod.polygon_area_perimeter(lon, lat)[0]))
