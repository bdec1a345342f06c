"""The version of geoclassify (one place: the package, the CLI, run records and Dask workers read it)."""

__version__ = "0.2.0"
