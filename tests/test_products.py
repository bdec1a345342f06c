"""The product builders (tests.products) and the HTTP range server (tests.range_server), on the real pixels of
tests/data/RGB.byte.tif (Landsat 7 RGB, 791 x 718, EPSG:32618, nodata 0). Expected DNs are worked out by hand
from the products' definitions:

L2A: DN = round(v x 2000 / 255) + 1000, e.g. v = 11: 86.27 -> 1086; v = 56: 439.22 -> 1439; v = 255: 3000.
Landsat C2 L2: DN = round((v x 0.2 / 255 + 0.2) / 0.0000275), e.g. v = 0: 7272.73 -> 7273; v = 11: 7586.45 -> 7586.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from tests.products import (
    l2a_digital_numbers,
    landsat_c2_l2_digital_numbers,
    write_band_cog,
    write_landsat_c2_l2_product,
    write_s2_l2a_product,
    write_tci,
)
from tests.range_server import parse_range, serve

DATA = Path(__file__).resolve().parent / "data"
# (row, col): 8-bit R, G, B of RGB.byte.tif there, and their L2A and Landsat C2 L2 DNs, by hand
PIXELS = {
    (300, 400): ((11, 15, 20), (1086, 1118, 1157), (7586, 7701, 7843)),
    (100, 200): ((9, 56, 68), (1071, 1439, 1533), (7529, 8870, 9212)),
    (28, 297): ((255, 255, 255), (3000, 3000, 3000), (14545, 14545, 14545)),
    (27, 285): ((0, 5, 5), (1000, 1039, 1039), (7273, 7415, 7415)),  # a real 0 in a valid pixel
    (0, 0): ((0, 0, 0), (0, 0, 0), (0, 0, 0)),  # no data
}


@pytest.fixture(scope="module")
def scene():
    with rasterio.open(DATA / "RGB.byte.tif") as src:
        return src.read(), src.dataset_mask() > 0, src.transform, src.crs


@pytest.fixture(scope="module")
def l2a(scene, tmp_path_factory) -> Path:
    tci, valid, transform, crs = scene
    return write_s2_l2a_product(tmp_path_factory.mktemp("l2a"), tci, valid, transform, crs, item_id="S2A_TEST_L2A")


@pytest.fixture(scope="module")
def landsat(scene, tmp_path_factory) -> Path:
    tci, valid, transform, crs = scene
    return write_landsat_c2_l2_product(tmp_path_factory.mktemp("landsat"), tci, valid, transform, crs, "LC08_TEST")


def read_band(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def test_digital_numbers_at_known_pixels(scene):
    tci, valid, _, _ = scene
    l2a, landsat = l2a_digital_numbers(tci, valid), landsat_c2_l2_digital_numbers(tci, valid)
    assert l2a.dtype == landsat.dtype == np.uint16 and l2a.shape == tci.shape
    for (r, c), (rgb, l2a_dn, landsat_dn) in PIXELS.items():
        assert tuple(tci[:, r, c]) == rgb
        assert tuple(l2a[:, r, c]) == l2a_dn
        assert tuple(landsat[:, r, c]) == landsat_dn


def test_nodata_stays_zero(scene):
    tci, valid, _, _ = scene
    for dn, lowest in ((l2a_digital_numbers(tci, valid), 1000), (landsat_c2_l2_digital_numbers(tci, valid), 7273)):
        assert (dn[:, ~valid] == 0).all()
        assert (dn[:, valid] >= lowest).all()  # a valid pixel is never DN 0, a valid 0 included
    with pytest.raises(ValueError, match="valid mask"):
        l2a_digital_numbers(tci, valid[:-1])


def test_l2a_band_files(scene, l2a):
    tci, valid, transform, crs = scene
    dn = l2a_digital_numbers(tci, valid)
    folder = l2a.parent
    for name, expected in (("B04", dn[0]), ("B03", dn[1]), ("B02", dn[2]), ("B08", dn[1])):  # B08: green stand-in
        with rasterio.open(folder / f"{name}.tif") as src:
            assert src.descriptions == (name,) and src.nodata == 0 and src.dtypes == ("uint16",)
            assert src.scales == (1.0,) and src.offsets == (0.0,)  # no scale/offset tags
            assert src.transform == transform and src.crs == crs
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.overviews(1)
            assert (src.read(1) == expected).all()


def test_b11_is_the_20m_mean_of_green(scene, l2a):
    tci, valid, transform, _ = scene
    green = l2a_digital_numbers(tci, valid)[1].astype(np.int64)
    with rasterio.open(l2a.parent / "B11.tif") as src:
        b11 = src.read(1)
        assert src.descriptions == ("B11",) and src.nodata == 0
        assert src.transform.a == 2 * transform.a and src.transform.e == 2 * transform.e
        assert (src.transform.c, src.transform.f) == (transform.c, transform.f)
    assert b11.shape == (359, 395)  # 718 x 791: the odd last column cropped
    for r, c in ((150, 200), (50, 100), (250, 300)):
        block = green[2 * r : 2 * r + 2, 2 * c : 2 * c + 2]
        assert (block > 0).all()
        assert b11[r, c] == (block.sum() + 2) // 4  # the mean, rounded half up
        assert abs(int(b11[r, c]) - block.mean()) <= 0.5
    # a block on the scene's edge, part data part nodata, is nodata
    edge = green[2:4, 158:160]
    assert (edge == 0).any() and (edge > 0).any() and b11[1, 79] == 0


def test_l2a_item(scene, l2a):
    _, _, transform, _ = scene
    raw = json.loads(l2a.read_text())
    assert raw["stac_version"] == "1.0.0" and raw["properties"]["proj:epsg"] == 32618
    assert raw["properties"]["proj:shape"] == [718, 791]
    assert raw["assets"]["swir16"]["proj:transform"][0] == 2 * transform.a
    # item.validate() needs jsonschema (not installed) and fetches the schemas over the network: read it back
    item = pystac.Item.from_file(str(l2a))
    assert item.datetime.isoformat() == "2025-04-27T10:17:01+00:00"
    assert item.properties["platform"] == "sentinel-2a" and item.properties["constellation"] == "sentinel-2"
    assert item.properties["s2:processing_baseline"] == "05.11"
    expected = {"red": ("B04", 10), "green": ("B03", 10), "blue": ("B02", 10), "nir": ("B08", 10),
                "swir16": ("B11", 20)}
    assert set(item.assets) == set(expected)
    for key, (name, _) in expected.items():
        asset = item.assets[key]
        assert asset.href == f"{name}.tif"  # relative
        assert Path(asset.get_absolute_href()) == l2a.parent / f"{name}.tif"
        assert asset.media_type == pystac.MediaType.COG
        assert asset.extra_fields["eo:bands"] == [{"name": name, "common_name": key}]
        band = asset.extra_fields["raster:bands"][0]
        assert (band["nodata"], band["data_type"], band["scale"], band["offset"]) == (0, "uint16", 0.0001, -0.1)
    assert item.assets["swir16"].extra_fields["raster:bands"][0]["spatial_resolution"] == pytest.approx(
        2 * transform.a)
    # the footprint: RGB.byte.tif lies in the Bahamas
    west, south, east, north = item.bbox
    assert -79.1 < west < -78.8 and -76.7 < east < -76.4 and 23.4 < south < 23.7 and 25.4 < north < 25.7
    lons = [p[0] for p in item.geometry["coordinates"][0]]
    assert min(lons) == west and max(lons) == east


def test_l2a_without_item(scene, tmp_path):
    tci, valid, transform, crs = scene
    out = write_s2_l2a_product(tmp_path, tci[:, :64, :64], valid[:64, :64], transform, crs, item_id="x",
                               with_item=False)
    assert out == tmp_path and not (tmp_path / "item.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B02.tif", "B03.tif", "B04.tif", "B08.tif", "B11.tif"]


def test_landsat_product(scene, landsat):
    tci, valid, _, _ = scene
    dn = landsat_c2_l2_digital_numbers(tci, valid)
    for i, name in enumerate(("SR_B4", "SR_B3", "SR_B2")):  # OLI: B4 red, B3 green, B2 blue
        with rasterio.open(landsat.parent / f"{name}.TIF") as src:
            assert src.descriptions == (name,) and src.scales == (1.0,) and src.offsets == (0.0,)
            assert (src.read(1) == dn[i]).all()
    item = pystac.Item.from_file(str(landsat))
    assert item.properties["platform"] == "landsat-8"
    assert item.properties["landsat:processing_level"] == "L2SP"
    for key, name in (("red", "SR_B4"), ("green", "SR_B3"), ("blue", "SR_B2")):
        asset = item.assets[key].extra_fields
        assert asset["eo:bands"] == [{"name": name, "common_name": key}]
        band = asset["raster:bands"][0]
        assert (band["scale"], band["offset"], band["nodata"]) == (0.0000275, -0.2, 0)


def test_tci(scene, tmp_path):
    tci, valid, transform, crs = scene
    path = write_tci(tmp_path / "tci.tif", tci, valid, transform, crs)
    with rasterio.open(path) as src:
        assert src.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        assert src.nodata == 0 and src.dtypes == ("uint8",) * 3
        pixels = src.read()
    assert tuple(pixels[:, 27, 285]) == (1, 5, 5)  # a real 0 raised to 1
    assert tuple(pixels[:, 300, 400]) == (11, 15, 20)
    assert (pixels[:, ~valid] == 0).all() and (pixels[:, valid] > 0).all()


def test_parse_range():
    assert parse_range("bytes=10-19", 100) == (10, 19)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-5", 100) == (95, 99)
    assert parse_range("bytes=90-200", 100) == (90, 99)
    assert parse_range("bytes=100-", 100) is None
    assert parse_range("bytes=20-10", 100) is None
    assert parse_range("bytes=-0", 100) is None
    assert parse_range("items=0-1", 100) is None


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers, method=headers.pop("method", "GET"))
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_range_server_answers(l2a):
    data = (l2a.parent / "B04.tif").read_bytes()
    with serve(l2a.parent.parent) as server:
        url = f"{server.url}/{l2a.parent.name}/B04.tif"
        status, headers, body = get(url, Range="bytes=100-1123")
        assert (status, body, headers["Content-Range"]) == (206, data[100:1124], f"bytes 100-1123/{len(data)}")
        assert (server.requests, server.bytes_sent) == (1, 1024)
        assert get(url, Range="bytes=-10")[2] == data[-10:]
        assert get(url, Range=f"bytes={len(data) - 7}-")[2] == data[-7:]
        status, headers, body = get(url, method="HEAD")
        assert status == 200 and body == b""
        assert (headers["Content-Length"], headers["Accept-Ranges"]) == (str(len(data)), "bytes")
        status, headers, _ = get(url, Range=f"bytes={len(data)}-")
        assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
        status, _, body = get(url, Range="bytes=0-9,20-29")
        assert status == 200 and body == data and server.multi_range == 1
        assert get(f"{server.url}/missing.tif")[0] == 404
        assert get(f"{server.url}/../{l2a.parent.name}/B04.tif")[0] in (400, 404)
        assert server.requests == 8 and [r.status for r in server.log] == [206, 206, 206, 200, 416, 200, 404, 404]
        assert server.bytes_sent == 1024 + 10 + 7 + len(data) + len(b"not found\n") * 2
        server.reset()
        assert (server.requests, server.bytes_sent, server.log) == (0, 0, [])


@pytest.fixture(scope="module")
def big_cog(scene, tmp_path_factory) -> Path:
    """A 2,876 x 3,164 uint16 COG of RGB.byte.tif's real L2A red DNs (4 x 4 mirrored copies): many tiles."""
    tci, valid, transform, crs = scene
    red = l2a_digital_numbers(tci, valid)[0]
    half = np.concatenate([red, red[:, ::-1]], axis=1)
    pixels = np.tile(np.concatenate([half, half[::-1]], axis=0), (2, 2))
    folder = tmp_path_factory.mktemp("served") / "bucket" / "l2a"
    folder.mkdir(parents=True)
    return write_band_cog(folder / "B04.tif", pixels, transform, crs, "B04")


@pytest.mark.parametrize("scheme", ["vsicurl", "vsis3"])
def test_gdal_window_read_fetches_few_bytes(big_cog, scheme):
    window = Window(1500, 1000, 256, 256)
    with rasterio.open(big_cog) as src:
        expected = src.read(1, window=window)
    size = big_cog.stat().st_size
    with serve(big_cog.parent.parent.parent) as server:
        if scheme == "vsicurl":
            path, settings = f"/vsicurl/{server.url}/bucket/l2a/B04.tif", {}
        else:
            path, settings = "/vsis3/bucket/l2a/B04.tif", server.s3_settings()
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", **settings):
            with rasterio.open(path) as src:
                assert (src.read(1, window=window) == expected).all()
        assert server.bytes_sent < size / 8, (server.bytes_sent, size, server.log)
        assert all(r.status in (200, 206) for r in server.log)
        assert server.multi_range == 0  # GDAL sent one range a request
