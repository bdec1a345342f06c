"""Remote rasters over loopback HTTP (tests.range_server: a real server on 127.0.0.1, in a child process, that
honours byte ranges): URLs through GDAL's virtual file systems, what a window read fetches, a STAC item and S3
paths served from it."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.windows import Window

from geoclassify.cli.main import cli
from geoclassify.errors import InputError
from geoclassify.inference.scene import open_scene
from geoclassify.io.reader import StripReader
from geoclassify.io.remote import REMOTE_READ_SETTINGS, gdal_path, remote_read_env
from geoclassify.io.sources import resolve_scene
from geoclassify.models.files import default_model_path, read_model_card
from tests.archive_products import write_band_cog, write_s2_l2a_product
from tests.range_server import parse_range, serve


def test_urls_become_gdal_virtual_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert gdal_path("https://host/a.tif") == "/vsicurl/https://host/a.tif"
    assert gdal_path("s3://bucket/key/a.tif") == "/vsis3/bucket/key/a.tif"
    assert gdal_path("gs://bucket/a.tif") == "/vsigs/bucket/a.tif"
    assert gdal_path("a.tif") == str(tmp_path / "a.tif")  # the same in every process and folder
    assert gdal_path("file:///data/a.tif") == "/data/a.tif"
    assert gdal_path("/vsizip/a.zip/b.tif") == "/vsizip/a.zip/b.tif"
    assert gdal_path("SENTINEL2_L2A:/d/MTD_MSIL2A.xml:10m:EPSG_32632").startswith("SENTINEL2_L2A:")


def test_the_range_server_answers_ranges():
    assert parse_range("bytes=10-19", 100) == (10, 19)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-5", 100) == (95, 99)
    assert parse_range("bytes=90-200", 100) == (90, 99)
    assert parse_range("bytes=100-", 100) is None
    assert parse_range("bytes=20-10", 100) is None
    assert parse_range("items=0-1", 100) is None


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers, method=headers.pop("method", "GET"))
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_range_server_serves_and_counts(served):
    server, root, _ = served
    data = (root / "bucket" / "big.tif").read_bytes()
    server.reset()
    url = f"{server.url}/bucket/big.tif"
    status, headers, body = get(url, Range="bytes=100-1123")
    assert (status, body, headers["Content-Range"]) == (206, data[100:1124], f"bytes 100-1123/{len(data)}")
    assert (server.requests, server.bytes_sent) == (1, 1024)
    assert get(url, Range="bytes=-10")[2] == data[-10:]
    status, headers, body = get(url, method="HEAD")
    assert (status, body, headers["Content-Length"], headers["Accept-Ranges"]) == (200, b"", str(len(data)), "bytes")
    assert get(url, Range=f"bytes={len(data)}-")[0] == 416
    assert get(f"{server.url}/missing.tif")[0] == 404
    assert [r.status for r in server.log] == [206, 206, 200, 416, 404]


@pytest.fixture(scope="module")
def served(rgb_byte_10m, tmp_path_factory):
    """A folder with an L2A product (band COGs, STAC item) of RGB.byte.tif's pixels on a 10 m grid and a larger
    band COG (2048 x 2048, 256-pixel blocks), served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("served")
    rgb, valid, transform, crs = rgb_byte_10m
    item = write_s2_l2a_product(root / "bucket" / "l2a", rgb, valid, transform, crs)
    big = np.tile(rgb[0].astype(np.uint16) * 10 + 1000, (3, 3))[:2048, :2048]
    write_band_cog(root / "bucket" / "big.tif", big, transform, crs, "B04")
    with serve(root) as server:
        yield server, root, item


def test_a_window_of_a_remote_cog_fetches_a_small_part_of_it(served):
    server, root, _ = served
    size = (root / "bucket" / "big.tif").stat().st_size
    server.reset()
    path = gdal_path(f"{server.url}/bucket/big.tif")
    with remote_read_env(path), rasterio.open(path) as ds:
        window = ds.read(1, window=Window(512, 512, 256, 256))
    with rasterio.open(root / "bucket" / "big.tif") as local:
        np.testing.assert_array_equal(window, local.read(1, window=Window(512, 512, 256, 256)))
    assert server.bytes_sent < size / 4, (server.bytes_sent, size)  # the header and one block, not the file
    assert server.requests <= 4 and server.multi_range == 0  # one range a request, adjacent blocks merged


def test_a_remote_stac_item_reads_as_the_local_one(served):
    server, root, item = served
    card = read_model_card(default_model_path())
    local = open_scene(str(item), card)
    remote = open_scene(f"{server.url}/bucket/l2a/item.json", card)
    assert "/vsicurl/http://127.0.0.1" in remote.path
    assert resolve_scene(f"{server.url}/bucket/l2a/item.json").files == ()  # nothing local to guard
    assert remote.grid == local.grid and remote.values == local.values
    with StripReader(local) as a, StripReader(remote) as b:
        want = a.collect(a.submit_strip(0, 64, 0, local.grid.width))
        got = b.collect(b.submit_strip(0, 64, 0, remote.grid.width))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_s3_urls_read_through_gdal_s_s3_file_system(served, monkeypatch):
    server, root, _ = served
    for key, value in server.s3_settings().items():
        monkeypatch.setenv(key, value)
    source = resolve_scene("s3://bucket/big.tif")
    assert source.path == "/vsis3/bucket/big.tif"
    with rasterio.open(source.path) as remote, rasterio.open(root / "bucket" / "big.tif") as local:
        np.testing.assert_array_equal(remote.read(1, window=Window(0, 0, 300, 200)),
                                      local.read(1, window=Window(0, 0, 300, 200)))


def test_a_missing_remote_raster_is_one_clear_error(served):
    server, _, _ = served
    with pytest.raises(InputError, match=r"cannot open /vsicurl/http://127.0.0.1:\d+/bucket/missing.tif as a raster"):
        resolve_scene(f"{server.url}/bucket/missing.tif")
    with pytest.raises(InputError, match="cannot read .*missing.json as a STAC item"):
        resolve_scene(f"{server.url}/bucket/missing.json")


def test_remote_settings_hold_for_remote_reads_only_and_leave_the_user_s_own_alone(monkeypatch):
    from rasterio.env import get_gdal_config

    monkeypatch.setenv("GDAL_HTTP_MERGE_CONSECUTIVE_RANGES", "NO")
    with remote_read_env("/vsicurl/http://127.0.0.1:1/a.tif"):
        assert get_gdal_config("GDAL_DISABLE_READDIR_ON_OPEN") == REMOTE_READ_SETTINGS["GDAL_DISABLE_READDIR_ON_OPEN"]
        assert get_gdal_config("GDAL_HTTP_MERGE_CONSECUTIVE_RANGES") in ("NO", False)  # the user's own
    with remote_read_env("/data/a.tif"):  # local files keep GDAL's sidecar search (EMPTY_DIR would hide a .msk)
        assert get_gdal_config("GDAL_DISABLE_READDIR_ON_OPEN") is None


def test_predict_on_a_remote_stac_item_gives_the_local_item_s_classes(served, tmp_path):
    server, _, item = served
    outputs = []
    for scene in (str(item), f"{server.url}/bucket/l2a/item.json"):
        out = tmp_path / f"{len(outputs)}.tif"
        result = CliRunner().invoke(cli, ["-q", "predict", scene, "--stride", "16", "-o", str(out)])
        assert result.exit_code == 0, result.output
        with rasterio.open(out) as ds:
            outputs.append(ds.read(1))
    np.testing.assert_array_equal(outputs[1], outputs[0])
    assert {0, 1} <= set(np.unique(outputs[0]).tolist())


def test_a_stac_item_in_a_bucket_is_refused_with_the_way_round():
    with pytest.raises(InputError, match=r"s3://bucket/item.json: STAC items are read from files and http\(s\) URLs"):
        resolve_scene("s3://bucket/item.json")
