"""Polygons from a classification raster of any size, streamed into a vector file (`geoclassify polygonize`).

The raster is read in row strips; an optional sieve merges small regions into their largest neighbour
(geoclassify.vector.sieve, two block-wise passes); each strip is polygonized and the pieces of regions cut by
strip edges are joined (geoclassify.vector.regions), so the polygons equal a whole-raster run; optional
coverage simplification (geoclassify.vector.simplify); features with class, area, perimeter and mean
confidence are written as they are finished (geoclassify.vector.writers).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from geoclassify.errors import ConfigError
from geoclassify.io.gdal_cache import bounded_gdal_cache
from geoclassify.io.writer import check_output_path
from geoclassify.progress import SILENT, ProgressReporter
from geoclassify.vector.attributes import LargeFeature, Measure, feature_batch, feature_schema, large_feature
from geoclassify.vector.classes import ClassRaster, ConfidenceRaster, Strip
from geoclassify.vector.formats import VectorFormat, vector_format
from geoclassify.vector.regions import Polygons, RegionJoiner, strip_polygons
from geoclassify.vector.rings import Rings, polygon_of
from geoclassify.vector.sieve import sieve_strips
from geoclassify.vector.simplify import simplify_coverage
from geoclassify.vector.writers import write_features

log = logging.getLogger("geoclassify")

BLOCK_PIXELS = 1 << 24  # pixels per strip by default (16 Mpx: 16 MB of uint8 classes)


@dataclass(frozen=True)
class PolygonizeOptions:
    """What to polygonize and how; sizes in metres (the raster's units without a CRS)."""

    classes: tuple[str, ...] | None = None  # only these class names (None: all)
    min_area: float | None = None  # sieve: regions under this many m² merge into their largest neighbour
    min_area_pixels: float | None = None  # the same threshold in pixels
    simplify: float | None = None  # coverage simplification tolerance, m
    probabilities: str | None = None  # per-class probabilities raster: adds mean_confidence
    layer: str | None = None  # default: the output file's name without extension
    format: str | None = None  # default: from the extension
    overwrite: bool = False
    block_rows: int | None = None  # rows per strip (default: about BLOCK_PIXELS pixels)

    def check(self) -> None:
        """Refuse contradictory or out-of-range options.

        Raises:
            ConfigError: both --min-area and --min-area-pixels, a negative size, or block rows under 1.
        """
        if self.min_area is not None and self.min_area_pixels is not None:
            raise ConfigError("give --min-area or --min-area-pixels, not both")
        for name in ("min_area", "min_area_pixels", "simplify"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be 0 or more, got {value}")
        if self.block_rows is not None and self.block_rows < 1:
            raise ConfigError(f"--block-rows must be at least 1, got {self.block_rows}")

    def check_output(self, output: str | os.PathLike) -> tuple[Path, VectorFormat]:
        """Check the options and that `output` can be written, before a long run starts; returns the output path
        and its vector format.

        Raises:
            ConfigError: bad options, or an unknown vector format.
            OutputError: `output` exists (without overwrite), or its folder is missing.
        """
        self.check()
        fmt = vector_format(str(output), self.format)
        return check_output_path(output, self.overwrite, "vector output"), fmt


@dataclass(frozen=True)
class PolygonizeResult:
    """What a polygonize run wrote: the output path, its format label and layer, the counts, the time taken."""

    output: str
    format: str
    layer: str
    features: int
    counts: dict[str, int]  # features per class name
    merged: int  # regions merged by the sieve
    seconds: float


def log_polygons(result: PolygonizeResult) -> None:
    """Log what a polygonize run wrote."""
    per_class = ", ".join(f"{name} {n}" for name, n in result.counts.items()) or "none"
    log.info("wrote %s (%s, layer %s): %d polygons (%s); %.1f s", result.output, result.format, result.layer,
             result.features, per_class, result.seconds)


def default_block_rows(width: int) -> int:
    """Rows per strip for a raster `width` pixels wide: about BLOCK_PIXELS pixels, between 16 and 4096 rows."""
    return int(np.clip(BLOCK_PIXELS // max(width, 1), 16, 4096))


class PolygonizeRun:
    """One polygonize run over an open class raster: strips -> (sieve) -> regions -> feature batches."""

    def __init__(self, raster: ClassRaster, options: PolygonizeOptions, confidence: ConfidenceRaster | None,
                 progress: ProgressReporter = SILENT):
        self.raster, self.options, self.confidence, self.progress = raster, options, confidence, progress
        self.keep = raster.class_ids(options.classes)
        self.rows = options.block_rows or default_block_rows(raster.width)
        self.schema = feature_schema(confidence is not None)
        self.measure = Measure(raster.grid.crs)
        self.counts: Counter[int] = Counter()
        self.merged = 0

    def strips(self, desc: str) -> Iterator[Strip]:
        """The raster's strips, with a progress bar in rows when there are several strips."""
        reporter = self.progress if self.raster.height > self.rows else SILENT
        with reporter.bar(self.raster.height, desc, "row") as bar:
            for strip in self.raster.strips(self.rows):
                yield strip
                bar.update(strip.height)

    def sieve_threshold(self) -> float | None:
        """The sieve's size threshold in pixels, or None without one."""
        if self.options.min_area_pixels is not None:
            return float(self.options.min_area_pixels)
        if self.options.min_area is not None:
            return self.options.min_area / self.raster.pixel_area_m2()
        return None

    def classified(self) -> Iterator[Strip]:
        """The raster's strips of classes, sieved when a minimum area is set (then the raster is read twice)."""
        threshold = self.sieve_threshold()
        if not threshold:
            yield from self.strips("polygonize")
            return
        passes = iter(["sieve", "polygonize"])
        yield from sieve_strips(lambda: self.strips(next(passes)), threshold, self._merged)

    def _merged(self, count: int) -> None:
        self.merged = count
        log.info("sieve: %d regions under %.4g pixels merged into their largest neighbour", count,
                 self.sieve_threshold())

    def mask(self, strip: Strip) -> np.ndarray:
        """Pixels to polygonize: all valid ones when simplifying (neighbours shape the shared edges)."""
        if self.keep is None or self.options.simplify:
            return strip.valid
        return strip.valid & np.isin(strip.classes, list(self.keep))

    def regions(self) -> Iterator[Polygons]:
        """The finished regions, strip by strip (regions cut by strip edges joined), with their confidence sums.

        Raises:
            InputError: a class has no band in the probabilities raster.
        """
        joiner = RegionJoiner(self.raster.height)
        for strip in self.classified():
            if self.confidence is not None:
                strip = self.confidence.attach(strip)
            mask = self.mask(strip)
            yield joiner.add(strip, strip_polygons(strip, mask))

    def simplified(self) -> Iterator[Polygons]:
        """All regions simplified as one coverage (held in memory), then filtered by class."""
        polys = Polygons.concat([Polygons.of([], [], [], []), *self.regions()])
        polys = Polygons(np.array([polygon_of(g) if isinstance(g, Rings) else g for g in polys.geoms], dtype=object),
                         polys.classes, polys.conf_sum, polys.conf_n)
        tolerance = (self.options.simplify or 0.0) / float(np.mean(self.raster.pixel_size_m()))
        polys = simplify_coverage(polys, tolerance)
        yield polys if self.keep is None else polys.take(np.isin(polys.classes, list(self.keep)))

    def batches(self) -> Iterator[pa.RecordBatch | LargeFeature]:
        """The features to write: record batches, and each region too large for GEOS as a LargeFeature of its own.

        Raises:
            InputError: a class has no band in the probabilities raster.
        """
        for polys in self.simplified() if self.options.simplify else self.regions():
            large = np.array([isinstance(g, Rings) for g in polys.geoms], bool)
            if (~large).any():
                yield self._batch(polys.take(~large), feature_batch)
            for i in np.flatnonzero(large):
                yield self._batch(polys.take([i]), large_feature)

    def _batch(self, polys: Polygons, make):
        self.counts.update(polys.classes.tolist())
        ids, index = np.unique(polys.classes, return_inverse=True)
        names = np.array([self.raster.name_of(int(c)) for c in ids], dtype=object)[index]
        return make(polys, names, self.measure, self.raster.grid.transform, self.schema)


def polygonize_raster(raster_path: str, output: str, options: PolygonizeOptions = PolygonizeOptions(),
                      progress: ProgressReporter = SILENT) -> PolygonizeResult:
    """Polygonize the class raster at `raster_path` into `output`; nothing is left at `output` on failure.

    Args:
        raster_path: one band of integer classes (a geoclassify predict output, or any class raster).
        output: the vector file; its format from the extension or `options.format`.
        options: classes to keep, sieve (m² or pixels), simplification (m), probabilities for mean_confidence.
        progress: the progress reporter (default: none).

    Returns:
        The output, its format and layer, features per class name, regions merged by the sieve, seconds.

    Raises:
        ConfigError: bad options, unknown classes in `options.classes`, or an unknown vector format.
        InputError: the raster (or probabilities raster) is missing or not a raster.
        NotAClassRasterError: the raster is not one band of integer classes.
        OutputError: `output` exists (without overwrite), or cannot be written.
    """
    start = time.perf_counter()
    path, fmt = options.check_output(output)
    layer = options.layer or path.stem
    with ExitStack() as stack:
        stack.enter_context(bounded_gdal_cache())
        raster = stack.enter_context(ClassRaster(raster_path))
        confidence = None
        if options.probabilities:
            confidence = stack.enter_context(ConfidenceRaster(options.probabilities, raster.grid))
        run = PolygonizeRun(raster, options, confidence, progress)
        write_features(path, fmt, layer, run.schema, run.batches(), raster.grid.crs)
        crs = raster.grid.crs
    if fmt.name == "geojson" and crs is not None:
        log.info("GeoJSON follows RFC 7946: coordinates reprojected from %s to EPSG:4326 (areas and perimeters "
                 "were measured before)", crs.to_string())
    total = sum(run.counts.values())
    if not total:
        log.warning("no polygons: %s holds an empty layer %r", path, layer)
    counts = {raster.name_of(c): n for c, n in sorted(run.counts.items())}
    return PolygonizeResult(str(path), fmt.label, layer, total, counts, run.merged, time.perf_counter() - start)
