"""Compact polygons for regions that stay open across strips: int32 ring coordinates instead of GEOS objects.

A region that spans a large raster (say the background class of a gigapixel prediction) can have tens of
millions of vertices and a million holes. As GEOS polygons such a region costs several times its coordinates;
held as int32 pixel coordinates it costs 8 bytes a vertex, and when finished it is written as WKB straight
from these arrays (world coordinates computed ring by ring), never becoming a GEOS geometry.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import shapely
from affine import Affine

LARGE = 1_000_000  # vertices from which a finished region is written from its rings, not as a GEOS polygon
WKB_BLOCK = 1 << 18  # vertices handled at a time when measuring a large region or writing its WKB


@dataclass(frozen=True)
class Rings:
    """The closed rings of one polygon in pixel coordinates, the exterior first, in chunks (holes are shared
    with the pieces they come from, not copied)."""

    chunks: tuple[np.ndarray, ...]  # (n, 2) int32 coordinates of consecutive rings
    lengths: tuple[np.ndarray, ...]  # per chunk, the number of points of each ring

    @property
    def vertices(self) -> int:
        """Points in all the rings."""
        return sum(len(c) for c in self.chunks)

    def exterior(self) -> np.ndarray:
        """(n, 2) int32 pixel coordinates of the exterior ring, closed (last point = first)."""
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
    """The rings of a pixel-space polygon (vertices on pixel corners, stored as int32), in one chunk."""
    coords, index = shapely.get_coordinates(shapely.get_rings(polygon), return_index=True)
    return Rings((coords.astype(np.int32),), (np.bincount(index),))


def polygon_of(rings: Rings) -> shapely.Polygon:
    """The GEOS polygon of `rings`, in pixel coordinates: the first ring its exterior, all the others holes."""
    coords = np.concatenate(rings.chunks).astype(np.float64)
    offsets = np.r_[0, np.cumsum(np.concatenate(rings.lengths))]
    polygon_offsets = np.array([0, len(offsets) - 1])
    return shapely.from_ragged_array(shapely.GeometryType.POLYGON, coords, (offsets, polygon_offsets))[0]


def world(coords: np.ndarray, transform: Affine) -> np.ndarray:
    """Pixel coordinates to the CRS, with the same arithmetic as attributes.to_world."""
    a, b, c, d, e, f = transform[:6]
    x, y = coords[:, 0].astype(np.float64), coords[:, 1].astype(np.float64)
    return np.column_stack([a * x + b * y + c, d * x + e * y + f])


def segment_sums(values: np.ndarray, ring: np.ndarray, rings: int) -> np.ndarray:
    """Sums per ring of per-segment `values` whose rings (non-decreasing) are `ring`."""
    sums = np.zeros(rings, values.dtype)
    if len(values):
        first = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
        sums[ring[first]] = np.add.reduceat(values, first)
    return sums


def chunk_measures(chunk: np.ndarray, lengths: np.ndarray, transform: Affine) -> tuple[np.ndarray, np.ndarray]:
    """Planar area (unsigned, exact from pixel coordinates) and length of each ring of a chunk, in CRS units;
    computed WKB_BLOCK vertices at a time, so a ring of tens of millions of vertices costs little memory."""
    offsets = np.r_[0, np.cumsum(lengths)]
    twice = np.zeros(len(lengths), np.int64)
    length = np.zeros(len(lengths))
    for a in range(0, max(len(chunk) - 1, 0), WKB_BLOCK):
        b = min(len(chunk), a + WKB_BLOCK + 1)  # segments a .. b - 2, from each point to the next
        ring = np.searchsorted(offsets, np.arange(a, b - 1), "right") - 1
        inside = np.arange(a + 1, b) < offsets[ring + 1]  # leaves out the pairs joining one ring to the next
        p, xy = chunk[a:b].astype(np.int64), world(chunk[a:b], transform)
        cross = (p[:-1, 0] * p[1:, 1] - p[1:, 0] * p[:-1, 1])[inside]
        twice += segment_sums(cross, ring[inside], len(lengths))
        length += segment_sums(np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))[inside], ring[inside], len(lengths))
    return np.abs(twice) / 2 * abs(transform.determinant), length


def ring_wkb(chunk: np.ndarray, lengths: np.ndarray, transform: Affine) -> Iterator[bytes]:
    """WKB of consecutive rings (point count, then x y doubles), in pieces: world coordinates are computed
    for at most WKB_BLOCK vertices at a time, so a ring of tens of millions of vertices costs little memory."""
    done, xy = 0, np.zeros((0, 2))  # world coordinates of chunk[done: done + len(xy)]
    start = 0
    for n in lengths.tolist():
        yield struct.pack("<I", n)
        for a in range(start, start + n, WKB_BLOCK):
            b = min(start + n, a + WKB_BLOCK)
            if a < done or b > done + len(xy):
                done, xy = a, world(chunk[a: a + WKB_BLOCK], transform)
            yield xy[a - done: b - done].tobytes()
        start += n


def wkb_pieces(rings: Rings, transform: Affine, piece_bytes: int = 1 << 23) -> Iterator[bytes]:
    """Little-endian WKB of the polygon in world coordinates, as pieces of about `piece_bytes` each."""
    pending = [struct.pack("<BII", 1, 3, sum(len(n) for n in rings.lengths))]
    size = 0
    for chunk, lengths in zip(rings.chunks, rings.lengths):
        for part in ring_wkb(chunk, lengths, transform):
            pending.append(part)
            size += len(part)
            if size >= piece_bytes:
                yield b"".join(pending)
                pending, size = [], 0
    yield b"".join(pending)


def wkb_size(rings: Rings) -> int:
    """Bytes of the polygon's WKB."""
    return 9 + sum(4 * len(n) for n in rings.lengths) + 16 * rings.vertices


def polygon_wkb(rings: Rings, transform: Affine) -> np.ndarray:
    """Little-endian WKB of the polygon in world coordinates, in one buffer."""
    buf = np.empty(wkb_size(rings), np.uint8)
    pos = 0
    for piece in wkb_pieces(rings, transform):
        buf[pos: pos + len(piece)] = np.frombuffer(piece, np.uint8)
        pos += len(piece)
    return buf
