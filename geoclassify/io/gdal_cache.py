"""The size of GDAL's raster block cache in every geoclassify process, and the two ways it is set."""

from __future__ import annotations

import rasterio
from rasterio.env import set_gdal_config

# GDAL's default block cache is 5 % of RAM, in every process (each DataLoader or Dask worker too).
# geoclassify reads each block about once: predict reads block-aligned bands of rows, polygonize reads
# strips, training reads random windows that seldom share blocks. A large cache only fills up; 8 MiB
# reads as fast (benchmarks/RESULTS.md). In bytes: rasterio.Env and set_gdal_config take a bare
# number of GDAL_CACHEMAX as bytes, not megabytes.
GDAL_CACHE_BYTES = 8 * 2**20


def bounded_gdal_cache() -> rasterio.Env:
    """A rasterio environment with the bounded block cache, for the length of a `with` block."""
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES)


def bound_gdal_cache_in_this_process() -> None:
    """The bounded block cache for the rest of this process (and the processes it forks)."""
    set_gdal_config("GDAL_CACHEMAX", GDAL_CACHE_BYTES)
