"""Vector output: polygons of classification rasters of any size (see geoclassify.vector.polygonize)."""
