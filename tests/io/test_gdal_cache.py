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
