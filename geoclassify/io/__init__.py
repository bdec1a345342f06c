"""Raster reading and writing."""
