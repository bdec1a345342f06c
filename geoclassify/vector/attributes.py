"""From pixel-space polygons to features: world coordinates, areas and perimeters in metres, feature batches."""

from __future__ import annotations

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
    """Areas (m²) and perimeters (m): planar in a projected CRS, geodesic on the ellipsoid in a geographic one."""

    def __init__(self, crs) -> None:
        units = ground_units(crs)
        self.geod = units.geod if units is not None else None
        # metres per CRS unit (projected; 1 without a CRS: the raster's own units), or degrees per unit (geographic)
        self.factor = units.factor if units is not None else 1.0

    def of_rings(self, rings: Rings, transform: Affine) -> tuple[float, float]:
        """Area and perimeter of a polygon held as pixel-space rings (exterior first)."""
        if self.geod is None:
            parts = [chunk_measures(c, n, transform) for c, n in zip(rings.chunks, rings.lengths)]
            area = np.concatenate([a for a, _ in parts]) * self.factor**2
            length = sum(float(p.sum()) for _, p in parts) * self.factor
        else:
            pairs = [self.geod.polygon_area_perimeter(*(world(r, transform) * self.factor).T)
                     for r in rings.ring_arrays()]
            area = np.abs([a for a, _ in pairs])
            length = sum(p for _, p in pairs)
        return float(area[0] - area[1:].sum()), length

    def __call__(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Areas (m²) and perimeters (m, holes included) of an array of n world-coordinate polygons: two (n,) arrays."""
        if self.geod is None:
            return shapely.area(geoms) * self.factor**2, shapely.length(geoms) * self.factor
        if self.factor != 1.0:
            geoms = shapely.transform(geoms, lambda xy: xy * self.factor)  # to degrees
        oriented = shapely.orient_polygons(geoms)  # exterior counter-clockwise: positive areas, holes subtracted
        area = np.array([self.geod.geometry_area_perimeter(g)[0] for g in oriented], np.float64)
        rings, index = shapely.get_rings(geoms, return_index=True)  # pyproj's perimeters leave out the holes
        lengths = [self.geod.line_length(*shapely.get_coordinates(ring).T) for ring in rings]
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
