"""geoclassify.vector.rings: compact int32 rings of a polygon, and their WKB and measures in world units,
against shapely on hand-made polygons."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from shapely.geometry import Polygon

from geoclassify.vector.rings import (
    Rings,
    chunk_measures,
    polygon_of,
    polygon_wkb,
    rings_of,
    segment_sums,
    wkb_pieces,
    wkb_size,
)

TRANSFORM = Affine(30, 0, 500_000, 0, -30, 4_000_000)  # integer world coordinates: exact in both computations

# a 5 x 3 box with two 1 x 1 holes; the exterior counter-clockwise in the x, y plane (shapely.is_ccw), holes clockwise
EXTERIOR = [(0, 0), (5, 0), (5, 3), (0, 3), (0, 0)]
HOLE_A = [(1, 1), (1, 2), (2, 2), (2, 1), (1, 1)]
HOLE_B = [(3, 1), (3, 2), (4, 2), (4, 1), (3, 1)]
POLYGON = Polygon(EXTERIOR, [HOLE_A])


def world_polygon(polygon: Polygon, transform: Affine) -> Polygon:
    a, b, c, d, e, f = transform[:6]
    return shapely.affinity.affine_transform(polygon, [a, b, d, e, c, f])


def le_wkb(polygon: Polygon) -> bytes:
    return shapely.to_wkb(polygon, byte_order=1, output_dimension=2)


def test_rings_of_keeps_every_ring_in_order_and_orientation():
    rings = rings_of(POLYGON)
    assert len(rings.chunks) == 1 and rings.chunks[0].dtype == np.int32
    assert rings.lengths[0].tolist() == [5, 5] and rings.vertices == 10
    assert rings.exterior().tolist() == [list(p) for p in EXTERIOR]
    (hole_coords, hole_lengths), = rings.holes()
    assert hole_coords.tolist() == [list(p) for p in HOLE_A] and hole_lengths.tolist() == [5]
    assert [r.tolist() for r in rings.ring_arrays()] == [[list(p) for p in EXTERIOR], [list(p) for p in HOLE_A]]
    back = polygon_of(rings)
    assert le_wkb(back) == le_wkb(POLYGON), "same rings, same start points, same orientation"
    assert shapely.is_ccw(back.exterior) and not shapely.is_ccw(back.interiors[0])


@pytest.mark.parametrize("exterior", [EXTERIOR, EXTERIOR[::-1]])
def test_polygon_of_rings_in_chunks_is_the_polygon_with_all_their_holes(exterior):
    """As stitch builds them: the exterior and new holes in one chunk, a piece's holes in another."""
    rings = Rings((np.array(exterior + HOLE_A, np.int32), np.array(HOLE_B, np.int32)),
                  (np.array([5, 5]), np.array([5])))
    assert rings.vertices == 15 and [len(c) for c, _ in rings.holes()] == [5, 5]
    polygon = polygon_of(rings)
    assert le_wkb(polygon) == le_wkb(Polygon(exterior, [HOLE_A, HOLE_B]))
    assert polygon.is_valid and polygon.area == 15 - 2
    assert shapely.is_ccw(polygon.exterior) == (exterior == EXTERIOR)


@pytest.mark.parametrize("exterior", [EXTERIOR, EXTERIOR[::-1]])
def test_wkb_equals_shapelys_wkb_of_the_polygon_in_world_coordinates(exterior):
    polygon = Polygon(exterior, [HOLE_A, HOLE_B])
    rings = Rings((np.array(exterior + HOLE_A, np.int32), np.array(HOLE_B, np.int32)),
                  (np.array([5, 5]), np.array([5])))
    expected = le_wkb(world_polygon(polygon, TRANSFORM))
    assert polygon_wkb(rings, TRANSFORM).tobytes() == expected
    assert wkb_size(rings) == len(expected) == 9 + 3 * 4 + 15 * 16
    (x, y) = exterior[1]
    second = shapely.from_wkb(polygon_wkb(rings, TRANSFORM).tobytes()).exterior.coords[1]
    assert second == (500_000 + 30 * x, 4_000_000 - 30 * y)


def test_wkb_in_small_pieces_and_blocks_is_the_same_bytes(monkeypatch):
    rings = Rings((np.array(EXTERIOR + HOLE_A, np.int32), np.array(HOLE_B, np.int32)),
                  (np.array([5, 5]), np.array([5])))
    whole = polygon_wkb(rings, TRANSFORM).tobytes()
    monkeypatch.setattr("geoclassify.vector.rings.WKB_BLOCK", 2)  # rings cross blocks
    pieces = list(wkb_pieces(rings, TRANSFORM, piece_bytes=40))
    assert len(pieces) > 3 and b"".join(pieces) == whole
    assert polygon_wkb(rings, TRANSFORM).tobytes() == whole


@pytest.mark.parametrize("block", [3, 1 << 18])
def test_ring_measures_in_world_units(block, monkeypatch):
    """Areas unsigned whatever the orientation, lengths per ring: pixels 10 m wide and 20 m tall."""
    monkeypatch.setattr("geoclassify.vector.rings.WKB_BLOCK", block)
    transform = Affine(10, 0, 300, 0, -20, 900)
    chunk = np.array(EXTERIOR + HOLE_A + HOLE_B[::-1], np.int32)
    area, length = chunk_measures(chunk, np.array([5, 5, 5]), transform)
    assert area.tolist() == [15 * 200, 200, 200]  # 5 x 3 pixels and two single pixels, 200 m² each
    assert length.tolist() == [2 * 5 * 10 + 2 * 3 * 20, 60, 60]
    shapes = [world_polygon(Polygon(r), transform) for r in (EXTERIOR, HOLE_A, HOLE_B)]
    assert np.allclose(area, shapely.area(shapes)) and np.allclose(length, shapely.length(shapes))


def test_segment_sums_per_ring():
    values = np.array([1, 2, 3, 4, 5])
    assert segment_sums(values, np.array([0, 0, 2, 2, 2]), 4).tolist() == [3, 0, 12, 0]
    assert segment_sums(values[:0], np.array([], int), 2).tolist() == [0, 0]
