"""The size of GDAL's raster block cache in every geoclassify process, and the two ways it is set."""

from __future__ import annotations

import rasterio
from rasterio.env import set_gdal_config

# GDAL's default block cache is 5 % of RAM, in every process (each DataLoader or Dask worker too).
# polygonize reads strips, training reads random windows that seldom share blocks: a large cache only fills up;
# 8 MiB reads as fast (benchmarks/RESULTS.md). predict's strips of windows overlap and do not line up with the
# file's blocks, so a strip reads the block row the strip before it read: the cache must hold the two block rows a
# strip can straddle, or they are decoded again (`cache_for_strips`). In bytes: rasterio.Env and set_gdal_config
# take a bare number of GDAL_CACHEMAX as bytes, not megabytes.
GDAL_CACHE_BYTES = 8 * 2**20
STRIP_CACHE_LIMIT = 256 * 2**20  # the most predict gives the cache (a block row of a 43,000-px-wide RGB scene)


def cache_for_strips(block_row_bytes: int) -> int:
    """The block cache for reading strips of a file whose block rows are `block_row_bytes` long.

    Args:
        block_row_bytes: bytes of one row of the file's blocks, every band read (0: not known).

    Returns:
        Two block rows and 1 MiB, at least GDAL_CACHE_BYTES and at most STRIP_CACHE_LIMIT, in bytes.
    """
    return min(STRIP_CACHE_LIMIT, max(GDAL_CACHE_BYTES, 2 * block_row_bytes + 2**20))


def bounded_gdal_cache(block_row_bytes: int = 0) -> rasterio.Env:
    """A rasterio environment with the bounded block cache, for the length of a `with` block.

    Args:
        block_row_bytes: for reading strips of a scene, the bytes of one of its block rows (see
            `cache_for_strips`); 0: the plain bound, GDAL_CACHE_BYTES.
    """
    return rasterio.Env(GDAL_CACHEMAX=cache_for_strips(block_row_bytes))


def bound_gdal_cache_in_this_process() -> None:
    """The bounded block cache for the rest of this process (and the processes it forks)."""
    set_gdal_config("GDAL_CACHEMAX", GDAL_CACHE_BYTES)
