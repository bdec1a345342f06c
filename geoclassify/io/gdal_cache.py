"""The size of GDAL's raster block cache in every geoclassify process."""

# GDAL's default block cache is 5 % of RAM, in every process (each DataLoader or Dask worker too).
# geoclassify reads each block about once: predict reads block-aligned bands of rows, polygonize reads
# strips, training reads random windows that seldom share blocks. A large cache only fills up; 8 MiB
# reads as fast (benchmarks/RESULTS.md). In bytes: rasterio.Env and set_gdal_config take a bare
# number of GDAL_CACHEMAX as bytes, not megabytes.
GDAL_CACHE_BYTES = 8 * 2**20
