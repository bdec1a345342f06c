"""Streamed, atomic vector output: record batches into GeoPackage, GeoJSON, FlatGeobuf, Shapefile or GeoParquet.

Batches are written as they come (OGR formats through `pyogrio.write_arrow`, GeoParquet as row groups with
pyarrow), into a private temporary directory beside the target; the finished file(s) are renamed into place,
so an error or Ctrl-C leaves nothing at the output path. In a GeoPackage, regions too large to pass through
GDAL cheaply are appended at the end by geoclassify.vector.gpkg.
"""

from __future__ import annotations

import json
import logging
import warnings
from functools import partial
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
from pyproj import CRS as ProjCRS

from geoclassify.io.atomic import atomic_files
from geoclassify.io.failures import write_error
from geoclassify.vector.attributes import GEOMETRY, LargeFeature
from geoclassify.vector.formats import VectorFormat
from geoclassify.vector.gpkg import append_large_features, move_geometry_last

log = logging.getLogger("geoclassify")

SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")
SHAPEFILE_FIELDS = {"perimeter_m": "perim_m", "mean_confidence": "mean_conf"}  # dBASE: 10 characters at most


class BatchFeed:
    """Wraps a batch iterator so that an error raised while producing batches survives the C stream."""

    def __init__(self, batches: Iterable[pa.RecordBatch]):
        self.batches = batches
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self.batches
        except BaseException as exc:
            self.error = exc
            raise


def shapefile_names(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> tuple[pa.Schema, Iterator]:
    """The schema and batches with field names that fit a Shapefile."""
    names = [SHAPEFILE_FIELDS.get(name, name) for name in schema.names]
    schema = pa.schema([field.with_name(name) for field, name in zip(schema, names)])
    return schema, (batch.rename_columns(names) for batch in batches)


def write_ogr(tmp: Path, fmt: VectorFormat, layer: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
              crs) -> None:
    """Write the batches as one layer of an OGR format into `tmp` (pyogrio); a GeoPackage gets its geometry column
    last, so that large features can be appended to it. pyogrio's errors pass through (write_features reports them).
    """
    options = {"RFC7946": "YES"} if fmt.name == "geojson" and crs is not None else None
    if fmt.name == "shp":
        schema, batches = shapefile_names(schema, batches)
    write = partial(pyogrio.write_arrow, path=str(tmp), layer=layer, driver=fmt.driver, geometry_name=GEOMETRY,
                    geometry_type="Polygon", crs=crs.to_wkt() if crs is not None else None, layer_options=options)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)  # the raster's warning said it
        if fmt.name == "gpkg":  # an empty layer first, its geometry moved last for append_large_features
            write(pa.RecordBatchReader.from_batches(schema, iter([])))
            move_geometry_last(tmp, layer)
            write = partial(write, append=True, layer_options=None)
        write(pa.RecordBatchReader.from_batches(schema, iter(batches)))


def geoparquet_metadata(crs) -> dict[bytes, bytes]:
    """GeoParquet 1.1 file metadata: WKB polygons in the raster's CRS (null: unknown CRS)."""
    column = {"encoding": "WKB", "geometry_types": ["Polygon"],
              "crs": ProjCRS.from_wkt(crs.to_wkt()).to_json_dict() if crs is not None else None}
    geo = {"version": "1.1.0", "primary_column": GEOMETRY, "columns": {GEOMETRY: column}}
    return {b"geo": json.dumps(geo).encode()}


def write_geoparquet(tmp: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], crs) -> None:
    """Write the batches into `tmp` as GeoParquet, batch by batch (zstd-compressed row groups)."""
    schema = schema.with_metadata(geoparquet_metadata(crs))
    with pq.ParquetWriter(str(tmp), schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch.replace_schema_metadata(schema.metadata))


def record_batches(items: Iterable[pa.RecordBatch | LargeFeature], schema: pa.Schema,
                   held_back: list[LargeFeature] | None) -> Iterator[pa.RecordBatch]:
    """Record batches of `items`; large features go to `held_back` if it is given, else become batches."""
    for item in items:
        if isinstance(item, LargeFeature):
            if held_back is not None:
                held_back.append(item)
                continue
            item = item.batch(schema)
        yield item


def write_features(path: Path, fmt: VectorFormat, layer: str, schema: pa.Schema,
                   batches: Iterable[pa.RecordBatch | LargeFeature], crs) -> None:
    """Stream `batches` into `path` atomically; errors from producing the batches are raised as they are.
    In a GeoPackage, large features are appended at the end with their geometry streamed (vector.gpkg)."""
    feed = BatchFeed(batches)
    held_back: list[LargeFeature] | None = [] if fmt.name == "gpkg" else None
    stale = [path.with_suffix(ext) for ext in SHAPEFILE_PARTS] if path.suffix.lower() == ".shp" else []
    with atomic_files(path, replaces=stale) as tmp:
        try:
            if fmt.name == "parquet":
                write_geoparquet(tmp, schema, record_batches(feed, schema, None), crs)
            else:
                write_ogr(tmp, fmt, layer, schema, record_batches(feed, schema, held_back), crs)
            if held_back:
                append_large_features(tmp, layer, schema.names[:-1], held_back)
        except Exception as exc:
            if feed.error is not None:
                raise feed.error from None
            raise write_error(path, exc, written=tmp) from None
        if feed.error is not None:
            raise feed.error
