"""Vector output formats, chosen by file extension or by name (no heavy imports here: the CLI uses it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from geoclassify.errors import ConfigError


@dataclass(frozen=True)
class VectorFormat:
    """One output format: its option name, OGR driver (GeoParquet is written with pyarrow) and extensions."""

    name: str
    driver: str
    extensions: tuple[str, ...]
    label: str


FORMATS: dict[str, VectorFormat] = {f.name: f for f in (
    VectorFormat("gpkg", "GPKG", (".gpkg",), "GeoPackage"),
    VectorFormat("geojson", "GeoJSON", (".geojson", ".json"), "GeoJSON (RFC 7946, EPSG:4326)"),
    VectorFormat("fgb", "FlatGeobuf", (".fgb",), "FlatGeobuf"),
    VectorFormat("parquet", "GeoParquet", (".parquet", ".geoparquet"), "GeoParquet"),
    VectorFormat("shp", "ESRI Shapefile", (".shp",), "Shapefile"),
)}
DEFAULT_FORMAT = "gpkg"


def vector_format(path: str | Path, name: str | None = None) -> VectorFormat:
    """The format named by `name`, else by the extension of `path` (GeoPackage without one)."""
    if name is not None:
        if name not in FORMATS:
            raise ConfigError(f"unknown vector format {name!r}; use one of {', '.join(FORMATS)}")
        return FORMATS[name]
    suffix = Path(path).suffix.lower()
    if not suffix:
        return FORMATS[DEFAULT_FORMAT]
    for fmt in FORMATS.values():
        if suffix in fmt.extensions:
            return fmt
    known = ", ".join(ext for f in FORMATS.values() for ext in f.extensions)
    raise ConfigError(f"unknown vector file extension {suffix!r} in {path}; use one of {known}, or name the format "
                      f"with --format")
