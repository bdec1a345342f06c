"""From pixel-space polygons to features: world coordinates, areas and perimeters in metres, feature batches."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import shapely
from affine import Affine

from geoclassify.geo.units import ground_units
from geoclassify.vector.regions import Polygons
from geoclassify.vector.rings import WKB_BLOCK, Rings, chunk_measures, polygon_wkb, world

FIELDS = [("class_id", pa.int32()), ("class_name", pa.string()), ("area_m2", pa.float64()),
          ("perimeter_m", pa.float64())]
CONFIDENCE_FIELD = ("mean_confidence", pa.float64())
GEOMETRY = "geometry"


def feature_schema(confidence: bool) -> pa.Schema:
    """Attribute columns (mean_confidence only with probabilities) and a WKB geometry column."""
    return pa.schema(FIELDS + ([CONFIDENCE_FIELD] if confidence else []) + [(GEOMETRY, pa.large_binary())])


def wkb_array(geoms: np.ndarray) -> pa.LargeBinaryArray:
    """WKB of the geometries as one Arrow array, built from one buffer (pa.array over bytes objects is slow)."""
    wkb = shapely.to_wkb(geoms)
    offsets = np.zeros(len(wkb) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, wkb), np.int64, count=len(wkb)), out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(wkb))]
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(wkb), buffers)


def to_world(geoms: np.ndarray, transform: Affine) -> np.ndarray:
    """Pixel-space geometries in the raster's CRS (the same arithmetic for every block layout)."""
    a, b, c, d, e, f = transform[:6]

    def apply(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([a * xy[:, 0] + b * xy[:, 1] + c, d * xy[:, 0] + e * xy[:, 1] + f])

    return shapely.transform(geoms, apply)


class Measure:
    """Areas (m²) and perimeters (m) on the ground: geodesic on the ellipsoid in a geographic CRS; in a projected
    CRS planar, divided by the projection's areal scale at the polygon (its square root for perimeters, exact
    for conformal projections); in the raster's own units without a CRS. See geoclassify.geo.units."""

    def __init__(self, crs) -> None:
        self.units = ground_units(crs)

    def of_rings(self, rings: Rings, transform: Affine) -> tuple[float, float]:
        """Area and perimeter of a polygon held as pixel-space rings (exterior first)."""
        units = self.units
        if units is None or not units.geographic:
            parts = [chunk_measures(c, n, transform) for c, n in zip(rings.chunks, rings.lengths)]
            area = np.concatenate([a for a, _ in parts])
            length = sum(float(p.sum()) for _, p in parts)
            if units is None:
                return float(area[0] - area[1:].sum()), length
            exterior = world(rings.exterior(), transform)
            x, y = (exterior.min(axis=0) + exterior.max(axis=0)) / 2  # the envelope's centre, as for polygons
            scale = float(units.areal_scale(np.array([x]), np.array([y]))[0])
            return (float(area[0] - area[1:].sum()) * units.factor**2 / scale,
                    length * units.factor / math.sqrt(scale))
        pairs = [units.geod.polygon_area_perimeter(*(world(r, transform) * units.factor).T)
                 for r in rings.ring_arrays()]
        areas = np.abs([a for a, _ in pairs])
        return float(areas[0] - areas[1:].sum()), sum(p for _, p in pairs)

    def __call__(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Areas (m²) and perimeters (m, holes included) of an array of n world-coordinate polygons: two (n,) arrays."""
        units = self.units
        if units is None:
            return shapely.area(geoms), shapely.length(geoms)
        if not units.geographic:
            bounds = shapely.bounds(geoms)
            x, y = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
            scale = units.areal_scale(x, y)
            return (shapely.area(geoms) * units.factor**2 / scale,
                    shapely.length(geoms) * units.factor / np.sqrt(scale))
        if units.factor != 1.0:
            geoms = shapely.transform(geoms, lambda xy: xy * units.factor)  # to degrees
        oriented = shapely.orient_polygons(geoms)  # exterior counter-clockwise: positive areas, holes subtracted
        area = np.array([units.geod.geometry_area_perimeter(g)[0] for g in oriented], np.float64)
        rings, index = shapely.get_rings(geoms, return_index=True)  # pyproj's perimeters leave out the holes
        lengths = [units.geod.line_length(*shapely.get_coordinates(ring).T) for ring in rings]
        return np.abs(area), np.bincount(index, lengths, minlength=len(geoms))


def feature_batch(polys: Polygons, names: np.ndarray, measure: Measure, transform: Affine,
                  schema: pa.Schema) -> pa.RecordBatch:
    """One record batch of features from finished regions (GEOS polygons)."""
    geoms = to_world(polys.geoms, transform)
    area, perimeter = measure(geoms)
    return _record_batch(polys, names, area, perimeter, wkb_array(geoms), schema)


def large_feature(polys: Polygons, names: np.ndarray, measure: Measure, transform: Affine,
                  schema: pa.Schema) -> "LargeFeature":
    """One large region held as Rings, measured from them; its WKB is written later, straight from them."""
    rings = polys.geoms[0]
    area, perimeter = measure.of_rings(rings, transform)
    return LargeFeature(_attribute_columns(polys, names, np.array([area]), np.array([perimeter]), schema), rings,
                        transform)


@dataclass(frozen=True)
class LargeFeature:
    """A region too large to pass through GEOS: its attribute columns (one row) and its rings."""

    columns: list[pa.Array]
    rings: Rings
    transform: Affine

    def batch(self, schema: pa.Schema) -> pa.RecordBatch:
        """The feature as a record batch, its WKB built in one buffer."""
        wkb = polygon_wkb(self.rings, self.transform)
        buffers = [None, pa.py_buffer(np.array([0, len(wkb)], np.int64)), pa.py_buffer(wkb)]
        geometry = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, buffers)
        return pa.record_batch(self.columns + [geometry], schema=schema)

    def envelope(self) -> tuple[float, float, float, float]:
        """(min x, max x, min y, max y) in world coordinates: the exterior's, in blocks of vertices."""
        exterior = self.rings.exterior()
        lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
        for a in range(0, len(exterior), WKB_BLOCK):
            xy = world(exterior[a: a + WKB_BLOCK], self.transform)
            lo, hi = np.minimum(lo, xy.min(axis=0)), np.maximum(hi, xy.max(axis=0))
        return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def _attribute_columns(polys: Polygons, names: np.ndarray, area: np.ndarray, perimeter: np.ndarray,
                       schema: pa.Schema) -> list[pa.Array]:
    """The attribute columns of `schema` for n regions (`names`, `area`, `perimeter`: (n,) arrays)."""
    columns = [pa.array(polys.classes.astype(np.int32)), pa.array(names, pa.string()), pa.array(area),
               pa.array(perimeter)]
    if CONFIDENCE_FIELD[0] in schema.names:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = polys.conf_sum / polys.conf_n
        columns.append(pa.array(mean, mask=polys.conf_n == 0))
    return columns


def _record_batch(polys: Polygons, names: np.ndarray, area: np.ndarray, perimeter: np.ndarray,
                  geometry: pa.Array, schema: pa.Schema) -> pa.RecordBatch:
    """The attribute columns and the WKB `geometry` column as one record batch."""
    return pa.record_batch(_attribute_columns(polys, names, area, perimeter, schema) + [geometry], schema=schema)
