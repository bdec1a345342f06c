"""GDAL's block cache really is the size geoclassify sets (rasterio takes a bare GDAL_CACHEMAX as bytes)."""

from __future__ import annotations

import ctypes
from pathlib import Path

import rasterio
from rasterio.env import set_gdal_config

from geoclassify.io.gdal_cache import GDAL_CACHE_BYTES, bound_gdal_cache_in_this_process, bounded_gdal_cache


def gdal_cache_max() -> int:
    """GDALGetCacheMax64() of the GDAL library rasterio loaded into this process (pyogrio may load its own
    copy of GDAL too: rasterio's wheel keeps its copy under rasterio.libs)."""
    loaded = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
              if "libgdal" in line.rsplit("/", 1)[-1]}
    rasterios = [path for path in loaded if "/rasterio.libs/" in path]
    assert len(rasterios) == 1 or (not rasterios and len(loaded) == 1), f"which GDAL is rasterio's? {loaded}"
    gdal = ctypes.CDLL((rasterios or list(loaded))[0])
    gdal.GDALGetCacheMax64.restype = ctypes.c_int64
    return gdal.GDALGetCacheMax64()


def test_predict_and_polygonize_env_sets_the_cache_in_bytes() -> None:
    with bounded_gdal_cache():  # as predict, distributed predict and polygonize use it
        assert gdal_cache_max() == GDAL_CACHE_BYTES
        assert gdal_cache_max() >= 2**20  # a few 512 x 512 blocks at least: a number meant as MB fails here


def test_training_config_sets_the_cache_in_bytes() -> None:
    before = gdal_cache_max()
    try:
        bound_gdal_cache_in_this_process()  # as SceneReader does in every loader process
        assert gdal_cache_max() == GDAL_CACHE_BYTES
    finally:
        set_gdal_config("GDAL_CACHEMAX", before)


def test_a_bare_small_number_is_bytes_not_megabytes() -> None:
    """The mistake this module exists to avoid: 64 meant as 64 MB gives a 64-byte cache."""
    with rasterio.Env(GDAL_CACHEMAX=64):
        assert gdal_cache_max() == 64


def test_predict_gives_the_cache_the_two_block_rows_a_strip_can_straddle(naip) -> None:
    from geoclassify.inference.scene import open_scene
    from geoclassify.io.gdal_cache import STRIP_CACHE_LIMIT, cache_for_strips
    from geoclassify.models.bundled import bundled_path
    from geoclassify.models.files import read_model_card

    scene = open_scene(str(naip), read_model_card(bundled_path("aerial-landcover")))
    assert scene.block_row_bytes == 934 * 512 * 3  # RGB of the 934-px-wide scene, 512-row blocks, uint8
    assert cache_for_strips(0) == cache_for_strips(scene.block_row_bytes) == GDAL_CACHE_BYTES  # small scenes
    wide = 8192 * 512 * 3
    assert cache_for_strips(wide) == 2 * wide + 2**20
    assert cache_for_strips(100 * wide) == STRIP_CACHE_LIMIT
    with bounded_gdal_cache(wide):
        assert gdal_cache_max() == 2 * wide + 2**20
