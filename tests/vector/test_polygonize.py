"""Polygonize on real rasters: exact reproduction, block-wise == whole, sieve, coverage simplification, formats."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio import features
from rasterio.windows import Window

from geoclassify.errors import ConfigError, InputError, OutputError
from geoclassify.geo.grid import Grid
from geoclassify.geo.units import pixel_area_m2
from geoclassify.vector.classes import ClassRaster
from geoclassify.vector.formats import FORMATS
from geoclassify.vector.polygonize import PolygonizeOptions, polygonize_raster
from geoclassify.vector.sieve import sieve_strips

NAMES = ["dark", "mid", "bright", "very_bright"]


def write_raster(path: Path, data: np.ndarray, profile: dict, names: list[str] | None = NAMES, **changes) -> Path:
    """A single- or multi-band raster with the given profile; CLASS_NAMES on band 1 when `names`."""
    data = data if data.ndim == 3 else data[None]
    profile = dict(profile, driver="GTiff", count=data.shape[0], dtype=str(data.dtype), **changes)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if names:
            dst.update_tags(1, CLASS_NAMES=json.dumps(names))
    return path


def band_classes(rgb_byte: Path, window: Window | None = None) -> tuple[np.ndarray, dict]:
    """Landsat band 2 of RGB.byte.tif cut into 4 brightness classes (real structure), 255 on its nodata collar."""
    with rasterio.open(rgb_byte) as src:
        band = src.read(2, window=window)
        valid = src.read_masks(1, window=window) > 0
        transform = src.window_transform(window) if window else src.transform
        profile = dict(crs=src.crs, transform=transform, width=band.shape[1], height=band.shape[0], nodata=255)
    classes = np.digitize(band, [40, 70, 100]).astype(np.uint8)
    classes[~valid] = 255
    return classes, profile


@pytest.fixture(scope="session")
def classes_tif(tmp_path_factory, rgb_byte) -> Path:
    """300x300 crop of the 4-class raster: collar nodata, large regions and small ones."""
    classes, profile = band_classes(rgb_byte, Window(200, 0, 300, 300))
    return write_raster(tmp_path_factory.mktemp("vector") / "classes.tif", classes, profile)


@pytest.fixture(scope="session")
def full_classes_tif(tmp_path_factory, rgb_byte) -> Path:
    classes, profile = band_classes(rgb_byte)
    return write_raster(tmp_path_factory.mktemp("vector") / "full_classes.tif", classes, profile)


@pytest.fixture(scope="session")
def prediction(tmp_path_factory, naip) -> tuple[Path, Path]:
    """Classes and uint8 probabilities of the demo scene from the bundled default model (--stride 16)."""
    from click.testing import CliRunner

    from geoclassify.cli.main import cli

    out = tmp_path_factory.mktemp("prediction")
    classes, probs = out / "classes.tif", out / "probs.tif"
    result = CliRunner().invoke(cli, ["-q", "predict", str(naip), "-o", str(classes), "--stride", "16",
                                      "--probabilities", str(probs)])
    assert result.exit_code == 0, result.output
    return classes, probs


def run(raster: Path, out: Path, **options) -> gpd.GeoDataFrame:
    polygonize_raster(str(raster), str(out), PolygonizeOptions(**options))
    return gpd.read_parquet(out) if out.suffix == ".parquet" else gpd.read_file(out)


def read_classes(path: Path) -> tuple[np.ndarray, rasterio.Affine, tuple[int, int]]:
    with rasterio.open(path) as src:
        return src.read(1), src.transform, src.shape


def geodesic(df: gpd.GeoDataFrame) -> np.ndarray:
    """(n, 2): each polygon's area (m²) and perimeter (m, holes included) on the ellipsoid, from its vertices in
    lon/lat."""
    geod = pyproj.CRS(df.crs).get_geod()
    lonlat = df.to_crs(pyproj.CRS(df.crs).geodetic_crs).geometry
    return np.array([(abs(geod.geometry_area_perimeter(shapely.orient_polygons(g))[0]),
                      sum(geod.line_length(*shapely.get_coordinates(r).T) for r in shapely.get_rings(g)))
                     for g in lonlat])


def rasterized(df: gpd.GeoDataFrame, transform, shape) -> np.ndarray:
    if not len(df):
        return np.full(shape, 255, np.uint8)
    pairs = zip(df.geometry, df.class_id)
    return features.rasterize(pairs, out_shape=shape, transform=transform, fill=255, dtype=np.uint8)


def canonical(df: gpd.GeoDataFrame) -> list[tuple]:
    """Features as sortable tuples: attributes and normalized WKB without redundant collinear vertices."""
    geoms = shapely.normalize(shapely.simplify(df.geometry.values, 0))
    rows = zip(df.class_id, df.class_name, shapely.to_wkb(geoms))
    return sorted(rows, key=lambda r: (r[0], r[2]))


def test_polygons_rasterize_back_to_the_raster_exactly(classes_tif, tmp_path):
    df = run(classes_tif, tmp_path / "out.gpkg")
    data, transform, shape = read_classes(classes_tif)
    assert np.array_equal(rasterized(df, transform, shape), data)
    assert df.geometry.is_valid.all() and set(df.geom_type) == {"Polygon"}
    assert any(len(g.interiors) for g in df.geometry), "holes are kept"


def test_prediction_polygons_rasterize_back_exactly(prediction, tmp_path):
    classes, _ = prediction
    df = run(classes, tmp_path / "out.gpkg")
    data, transform, shape = read_classes(classes)
    assert np.array_equal(rasterized(df, transform, shape), data)
    assert set(df.class_name) <= {"non_agricultural", "agricultural"}


def test_blockwise_equals_whole_raster_and_gdal(classes_tif, tmp_path):
    whole = run(classes_tif, tmp_path / "whole.gpkg", block_rows=10_000)
    blocks = run(classes_tif, tmp_path / "blocks.gpkg", block_rows=7)
    heights = (whole.bounds.maxy - whole.bounds.miny) / 300.04
    assert (heights > 10 * 7).sum() >= 5, "regions span many blocks"
    assert canonical(blocks) == canonical(whole)
    data, transform, _ = read_classes(classes_tif)
    shapes = list(features.shapes(data, data != 255, transform=transform))
    gdal = gpd.GeoDataFrame({"class_id": [int(v) for _, v in shapes], "class_name": ""},
                            geometry=[shapely.geometry.shape(g) for g, _ in shapes])
    assert len(gdal) == len(whole)
    assert [(c, w) for c, _, w in canonical(whole)] == [(c, w) for c, _, w in canonical(gdal)]


def sieved(path: Path, rows: int, threshold: float) -> np.ndarray:
    with ClassRaster(str(path)) as raster:
        return np.concatenate([s.classes for s in sieve_strips(lambda: raster.strips(rows), threshold)])


def test_blockwise_sieve_equals_whole_sieve_and_agrees_with_gdal(full_classes_tif):
    data, _, _ = read_classes(full_classes_tif)
    whole = sieved(full_classes_tif, 10_000, 20)
    assert np.array_equal(sieved(full_classes_tif, 9, 20), whole)
    assert np.array_equal(sieved(full_classes_tif, 100, 20), whole)
    assert np.count_nonzero(whole != data) > 10_000
    assert np.array_equal(whole == 255, data == 255), "nodata is left alone"
    gdal = features.sieve(data, 20, mask=data != 255)
    assert np.mean(gdal[data != 255] == whole[data != 255]) > 0.99


def test_sieve_merges_small_regions_without_gaps(classes_tif, tmp_path):
    data, transform, shape = read_classes(classes_tif)
    df = run(classes_tif, tmp_path / "sieved.gpkg", min_area_pixels=20, block_rows=13)
    with rasterio.open(classes_tif) as src:
        pixel_area = pixel_area_m2(Grid.from_dataset(src))
    geoms = df.geometry.values
    small = np.flatnonzero(df.area_m2 < 19.5 * pixel_area)
    left, right = shapely.STRtree(geoms).query(geoms[small], predicate="intersects")
    shared = shapely.length(shapely.intersection(geoms[small[left]], geoms[right]))
    assert not (shared[small[left] != right] > 0).any(), "only islands in nodata stay small"
    assert len(df) < len(run(classes_tif, tmp_path / "all.gpkg")) / 5
    assert np.array_equal(rasterized(df, transform, shape) == 255, data == 255), "no gaps"
    in_m2 = run(classes_tif, tmp_path / "m2.gpkg", min_area=20 * pixel_area, block_rows=13)
    assert canonical(in_m2) == canonical(df)


def test_simplified_coverage_has_no_gaps_or_overlaps(classes_tif, tmp_path):
    plain = run(classes_tif, tmp_path / "plain.gpkg", min_area_pixels=8)
    simple = run(classes_tif, tmp_path / "simple.gpkg", min_area_pixels=8, simplify=600)
    geoms = simple.geometry.values
    assert len(simple) == len(plain) and shapely.is_valid(geoms).all() and not shapely.is_empty(geoms).any()
    assert shapely.get_num_coordinates(geoms).sum() < 0.6 * shapely.get_num_coordinates(plain.geometry.values).sum()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]])).sum()
    total = shapely.area(geoms).sum()
    assert overlap < 1e-9 * total
    assert total == pytest.approx(plain.area.sum(), rel=1e-9)
    assert shapely.union_all(geoms).symmetric_difference(shapely.union_all(plain.geometry.values)).area < 1e-9 * total
    assert np.allclose(simple.area_m2, geodesic(simple)[:, 0], rtol=1e-3)


def test_class_filter_keeps_the_simplified_shared_edges(classes_tif, tmp_path):
    every = run(classes_tif, tmp_path / "every.gpkg", simplify=600)
    bright = run(classes_tif, tmp_path / "bright.gpkg", simplify=600, classes=("bright",))
    assert set(bright.class_name) == {"bright"}
    assert canonical(bright) == canonical(every[every.class_name == "bright"])


def test_attributes(classes_tif, tmp_path):
    df = run(classes_tif, tmp_path / "out.gpkg")
    data, transform, shape = read_classes(classes_tif)
    ground = geodesic(df)  # area and perimeter of each polygon on the ellipsoid, measured independently
    assert np.allclose(df.area_m2, ground[:, 0], rtol=1e-4) and np.allclose(df.perimeter_m, ground[:, 1], rtol=1e-4)
    scale = df.area_m2 / df.area  # ground m² per planar m²: 1 / UTM's areal scale there, 0.998-0.9993 (not 1)
    assert scale.between(0.997, 0.9995).all()
    for class_id, name in enumerate(NAMES):
        part = df[df.class_id == class_id]
        assert set(part.class_name) == {name}
        assert part.area.sum() == pytest.approx(np.count_nonzero(data == class_id) * abs(transform.a * transform.e))
    assert "mean_confidence" not in df.columns


def test_mean_confidence_from_probabilities(prediction, tmp_path):
    classes, probs = prediction
    df = run(classes, tmp_path / "out.gpkg", probabilities=str(probs))
    data, transform, shape = read_classes(classes)
    with rasterio.open(probs) as src:
        p = src.read().astype(float) / 255
    for row in df.itertuples():
        inside = features.rasterize([(row.geometry, 1)], out_shape=shape, transform=transform) == 1
        assert row.mean_confidence == pytest.approx(p[row.class_id][inside].mean(), rel=1e-9)
    assert df.mean_confidence.between(0.5, 1).all()


@pytest.mark.parametrize("from_rings", [False, True])
def test_geographic_crs_gives_geodesic_areas(from_rings, tmp_path, rgb_byte, monkeypatch):
    classes, profile = band_classes(rgb_byte, Window(200, 0, 120, 100))
    transform = Affine(0.01, 0, -75.0, 0, -0.01, 45.0)
    path = write_raster(tmp_path / "geo.tif", classes, dict(profile, crs="EPSG:4326", transform=transform))
    if from_rings:  # regions joined across blocks are measured from their rings
        monkeypatch.setattr("geoclassify.vector.regions.LARGE", 20)
    df = run(path, tmp_path / "geo.gpkg", block_rows=9)
    equal_area = df.to_crs("+proj=laea +lat_0=44.5 +lon_0=-74.4")
    assert np.allclose(df.area_m2, equal_area.area, rtol=2e-3)
    assert np.allclose(df.perimeter_m, equal_area.length, rtol=5e-3)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_is_readable(fmt, classes_tif, tmp_path):
    out = tmp_path / f"out{FORMATS[fmt].extensions[0]}"
    df = run(classes_tif, out, min_area_pixels=10)
    assert len(df) > 50 and df.geometry.is_valid.all()
    assert {"class_id", "class_name", "area_m2"} <= set(df.columns)
    assert df.crs.to_epsg() == (4326 if fmt == "geojson" else 32618)
    if fmt != "parquet":
        assert pyogrio.read_info(out)["features"] == len(df)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary files left"


def test_shapefile_field_names_fit(classes_tif, prediction, tmp_path):
    classes, probs = prediction
    df = run(classes, tmp_path / "out.shp", probabilities=str(probs))
    assert {"perim_m", "mean_conf"} <= set(df.columns)


def test_geopackage_is_what_qgis_reads(classes_tif, tmp_path):
    out = tmp_path / "fields.gpkg"
    polygonize_raster(str(classes_tif), str(out), PolygonizeOptions(layer="fields"))
    with sqlite3.connect(out) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # 'GPKG'
        assert db.execute("SELECT data_type, srs_id FROM gpkg_contents WHERE table_name='fields'").fetchone() == (
            "features", 32618)
        assert db.execute("SELECT geometry_type_name FROM gpkg_geometry_columns").fetchone() == ("POLYGON",)
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name='rtree_fields_geom'").fetchone() == (1,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_no_class_names_warns_and_names_class_ids(classes_tif, tmp_path, caplog):
    data, _, _ = read_classes(classes_tif)
    with rasterio.open(classes_tif) as src:
        profile = src.profile
    path = write_raster(tmp_path / "nameless.tif", data, profile, names=None)
    with caplog.at_level(logging.WARNING, logger="geoclassify"):
        df = run(path, tmp_path / "out.gpkg", classes=("class_2",))
    assert "no class names" in caplog.text
    assert set(df.class_name) == {"class_2"}


def test_no_crs_warns_and_writes_without_crs(classes_tif, tmp_path, caplog):
    data, _, _ = read_classes(classes_tif)
    path = write_raster(tmp_path / "nocrs.tif", data, dict(width=300, height=300, nodata=255), crs=None,
                        transform=Affine(30, 0, 0, 0, -30, 9000))
    with caplog.at_level(logging.WARNING, logger="geoclassify"):
        df = run(path, tmp_path / "out.gpkg")
    assert "no CRS" in caplog.text and df.crs is None
    assert df.area_m2.sum() == pytest.approx(np.count_nonzero(data != 255) * 900)


def test_empty_result_is_an_empty_layer_with_the_schema(classes_tif, tmp_path, caplog):
    data, _, _ = read_classes(classes_tif)
    with rasterio.open(classes_tif) as src:
        profile = src.profile
    path = write_raster(tmp_path / "more_names.tif", data, profile, names=NAMES + ["water"])
    with caplog.at_level(logging.WARNING, logger="geoclassify"):
        df = run(path, tmp_path / "out.gpkg", classes=("water",), probabilities=None)
    assert "no polygons" in caplog.text
    info = pyogrio.read_info(tmp_path / "out.gpkg")
    assert len(df) == 0 and info["geometry_type"] == "Polygon" and info["crs"] == "EPSG:32618"
    assert list(info["fields"]) == ["class_id", "class_name", "area_m2", "perimeter_m"]


def bad_case(case: str, classes_tif: Path, tmp_path: Path) -> tuple[Path, dict, type, str]:
    """(raster, options, error type, message part) for one kind of bad input."""
    data, _, _ = read_classes(classes_tif)
    with rasterio.open(classes_tif) as src:
        profile = src.profile
    if case == "float":
        return write_raster(tmp_path / "f.tif", data.astype(np.float32), profile), {}, InputError, "integer classes"
    if case == "multiband":
        return write_raster(tmp_path / "m.tif", np.stack([data, data]), profile), {}, InputError, "2 bands"
    if case == "unknown_class":
        return classes_tif, {"classes": ("forest",)}, ConfigError, "known classes: dark, mid, bright, very_bright"
    if case == "exists":
        (tmp_path / "out.gpkg").write_text("keep me")
        return classes_tif, {}, OutputError, "--overwrite"
    if case == "probabilities_grid":
        other = write_raster(tmp_path / "p.tif", data[:100, :100][None].repeat(4, 0), profile, width=100, height=100)
        return classes_tif, {"probabilities": str(other)}, InputError, "not on the class raster's grid"
    one_band = write_raster(tmp_path / "p1.tif", np.full_like(data, 200), profile)  # 1 band, classes up to 3
    return classes_tif, {"probabilities": str(one_band)}, InputError, "has no band in probabilities"


@pytest.mark.parametrize("case", ["float", "multiband", "unknown_class", "exists", "probabilities_grid",
                                  "probabilities_bands"])
def test_bad_input_is_refused_and_nothing_is_written(case, classes_tif, tmp_path):
    raster, options, error, message = bad_case(case, classes_tif, tmp_path)
    out = tmp_path / "out.gpkg"
    before = out.read_text() if out.exists() else None
    with pytest.raises(error, match=message):
        polygonize_raster(str(raster), str(out), PolygonizeOptions(block_rows=50, **options))
    assert (out.read_text() if out.exists() else None) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files left"


def test_unknown_extension_and_overwrite(classes_tif, tmp_path):
    with pytest.raises(ConfigError, match="--format"):
        polygonize_raster(str(classes_tif), str(tmp_path / "out.xyz"))
    out = tmp_path / "out.xyz"
    polygonize_raster(str(classes_tif), str(out), PolygonizeOptions(format="fgb"))
    assert pyogrio.read_info(out)["driver"] == "FlatGeobuf"
    polygonize_raster(str(classes_tif), str(tmp_path / "out.shp"), PolygonizeOptions(classes=("dark",)))
    polygonize_raster(str(classes_tif), str(tmp_path / "out.shp"), PolygonizeOptions(overwrite=True))
    assert pyogrio.read_info(tmp_path / "out.shp")["features"] > pyogrio.read_info(out)["features"] / 2


def rtree_rows(path: Path, layer: str) -> dict[int, tuple[float, ...]]:
    with sqlite3.connect(path) as con:
        column, = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)).fetchone()
        return {row[0]: row[1:] for row in con.execute(f'SELECT * FROM "rtree_{layer}_{column}"')}


def triggers(path: Path) -> set[str]:
    with sqlite3.connect(path) as con:
        return {sql for sql, in con.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'")}


@pytest.mark.parametrize("suffix", [".gpkg", ".fgb"])
def test_large_regions_written_from_rings_equal_polygons(suffix, classes_tif, tmp_path, monkeypatch):
    expected = run(classes_tif, tmp_path / f"geos{suffix}", block_rows=9)
    monkeypatch.setattr("geoclassify.vector.regions.LARGE", 20)  # most joined regions take the rings path
    monkeypatch.setattr("geoclassify.vector.rings.WKB_BLOCK", 7)  # their WKB in many pieces
    rings = run(classes_tif, tmp_path / f"rings{suffix}", block_rows=9)
    assert rings.geometry.is_valid.all()
    assert canonical(rings) == canonical(expected)
    for column in ("area_m2", "perimeter_m"):
        assert np.allclose(np.sort(rings[column]), np.sort(expected[column]), rtol=1e-9)


def test_large_regions_appended_to_geopackage_keep_index_and_extent(classes_tif, tmp_path, monkeypatch):
    plain = tmp_path / "geos.gpkg"
    expected = run(classes_tif, plain, block_rows=9)
    monkeypatch.setattr("geoclassify.vector.regions.LARGE", 20)
    out = tmp_path / "rings.gpkg"
    df = run(classes_tif, out, block_rows=9).set_index(pyogrio.read_dataframe(out, fid_as_index=True).index)
    index = rtree_rows(out, "rings")
    assert sorted(index) == sorted(df.index), "one spatial index row per feature"
    for fid, (min_x, max_x, min_y, max_y) in index.items():  # float32 boxes rounded outwards
        x0, y0, x1, y1 = df.geometry[fid].bounds
        assert min_x <= x0 and max_x >= x1 and min_y <= y0 and max_y >= y1
        assert np.allclose([min_x, max_x, min_y, max_y], [x0, x1, y0, y1], rtol=1e-6)
    assert triggers(out) == {re.sub(r"\bgeos\b|(?<=_)geos(?=\b|_)", "rings", sql) for sql in triggers(plain)}
    assert pyogrio.read_info(out)["features"] == len(df) == len(expected)
    assert np.allclose(pyogrio.read_info(out)["total_bounds"], expected.total_bounds)
    box = shapely.box(*df.geometry.iloc[len(df) // 2].bounds)  # GDAL's bbox query goes through the index
    found = pyogrio.read_dataframe(out, bbox=box.bounds)
    assert len(found) == int(df.geometry.intersects(box).sum())
