"""geoclassify.vector.stitch: the pieces of a region cut by strip edges, joined into the polygon GDAL gives for
the whole raster. Small hand-made class arrays whose polygons are known by hand, then every region of a
seeded random raster cut at every row."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from rasterio import features
from scipy import ndimage
from shapely.geometry import Polygon, box, shape

from geoclassify.vector.rings import polygon_of, rings_of
from geoclassify.vector.stitch import cancel_shared, keys, oriented, stitch, unit_edges


@pytest.fixture(autouse=True)
def no_geos_fallback(monkeypatch):
    """stitch falls back to a GEOS union when its chains break; these inputs must never need it."""

    def fallback(_):
        raise AssertionError("stitch fell back to the GEOS union")

    monkeypatch.setattr("geoclassify.vector.stitch.polygon_of", fallback)


def pieces(classes: np.ndarray, seams: list[int]) -> list[tuple[Polygon, int]]:
    """GDAL's 4-connected polygons (pixel coordinates) and values of each strip between `seams`."""
    bounds = [0, *seams, len(classes)]
    return [(shape(geom), int(value))
            for top, bottom in zip(bounds[:-1], bounds[1:])
            for geom, value in features.shapes(classes[top:bottom], connectivity=4,
                                               transform=Affine.translation(0, top))]


def whole(classes: np.ndarray) -> list[tuple[Polygon, int]]:
    return [(shape(geom), int(value)) for geom, value in features.shapes(classes, connectivity=4)]


def stitched(classes: np.ndarray, seams: list[int], value: int = 1) -> Polygon:
    parts = [rings_of(g) for g, v in pieces(classes, seams) if v == value]
    assert len(parts) > 1, "the region must be cut"
    return polygon_of(stitch(parts, np.array(seams, np.int64)))


def canonical(polygon: Polygon) -> bytes:
    """Normalized WKB without collinear vertices: equal for the same rings, whatever the start and direction."""
    return shapely.to_wkb(shapely.normalize(shapely.simplify(polygon, 0)))


def same_polygon(a: Polygon, b: Polygon) -> bool:
    return a.is_valid and b.is_valid and canonical(a) == canonical(b)


U = np.array([[1, 0, 0, 1],
              [1, 0, 0, 1],
              [1, 1, 1, 1]], np.uint8)
U_POLYGON = Polygon([(0, 0), (1, 0), (1, 2), (3, 2), (3, 0), (4, 0), (4, 3), (0, 3)])


def test_two_pieces_above_join_the_piece_below():
    polygon = stitched(U, [2])
    assert same_polygon(polygon, U_POLYGON)
    assert polygon.area == 8 and len(polygon.exterior.coords) == 9, "8 corners, no collinear vertices left"
    assert shapely.is_ccw(polygon.exterior), "exterior counter-clockwise, as stitched"


FRAME = np.array([[1, 1, 1, 1, 1],
                  [1, 0, 0, 0, 1],
                  [1, 0, 0, 0, 1],
                  [1, 1, 1, 1, 1]], np.uint8)


@pytest.mark.parametrize("seams", [[1], [2], [3], [1, 2, 3]])
def test_a_frame_cut_by_seams_gets_its_hole(seams):
    """No piece has a hole: the hole appears when the pieces' shared seam edges cancel."""
    polygon = stitched(FRAME, seams)
    assert same_polygon(polygon, Polygon(box(0, 0, 5, 4).exterior, [box(1, 1, 4, 3).exterior]))
    assert polygon.area == 14
    assert same_polygon(polygon, next(g for g, v in whole(FRAME) if v == 1))


HOLES = np.array([[1, 1, 1],
                  [1, 0, 1],
                  [1, 1, 1],
                  [1, 0, 1],
                  [1, 1, 1]], np.uint8)


def test_holes_inside_a_strip_pass_through_beside_new_holes():
    """The hole at row 1 lies inside the top strip (kept from the piece); the one at row 3 is made by the seam."""
    top = [g for g, v in pieces(HOLES, [3]) if v == 1 and g.bounds[1] == 0]
    assert len(top) == 1 and len(top[0].interiors) == 1
    polygon = stitched(HOLES, [3])
    expected = Polygon(box(0, 0, 3, 5).exterior, [box(1, 1, 2, 2).exterior, box(1, 3, 2, 4).exterior])
    assert same_polygon(polygon, expected)
    assert len(polygon.interiors) == 2


@pytest.mark.parametrize("classes, seam, hole, touch", [
    (np.array([[1, 1, 1],
               [1, 0, 1],
               [1, 1, 0]], np.uint8), 2, box(1, 1, 2, 2), (2, 2)),
    (np.array([[1, 1, 0],
               [1, 0, 1],
               [1, 1, 1]], np.uint8), 1, box(1, 1, 2, 2), (2, 1)),
])
def test_region_touching_itself_on_a_seam_is_an_exterior_and_a_touching_hole(classes, seam, hole, touch):
    """Two chains leave the seam vertex where the region touches itself diagonally: turning right gives an
    exterior and a hole that meet at that point (valid, and GDAL's own answer), not one self-touching ring."""
    polygon = stitched(classes, [seam])
    assert polygon.is_valid and len(polygon.interiors) == 1
    assert same_polygon(Polygon(polygon.interiors[0]), Polygon(hole.exterior))
    assert polygon.exterior.intersection(polygon.interiors[0]).equals(shapely.Point(touch))
    assert polygon.area == np.count_nonzero(classes == 1)
    assert same_polygon(polygon, next(g for g, v in whole(classes) if v == 1))


def region_ids(classes: np.ndarray) -> np.ndarray:
    """A distinct id per 4-connected region of one class."""
    ids = np.zeros(classes.shape, np.int32)
    for value in np.unique(classes):
        lab, _ = ndimage.label(classes == value)
        ids[lab > 0] = lab[lab > 0] + ids.max()
    return ids


@pytest.mark.parametrize("step", [1, 3])
@pytest.mark.parametrize("reverse", [False, True])
def test_every_region_of_a_random_raster_equals_the_whole_raster_polygon(step, reverse):
    classes = np.digitize(np.random.default_rng(7).random((24, 20)), [0.25, 0.35]).astype(np.uint8)  # 2: 65 %
    ids = region_ids(classes)
    seams = list(range(step, len(classes), step))
    parts: dict[int, list] = {}
    for geom, value in pieces(ids, seams):
        parts.setdefault(value, []).append(rings_of(geom))
    expected = {value: geom for geom, value in whole(ids)}
    assert parts.keys() == expected.keys()
    cut = [value for value, p in parts.items() if len(p) > 1]
    assert len(cut) >= 10 and max(len(parts[v]) for v in cut) >= 10, "regions cut into many pieces"
    with_holes = 0
    for value in cut:
        polygon = polygon_of(stitch(parts[value][::-1] if reverse else parts[value], np.array(seams, np.int64)))
        assert same_polygon(polygon, expected[value]), value
        with_holes += len(polygon.interiors) > 0
    assert with_holes >= 1


def test_oriented_drops_the_closing_point_and_turns_counter_clockwise():
    clockwise = np.array([[0, 0], [0, 2], [3, 2], [3, 0], [0, 0]], np.int32)
    assert not shapely.is_ccw(shapely.LinearRing(clockwise))
    for ring in (clockwise, clockwise[::-1]):
        out = oriented(ring)
        assert len(out) == 4 and shapely.is_ccw(shapely.LinearRing(out))
        assert {tuple(p) for p in out} == {(0, 0), (0, 2), (3, 2), (3, 0)}


def test_keys_are_one_int64_per_point():
    points = np.array([[0, 0], [1, 2], [2, 1], [70000, 3]])
    assert keys(points).tolist() == [0, (1 << 32) + 2, (2 << 32) + 1, (70000 << 32) + 3]


def test_unit_edges_split_horizontal_edges_both_ways():
    start, end = unit_edges(np.array([[0, 2], [5, 4]]), np.array([[3, 2], [3, 4]]))
    assert start.tolist() == [[0, 2], [1, 2], [2, 2], [5, 4], [4, 4]]
    assert end.tolist() == [[1, 2], [2, 2], [3, 2], [4, 4], [3, 4]]


def test_edges_present_both_ways_cancel():
    a = np.array([[0, 2], [1, 2], [2, 2], [5, 2]])
    b = np.array([[1, 2], [2, 2], [3, 2], [4, 2]])
    rest_a, rest_b = cancel_shared(np.r_[a, [[2, 2]]], np.r_[b, [[1, 2]]])  # (2,2)->(1,2) reverses (1,2)->(2,2)
    assert rest_a.tolist() == [[0, 2], [2, 2], [5, 2]] and rest_b.tolist() == [[1, 2], [3, 2], [4, 2]]
