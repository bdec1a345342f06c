"""Polygons of a class raster, strip by strip, with the pieces of regions cut by strip edges joined.

Geometry stays in pixel coordinates (x = column, y = row, exact integers) until it is written, so pieces of
one region from different strips share their edges exactly and a block-wise run gives the same polygons as a
whole-raster run. Each strip is polygonized by GDAL (`rasterio.features.shapes`, 4-connected). Pieces touching
the strip's top edge are joined to the open regions above that reach the strip's bottom edge where they face
each other with the same class; a region that no longer reaches the bottom edge of the latest strip is finished
and leaves. Memory: one strip plus the regions still open, never the raster.
"""

from __future__ import annotations

import gc
import itertools
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np
import shapely
from affine import Affine
from rasterio import features

from geoclassify.vector.classes import Strip
from geoclassify.vector.labels import label_regions
from geoclassify.vector.rings import LARGE, polygon_of, rings_of
from geoclassify.vector.sieve import components
from geoclassify.vector.stitch import stitch


@dataclass(frozen=True)
class Polygons:
    """A batch of polygons in pixel coordinates with their class and confidence sums."""

    geoms: np.ndarray  # shapely Polygons
    classes: np.ndarray
    conf_sum: np.ndarray  # sum of the pixels' confidence (0 without probabilities)
    conf_n: np.ndarray  # pixels with a known confidence

    def __len__(self) -> int:
        return len(self.geoms)

    def take(self, index) -> "Polygons":
        """The polygons selected by `index` (a boolean mask or integer positions)."""
        return Polygons(self.geoms[index], self.classes[index], self.conf_sum[index], self.conf_n[index])

    @staticmethod
    def concat(parts: list["Polygons"]) -> "Polygons":
        """The batches one after another (at least one part)."""
        return Polygons(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("geoms", "classes", "conf_sum",
                                                                                    "conf_n")))

    @staticmethod
    def of(geoms: list, classes: list, conf_sum: list, conf_n: list) -> "Polygons":
        """A batch from lists, as arrays of the batch's dtypes (empty lists give an empty batch)."""
        return Polygons(np.array(geoms, dtype=object), np.array(classes, np.int64), np.array(conf_sum, np.float64),
                        np.array(conf_n, np.int64))


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: GDAL's shapes come as millions of small tuples that form no cycles,
    and collections triggered while they pile up cost more than polygonizing them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def ragged_polygons(shapes: list) -> tuple[np.ndarray, np.ndarray]:
    """GeoJSON-like polygons as shapely Polygons (one vectorized build) and their values."""
    rings = [ring for geom, _ in shapes for ring in geom["coordinates"]]
    if not rings:
        return np.zeros(0, object), np.zeros(0)
    ring_ends = np.cumsum([len(r) for r in rings])
    poly_ends = np.cumsum([len(geom["coordinates"]) for geom, _ in shapes])
    flat = itertools.chain.from_iterable(itertools.chain.from_iterable(rings))
    coords = np.fromiter(flat, np.float64, count=2 * int(ring_ends[-1])).reshape(-1, 2)
    geoms = shapely.from_ragged_array(shapely.GeometryType.POLYGON, coords,
                                      (np.concatenate([[0], ring_ends]), np.concatenate([[0], poly_ends])))
    return geoms, np.array([value for _, value in shapes])


def shapes_to_polygons(shapes: Iterable, chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """The polygons of `rasterio.features.shapes` as shapely Polygons and values, converted in chunks."""
    parts = [(np.zeros(0, object), np.zeros(0))]
    shapes = iter(shapes)
    with no_gc():
        while batch := list(itertools.islice(shapes, chunk)):
            parts.append(ragged_polygons(batch))
    return np.concatenate([g for g, _ in parts]), np.concatenate([v for _, v in parts])


def strip_polygons(strip: Strip, mask: np.ndarray) -> Polygons:
    """The 4-connected regions of the `mask` pixels of a strip as polygons (with confidence sums if known)."""
    transform = Affine.translation(0, strip.row)
    if strip.confidence is None:
        geoms, values = shapes_to_polygons(features.shapes(strip.classes, mask, connectivity=4, transform=transform))
        zeros = np.zeros(len(geoms))
        return Polygons(geoms, values.astype(np.int64), zeros, zeros.astype(np.int64))
    lab = label_regions(strip.classes, mask, strip.row)
    geoms, values = shapes_to_polygons(features.shapes(lab.labels, lab.labels > 0, connectivity=4,
                                                       transform=transform))
    known = mask & ~np.isnan(strip.confidence)
    conf_sum = np.bincount(lab.labels[known], strip.confidence[known], minlength=lab.count + 1)
    conf_n = np.bincount(lab.labels[known], minlength=lab.count + 1)
    index = values.astype(np.int64)
    return Polygons(geoms, lab.classes[index].astype(np.int64), conf_sum[index], conf_n[index])


def line_owners(geoms: np.ndarray, candidates: np.ndarray, width: int, y: int) -> np.ndarray:
    """For each pixel along the strip edge y (a horizontal line), the index of the polygon among `candidates`
    whose exterior runs along that pixel's edge there (-1: none). Holes never reach a strip edge."""
    index = np.flatnonzero(candidates)
    owner = np.full(width, -1)
    coords, ring = shapely.get_coordinates(shapely.get_exterior_ring(geoms[index]), return_index=True)
    on = (coords[:-1, 1] == y) & (coords[1:, 1] == y) & (ring[:-1] == ring[1:])
    x0 = np.minimum(coords[:-1, 0], coords[1:, 0])[on].astype(np.int64)
    x1 = np.maximum(coords[:-1, 0], coords[1:, 0])[on].astype(np.int64)
    lengths = x1 - x0
    columns = np.repeat(x0 - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    owner[columns] = np.repeat(index[ring[:-1][on]], lengths)
    return owner


@dataclass
class OpenRegion:
    """A region that reaches the bottom edge of the latest strip: its pieces so far (as Rings)."""

    cls: int
    parts: list = field(default_factory=list)
    conf_sum: float = 0.0
    conf_n: int = 0

    def absorb(self, other: "OpenRegion") -> None:
        """Add the pieces and confidence sums of `other` (a piece of the same region) to this region."""
        self.parts.extend(other.parts)
        self.conf_sum += other.conf_sum
        self.conf_n += other.conf_n

    @staticmethod
    def of_piece(pieces: Polygons, i: int) -> "OpenRegion":
        """A region of one piece, kept as compact rings while it is open."""
        return OpenRegion(int(pieces.classes[i]), [rings_of(pieces.geoms[i])], float(pieces.conf_sum[i]),
                          int(pieces.conf_n[i]))

    def geometry(self, seams: np.ndarray):
        """The finished region: a polygon, or its rings when it is too large to pass through GEOS."""
        rings = self.parts[0] if len(self.parts) == 1 else stitch(self.parts, seams)
        return rings if rings.vertices >= LARGE else polygon_of(rings)


class RegionJoiner:
    """Joins the pieces of regions cut by strip edges; `add` returns the regions it finished."""

    def __init__(self, height: int):
        self.height = height
        self.open: list[OpenRegion] = []
        self.owner = np.zeros(0, np.int64)  # per column of the last bottom row: index into `open`, -1 none
        self.edge_values = np.zeros(0)
        self.seams: list[int] = []  # rows where strips meet

    def add(self, strip: Strip, pieces: Polygons) -> Polygons:
        """Join a strip's pieces (from `strip_polygons`) to the open regions; return the finished regions."""
        if strip.row > 0:
            self.seams.append(strip.row)
        bounds = shapely.bounds(pieces.geoms).reshape(-1, 4)
        top = (bounds[:, 1] == strip.row) & (strip.row > 0)
        bottom = (bounds[:, 3] == strip.row + strip.height) & (strip.row + strip.height < self.height)
        comp = self._components(strip, pieces, top)
        n_open = len(self.open)
        joined = np.zeros(len(comp), bool)
        joined[comp[:n_open]] = True
        alone = ~joined[comp[n_open:]]
        done, piece_open = self._regroup(comp, pieces, alone, bottom)
        self._remember_bottom(strip, pieces, bottom, piece_open)
        return Polygons.concat([pieces.take(alone & ~bottom), self._finish(done)])

    def _regroup(self, comp: np.ndarray, pieces: Polygons, alone: np.ndarray, bottom: np.ndarray):
        """Merge open regions and pieces by component: those reaching the bottom stay open, the rest are done.
        Returns the finished regions and, per piece, its open region (-1: none)."""
        piece_comp = comp[len(self.open):]
        merged: dict[int, OpenRegion] = {}
        for region, c in zip(self.open, comp[: len(self.open)]):
            merged.setdefault(int(c), OpenRegion(region.cls)).absorb(region)
        for i in np.flatnonzero(~alone):
            merged[int(piece_comp[i])].absorb(OpenRegion.of_piece(pieces, int(i)))
        reaching = {int(c) for c in piece_comp[~alone & bottom]}
        self.open, done, slot = [], [], {}
        for c, region in merged.items():
            if c in reaching:
                slot[c] = len(self.open)
                self.open.append(region)
            else:
                done.append(region)
        piece_open = np.full(len(pieces), -1)
        for i in np.flatnonzero(~alone & bottom):
            piece_open[i] = slot[int(piece_comp[i])]
        for i in np.flatnonzero(alone & bottom):
            piece_open[i] = len(self.open)
            self.open.append(OpenRegion.of_piece(pieces, int(i)))
        return done, piece_open

    def _finish(self, regions: list[OpenRegion]) -> Polygons:
        """Finished regions as one batch, each region's pieces joined into one polygon."""
        seams = np.array(self.seams, np.int64)
        geoms = [r.geometry(seams) for r in regions]
        return Polygons.of(geoms, [r.cls for r in regions], [r.conf_sum for r in regions],
                           [r.conf_n for r in regions])

    def _components(self, strip: Strip, pieces: Polygons, top: np.ndarray) -> np.ndarray:
        """Component of each open region, then of each piece, joined where they face each other with one class."""
        n_open, n = len(self.open), len(self.open) + len(pieces)
        if not n_open or not top.any():
            return np.arange(n)
        owner = line_owners(pieces.geoms, top, strip.classes.shape[1], strip.row)
        linked = (self.owner >= 0) & (owner >= 0) & (self.edge_values == strip.classes[0])
        links = np.unique(np.column_stack([self.owner[linked], owner[linked] + n_open]), axis=0)
        return components(n, links)

    def _remember_bottom(self, strip: Strip, pieces: Polygons, bottom: np.ndarray, piece_open: np.ndarray) -> None:
        """Which open region holds each pixel of the strip's bottom row, for joining the next strip."""
        if not bottom.any():
            self.owner = np.zeros(0, np.int64)
            return
        owner = line_owners(pieces.geoms, bottom, strip.classes.shape[1], strip.row + strip.height)
        self.owner = np.where(owner >= 0, piece_open[owner], -1)
        self.edge_values = strip.classes[-1].copy()
