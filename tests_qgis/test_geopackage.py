"""GeoPackages written by `geoclassify polygonize` open in a real QGIS: features, attributes, CRS, spatial index.

Also the GeoPackage path for very large regions (appended through SQLite, geoclassify.vector.gpkg): made here by
lowering the size from which a region takes that path, so that most joined regions of a small raster take it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

LARGE_REGIONS = """
import sys
import geoclassify.vector.regions as regions
from geoclassify.vector.polygonize import PolygonizeOptions, polygonize_raster
regions.LARGE = 20  # regions of 20 vertices or more are appended through SQLite
polygonize_raster(sys.argv[1], sys.argv[2], PolygonizeOptions(block_rows=9))
"""


@pytest.fixture(scope="module")
def classes(tmp_path_factory) -> Path:
    """Landsat band 2 of RGB.byte.tif (a 300x300 crop) cut into 4 brightness classes: real structure, hundreds
    of regions, some with holes; 255 (nodata) on the scene's collar."""
    import numpy as np
    from conftest import RGB_BYTE
    from osgeo import gdal

    src = gdal.Open(str(RGB_BYTE))
    band = src.GetRasterBand(2).ReadAsArray(200, 0, 300, 300)
    valid = src.GetRasterBand(1).GetMaskBand().ReadAsArray(200, 0, 300, 300) > 0
    data = np.digitize(band, [40, 70, 100]).astype(np.uint8)
    data[~valid] = 255
    out = tmp_path_factory.mktemp("gpkg") / "classes.tif"
    dst = gdal.GetDriverByName("GTiff").Create(str(out), 300, 300, 1, gdal.GDT_Byte)
    x0, dx, _, y0, _, dy = src.GetGeoTransform()
    dst.SetGeoTransform((x0 + 200 * dx, dx, 0, y0, 0, dy))
    dst.SetProjection(src.GetProjection())
    dst.GetRasterBand(1).WriteArray(data)
    dst.GetRasterBand(1).SetNoDataValue(255)
    dst.GetRasterBand(1).SetMetadataItem("CLASS_NAMES", json.dumps(["dark", "mid", "bright", "very_bright"]))
    dst = None
    return out


def polygonize(cli: str, classes: Path, out: Path, large: bool) -> None:
    if large:
        python = str(Path(cli).parent / "python")
        proc = subprocess.run([python, "-c", LARGE_REGIONS, str(classes), str(out)], capture_output=True, text=True,
                              timeout=300)
    else:
        proc = subprocess.run([cli, "-q", "polygonize", str(classes), "-o", str(out), "--block-rows", "9"],
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def layer_of(path: Path):
    from qgis.core import QgsProject, QgsVectorLayer

    layer = QgsVectorLayer(f"{path}|layername={path.stem}", path.stem, "ogr")
    assert layer.isValid(), f"QGIS cannot open {path}"
    QgsProject.instance().addMapLayer(layer, False)  # QGIS owns it (see conftest: layers must not outlive QGIS)
    return layer


def canonical(layer) -> list[tuple[str, str]]:
    """(class name, normalized WKT) of every feature, sorted: the same regions whatever their order or ids."""
    shapes = []
    for feature in layer.getFeatures():
        geometry = feature.geometry()
        geometry.normalize()
        shapes.append((feature["class_name"], geometry.asWkt(6)))
    return sorted(shapes)


@pytest.mark.parametrize("large", [False, True], ids=["gdal", "large_regions_via_sqlite"])
def test_polygons_open_in_qgis(large, cli, classes, tmp_path, qgis_app):
    from osgeo import gdal
    from qgis.core import QgsCoordinateReferenceSystem, QgsDistanceArea, QgsFeatureRequest, QgsProject

    out = tmp_path / f"fields_{'large' if large else 'plain'}.gpkg"
    polygonize(cli, classes, out, large)
    layer = layer_of(out)
    raster = gdal.Open(str(classes))
    assert layer.crs() == QgsCoordinateReferenceSystem(raster.GetProjection())
    assert [f.name() for f in layer.fields()][1:] == ["class_id", "class_name", "area_m2", "perimeter_m"]
    features = list(layer.getFeatures())
    assert len(features) == layer.featureCount() > 100
    ellipsoidal = QgsDistanceArea()  # QGIS's own ground area: on the CRS's ellipsoid
    ellipsoidal.setSourceCrs(layer.crs(), QgsProject.instance().transformContext())
    assert ellipsoidal.setEllipsoid(layer.crs().ellipsoidAcronym())
    for feature in features:
        geometry = feature.geometry()
        assert geometry.isGeosValid()
        assert ellipsoidal.measureArea(geometry) == pytest.approx(feature["area_m2"], rel=1e-4)
        assert geometry.area() != pytest.approx(feature["area_m2"], rel=1e-4)  # UTM's scale there: not planar
        box = geometry.boundingBox()  # the spatial index finds the feature from its own box
        found = {f.id() for f in layer.getFeatures(QgsFeatureRequest().setFilterRect(box))}
        assert feature.id() in found
    assert layer.extent().area() > 0


def test_large_region_path_gives_the_same_polygons_in_qgis(cli, classes, tmp_path, qgis_app):
    plain, large = tmp_path / "plain.gpkg", tmp_path / "large.gpkg"
    polygonize(cli, classes, plain, large=False)
    polygonize(cli, classes, large, large=True)
    assert canonical(layer_of(large)) == canonical(layer_of(plain))
    assert layer_of(large).extent() == layer_of(plain).extent()
