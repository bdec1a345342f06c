"""Ground units: pixel sizes in metres and polygon areas agree on every kind of CRS."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import Geod, Transformer
from rasterio.crs import CRS

from geoclassify.geo.grid import Grid
from geoclassify.geo.units import ground_units, pixel_area_m2, pixel_size_metres
from geoclassify.vector.attributes import Measure


def pixel_polygon(grid: Grid) -> shapely.Polygon:
    """The centre pixel of `grid` as a polygon in CRS units."""
    t = grid.transform
    col, row = grid.width // 2, grid.height // 2
    return shapely.Polygon([t * (col, row), t * (col + 1, row), t * (col + 1, row + 1), t * (col, row + 1)])


@pytest.mark.parametrize("crs, transform", [
    ("EPSG:4326", Affine(0.0001, 0, 10.0, 0, -0.0001, 47.0)),  # degrees at 47 N
    ("EPSG:4326", Affine(0.0001, 0, -60.0, 0, -0.0001, -5.0)),  # degrees near the equator
    ("EPSG:32633", Affine(10.0, 0, 500000.0, 0, -10.0, 5200000.0)),  # metres
    ("EPSG:2263", Affine(30.0, 0, 900000.0, 0, -30.0, 200000.0)),  # US survey feet
    ("EPSG:3857", Affine(7.33, 0, -11040000.0, 0, -7.33, 5948000.0)),  # Web Mercator at 47 N
    ("EPSG:3857", Affine(1.0, 0, 3000000.0, 0, -1.0, -1500000.0)),  # Web Mercator at 13 S
    ("EPSG:32614", Affine(4.33, 2.5, 485899.0, 2.5, -4.33, 5209246.0)),  # rotated 30 degrees
])
def test_one_pixel_area_is_the_sieve_pixel_area(crs, transform):
    """The sieve converts --min-area with pixel_area_m2, area_m2 comes from Measure: one pixel, one ground area,
    the product of the ground pixel sizes."""
    grid = Grid(101, 101, transform, CRS.from_string(crs))
    rx, ry = pixel_size_metres(grid)
    area, _ = Measure(grid.crs)(np.array([pixel_polygon(grid)]))
    assert area[0] == pytest.approx(pixel_area_m2(grid), rel=1e-6)
    assert area[0] == pytest.approx(rx * ry, rel=1e-3)


def test_web_mercator_is_measured_on_the_ground():
    """At 47 N a Web Mercator metre is cos(47 deg) ground metres: 7.33 CRS units are a 5 m ground pixel, and a
    polygon's area_m2 is its geodesic area, not 2.15x it (the planar Mercator area)."""
    grid = Grid(101, 101, Affine(7.33, 0, -11040000.0, 0, -7.33, 5948000.0), CRS.from_epsg(3857))
    # Web Mercator is not conformal on the ellipsoid: its x and y scales differ by 0.3 % at 47 N
    assert pixel_size_metres(grid) == pytest.approx((5.005, 4.989), abs=0.001)
    field = shapely.box(-11040000.0, 5947000.0, -11039000.0, 5948000.0)  # 1 km x 1 km in Mercator units
    area, perimeter = Measure(grid.crs)(np.array([field]))
    lon, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform(*shapely.get_coordinates(field).T)
    geodesic_area, geodesic_perimeter = Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)
    assert area[0] == pytest.approx(abs(geodesic_area), rel=1e-5)
    assert perimeter[0] == pytest.approx(geodesic_perimeter, rel=1e-5)
    assert field.area / area[0] == pytest.approx(2.15, abs=0.01)


def test_geographic_pixel_size_follows_the_latitude():
    """0.0001 degree: 11.13 m of longitude at the equator, cos(47 deg) of that at 47 N; latitude steps stay ~11.1 m."""
    equator = pixel_size_metres(Grid(3, 3, Affine(0.0001, 0, 0, 0, -0.0001, 0.00015), CRS.from_epsg(4326)))
    north = pixel_size_metres(Grid(3, 3, Affine(0.0001, 0, 0, 0, -0.0001, 47.00015), CRS.from_epsg(4326)))
    assert equator[0] == pytest.approx(11.132, abs=1e-3)
    assert north[0] / equator[0] == pytest.approx(np.cos(np.radians(47)), rel=3e-3)  # ellipsoid, not a sphere
    assert north[1] == pytest.approx(11.118, abs=1e-2)


def test_units_of_a_geographic_crs_in_grads():
    """A CRS whose angles are grads: one grad is 0.9 degree."""
    wkt = CRS.from_epsg(4807).to_wkt()  # NTF (Paris), grads
    units = ground_units(CRS.from_wkt(wkt))
    assert units.geographic and units.factor == pytest.approx(0.9)


def test_no_crs_has_no_ground_units():
    assert ground_units(None) is None
    assert pixel_size_metres(Grid(2, 2, Affine.identity())) is None
