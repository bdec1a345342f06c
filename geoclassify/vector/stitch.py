"""Join the pieces of a region cut by strip edges into one polygon, by cancelling the edges they share.

A polygon overlay (GEOS union) of pieces with tens of thousands of holes takes minutes; this takes linear time
in numpy and little memory beyond the coordinates. The pieces come from one 4-connected region on the pixel
grid (exact integer coordinates), so: they share edges only along the strip edges ("seams", horizontal lines
y = row); a piece's holes never reach a seam (a hole must be closed inside its strip), so holes pass through
unchanged and only the exterior rings take part. Each exterior ring, oriented with the interior on the left,
is cut into its edges on seams and the runs of other edges between them ("arcs", never shared, kept whole,
but also cut where the exterior of another piece touches them).
Seam edges are split into unit edges, and those present in both directions (shared by a piece above and one
below) cancel. Arcs and the remaining unit edges are chained into rings; where two leave one vertex (the region
touches itself diagonally) the ring turns right, away from the interior: an exterior and a hole touching at
that point, valid, and the same as GDAL's own polygons. Collinear vertices are dropped; the ring with positive
area is the exterior, the others are new holes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geoclassify.vector.rings import Rings, polygon_of, rings_of

KEY = np.int64(1) << 32  # vertex key: x * KEY + y (coordinates are non-negative pixel indexes)


def keys(points: np.ndarray) -> np.ndarray:
    """One int64 per point (x, y)."""
    return points[:, 0].astype(np.int64) * KEY + points[:, 1].astype(np.int64)


@dataclass
class Elements:
    """Pieces of boundary to chain: arcs (runs of exterior coordinates) and unit seam edges."""

    start: np.ndarray  # (k, 2) first vertex
    end: np.ndarray  # (k, 2) last vertex (the next element's first)
    first_dir: np.ndarray  # (k, 2) direction of the first edge
    last_dir: np.ndarray  # (k, 2) direction of the last edge
    source: np.ndarray  # index of the first vertex in the coordinate source
    count: np.ndarray  # vertices taken from the source (the end vertex excluded)


def oriented(ring: np.ndarray) -> np.ndarray:
    """An exterior ring without its closing point, counter-clockwise (interior on the left)."""
    ring = ring[:-1]
    x, y = ring[:, 0].astype(np.int64), ring[:, 1].astype(np.int64)
    twice_area = np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)
    return ring if twice_area > 0 else ring[::-1]


def cut_ring(ring: np.ndarray, seams: np.ndarray, junctions: np.ndarray):
    """A ring rotated to start where an element starts, its seam edges (start, end) and its arcs (start, vertex
    count). Arcs end where a seam edge starts and at `junctions`, vertices shared with other pieces."""
    nxt = np.roll(ring, -1, axis=0)
    seam = (ring[:, 1] == nxt[:, 1]) & np.isin(ring[:, 1], seams)
    stop = seam | np.roll(seam, 1) | np.isin(keys(ring), junctions)
    shift = int(np.argmax(stop))
    ring, nxt, seam, stop = (np.roll(v, -shift, axis=0) for v in (ring, nxt, seam, stop))
    stops = np.flatnonzero(stop)
    if not len(stops):  # a ring touching nothing: one closed arc
        return ring, (ring[:0], ring[:0]), (np.array([0]), np.array([len(ring)]))
    starts = np.flatnonzero(stop & ~seam)
    ends = np.r_[stops, len(ring)][np.searchsorted(stops, starts, "right")]
    return ring, (ring[seam], nxt[seam]), (starts, ends - starts)


def unit_edges(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal edges split into unit edges."""
    steps = np.abs(b[:, 0] - a[:, 0]).astype(np.int64)
    edge = np.repeat(np.arange(len(a)), steps)
    k = np.arange(len(edge)) - np.repeat(np.cumsum(steps) - steps, steps)
    sign = np.sign(b[edge, 0] - a[edge, 0]).astype(np.int64)
    start = a[edge].astype(np.int64)
    start[:, 0] += sign * k
    end = start.copy()
    end[:, 0] += sign
    return start, end


def cancel_shared(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges without those present in both directions (shared by two pieces)."""
    s, e = keys(a), keys(b)
    lo, hi = np.minimum(s, e), np.maximum(s, e)
    order = np.lexsort((hi, lo))
    dup = (lo[order][1:] == lo[order][:-1]) & (hi[order][1:] == hi[order][:-1])
    shared = np.zeros(len(a), bool)
    shared[order[1:][dup]] = True
    shared[order[:-1][dup]] = True
    return a[~shared], b[~shared]


def shared_vertices(rings: list[np.ndarray]) -> np.ndarray:
    """Keys of the vertices found more than once among the rings (where the pieces touch each other)."""
    all_keys = np.empty(sum(len(r) for r in rings), np.int64)
    offset = 0
    for ring in rings:
        all_keys[offset: offset + len(ring)] = keys(ring)
        offset += len(ring)
    all_keys.sort()
    return np.unique(all_keys[1:][all_keys[1:] == all_keys[:-1]])


def elements(parts: list[Rings], seams: np.ndarray) -> tuple[Elements, np.ndarray]:
    """The arcs and uncancelled unit seam edges of the parts' exteriors, and the coordinates they index."""
    exteriors = [oriented(part.exterior()) for part in parts]
    sizes = [len(r) for r in exteriors]
    junctions = shared_vertices(exteriors)
    coords = np.empty((sum(sizes), 2), exteriors[0].dtype)
    seam_edges, arcs, offset = [], [], 0
    for exterior in exteriors:
        ring, edges, (starts, counts) = cut_ring(exterior, seams, junctions)
        coords[offset: offset + len(ring)] = ring
        seam_edges.append(edges)
        arcs.append((starts + offset, counts))
        offset += len(ring)
    starts = np.concatenate([s for s, _ in arcs])
    counts = np.concatenate([c for _, c in arcs])
    arcs_per_ring = [len(s) for s, _ in arcs]
    ring_start = np.repeat(np.cumsum([0] + sizes[:-1]), arcs_per_ring)
    last = starts + counts  # the end vertex: the next seam edge's start, or the ring's first vertex
    last = np.where(last == ring_start + np.repeat(sizes, arcs_per_ring), ring_start, last)
    second = np.where(counts > 1, starts + 1, last)
    a, b = cancel_shared(*unit_edges(np.concatenate([e[0] for e in seam_edges]),
                                     np.concatenate([e[1] for e in seam_edges])))
    unit_dir = np.sign(b - a)
    arc_first = np.sign(coords[second].astype(np.int64) - coords[starts])
    arc_last = np.sign(coords[last].astype(np.int64) - coords[starts + counts - 1])
    return Elements(
        start=np.concatenate([coords[starts], a]).astype(np.int64),
        end=np.concatenate([coords[last], b]).astype(np.int64),
        first_dir=np.concatenate([arc_first, unit_dir]).astype(np.int64),
        last_dir=np.concatenate([arc_last, unit_dir]).astype(np.int64),
        source=np.r_[starts, len(coords) + np.arange(len(a))],
        count=np.r_[counts, np.ones(len(a), np.int64)],
    ), np.concatenate([coords, a.astype(coords.dtype)])


def successors(el: Elements) -> np.ndarray | None:
    """For each element, the one that continues the ring: the one leaving its end (turning right if two do);
    None if some element has no continuation."""
    s, e = keys(el.start), keys(el.end)
    order = np.argsort(s, kind="stable")
    first = np.searchsorted(s[order], e, "left")
    count = np.searchsorted(s[order], e, "right") - first
    if (count == 0).any():
        return None
    succ = order[first]
    two = np.flatnonzero(count == 2)
    if len(two):
        alt = order[first[two] + 1]
        d_in, d_out = el.last_dir[two], el.first_dir[succ[two]]
        cross = d_in[:, 0] * d_out[:, 1] - d_in[:, 1] * d_out[:, 0]
        succ[two] = np.where(cross < 0, succ[two], alt)
    return succ


def ring_order(succ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elements sorted ring by ring in ring order, and the ring of each (sorted) element."""
    n = len(succ)
    ring = connected_components(coo_matrix((np.ones(n, np.int8), (np.arange(n), succ)), shape=(n, n)),
                                directed=True, connection="weak")[1]
    head = np.full(ring.max() + 1, n)
    np.minimum.at(head, ring, np.arange(n))
    nxt = np.where(succ == head[ring], -1, succ)  # cut each ring before its head: a chain to rank
    to_end = (nxt >= 0).astype(np.int64)
    while (nxt >= 0).any():  # pointer jumping: distance from each element to its chain's end
        live = nxt >= 0
        to_end[live] += to_end[nxt[live]]
        nxt = np.where(live, nxt[np.where(live, nxt, 0)], -1)
    order = np.lexsort((-to_end, ring))
    return order, ring[order]


def corner_rings(points: np.ndarray, bounds: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The closed rings of ring-ordered `points` (ring i is points[bounds[i]:bounds[i + 1]]) keeping only their
    corners (collinear vertices dropped), and twice their signed areas."""
    starts, ends = bounds[:-1], bounds[1:] - 1
    step = np.diff(points, axis=0)
    out = np.empty((len(points), 2), np.int8)  # direction to the next vertex of the ring
    out[:-1] = np.sign(step)
    del step
    out[ends] = np.sign(points[starts] - points[ends])
    into = np.empty_like(out)  # direction from the previous vertex
    into[1:] = out[:-1]
    into[starts] = out[ends]
    corner = (out != into).any(axis=1)
    del out, into
    rings, areas = [], []
    for a, b in zip(starts, bounds[1:]):
        ring = points[a:b][corner[a:b]]
        ring = np.concatenate([ring, ring[:1]])
        x, y = ring[:, 0].astype(np.float64), ring[:, 1].astype(np.float64)  # exact: integers below 2**26
        rings.append(ring)
        areas.append(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))
    return rings, np.array(areas)


def stitch(parts: list[Rings], seams: np.ndarray) -> Rings:
    """One polygon from the pieces of a region; `seams` are the rows of the strip edges."""
    el, source = elements(parts, seams)
    succ = successors(el)
    if succ is None:  # a broken chain: not pieces of one region on the grid; let GEOS sort it out
        return rings_of(shapely.union_all([polygon_of(p) for p in parts]))
    order, ring = ring_order(succ)
    counts = el.count[order]
    index = np.arange(int(counts.sum()), dtype=np.int64)
    index += np.repeat(el.source[order] - (np.cumsum(counts) - counts), counts)
    points = source[index]
    del index, source
    per_ring_count = np.bincount(ring, counts)
    rings, twice_area = corner_rings(points, np.r_[0, np.cumsum(per_ring_count)].astype(np.int64))
    outer = np.flatnonzero(twice_area > 0)
    if len(outer) != 1:  # not one 4-connected region: let GEOS sort it out
        return rings_of(shapely.union_all([polygon_of(p) for p in parts]))
    rings = [rings[outer[0]]] + [r for i, r in enumerate(rings) if i != outer[0]]
    holes = [h for p in parts for h in p.holes() if len(h[1])]
    return Rings((np.concatenate(rings), *(c for c, _ in holes)),
                 (np.array([len(r) for r in rings]), *(n for _, n in holes)))
