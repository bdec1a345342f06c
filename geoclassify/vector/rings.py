"""Compact polygons for regions that stay open across strips: int32 ring coordinates instead of GEOS objects.

A region that spans a large raster (say the background class of a gigapixel prediction) can have tens of
millions of vertices and a million holes. As GEOS polygons such a region costs several times its coordinates;
held as int32 pixel coordinates it costs 8 bytes a vertex, and when finished it is written as WKB straight
from these arrays (world coordinates computed ring by ring), never becoming a GEOS geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine

LARGE = 1_000_000  # vertices from which a finished region is written from its rings, not as a GEOS polygon


@dataclass(frozen=True)
class Rings:
    """The closed rings of one polygon in pixel coordinates, the exterior first, in chunks (holes are shared
    with the pieces they come from, not copied)."""

    chunks: tuple[np.ndarray, ...]  # (n, 2) int32 coordinates of consecutive rings
    lengths: tuple[np.ndarray, ...]  # per chunk, the number of points of each ring

    @property
    def vertices(self) -> int:
        return sum(len(c) for c in self.chunks)

    def exterior(self) -> np.ndarray:
        return self.chunks[0][: self.lengths[0][0]]

    def holes(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """(coordinates, ring lengths) of the holes, chunk by chunk."""
        first = (self.chunks[0][self.lengths[0][0]:], self.lengths[0][1:])
        return (first, *zip(self.chunks[1:], self.lengths[1:]))

    def ring_arrays(self):
        """Each ring's coordinates in turn."""
        for chunk, lengths in zip(self.chunks, self.lengths):
            yield from np.split(chunk, np.cumsum(lengths)[:-1])


def rings_of(polygon: shapely.Polygon) -> Rings:
    coords, index = shapely.get_coordinates(shapely.get_rings(polygon), return_index=True)
    return Rings((coords.astype(np.int32),), (np.bincount(index),))


def polygon_of(rings: Rings) -> shapely.Polygon:
    coords = np.concatenate(rings.chunks).astype(np.float64)
    offsets = np.r_[0, np.cumsum(np.concatenate(rings.lengths))]
    polygon_offsets = np.array([0, len(offsets) - 1])
    return shapely.from_ragged_array(shapely.GeometryType.POLYGON, coords, (offsets, polygon_offsets))[0]


def world(coords: np.ndarray, transform: Affine) -> np.ndarray:
    """Pixel coordinates to the CRS, with the same arithmetic as attributes.to_world."""
    a, b, c, d, e, f = transform[:6]
    x, y = coords[:, 0].astype(np.float64), coords[:, 1].astype(np.float64)
    return np.column_stack([a * x + b * y + c, d * x + e * y + f])


def per_ring(segment_values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sums per ring of values of consecutive point pairs (n - 1 of them for n points of concatenated closed
    rings starting at `offsets`), leaving out the pairs that join one ring to the next."""
    values = np.r_[segment_values, 0]
    values[offsets[1:] - 1] = 0
    return np.add.reduceat(values, offsets[:-1])


def chunk_measures(chunk: np.ndarray, lengths: np.ndarray, transform: Affine) -> tuple[np.ndarray, np.ndarray]:
    """Planar area (unsigned, exact from pixel coordinates) and length of each ring of a chunk, in CRS units."""
    offsets = np.r_[0, np.cumsum(lengths)]
    p = chunk.astype(np.int64)
    twice = per_ring(p[:-1, 0] * p[1:, 1] - p[1:, 0] * p[:-1, 1], offsets)
    xy = world(chunk, transform)
    length = per_ring(np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1])), offsets)
    return np.abs(twice) / 2 * abs(transform.determinant), length


def polygon_wkb(rings: Rings, transform: Affine) -> np.ndarray:
    """Little-endian WKB of the polygon in world coordinates, written chunk by chunk into one buffer."""
    lengths = np.concatenate(rings.lengths).astype("<u4")
    buf = np.empty(9 + 4 * len(lengths) + 16 * int(lengths.sum()), np.uint8)
    buf[0] = 1
    buf[1:9] = np.array([3, len(lengths)], "<u4").view(np.uint8)
    pos = 9
    for chunk, chunk_lengths in zip(rings.chunks, rings.lengths):
        data = world(chunk, transform).astype("<f8").view(np.uint8).reshape(-1, 16)
        start = 0
        for n in chunk_lengths.astype("<u4"):
            buf[pos: pos + 4] = n.reshape(1).view(np.uint8)
            buf[pos + 4: pos + 4 + 16 * int(n)] = data[start: start + n].ravel()
            pos += 4 + 16 * int(n)
            start += int(n)
    return buf
