"""geoclassify.vector.sieve (and the region labels it rests on): small regions take the class of their largest
neighbour, the same whatever the strips. Hand-made class arrays whose sieved answer is known by hand."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio import features

from geoclassify.vector.classes import Strip
from geoclassify.vector.labels import label_regions, neighbour_pairs
from geoclassify.vector.sieve import sieve_strips

N = 255  # nodata


def sieve(classes: np.ndarray, threshold: float, rows: int | None = None) -> tuple[np.ndarray, int]:
    """The sieved classes, cut into strips of `rows` rows (None: one strip), and how many regions changed."""
    classes = np.asarray(classes, np.uint8)
    rows = rows or len(classes)
    valid = classes != N

    def strips():
        for r in range(0, len(classes), rows):
            yield Strip(r, classes[r: r + rows], valid[r: r + rows])

    decided = []
    out = np.concatenate([s.classes for s in sieve_strips(strips, threshold, decided.append)])
    assert len(decided) == 1
    return out, decided[0]


def island(length: int) -> np.ndarray:
    """A row of `length` pixels of class 2 inside class 0 (2 * length + 3 pixels, along 2 * length + 1 edges),
    touching the larger class 1 (15 pixels) along one edge only."""
    return np.array([[0] * (length + 1) + [1] * 5,
                     [0] + [2] * length + [1] * 5,
                     [0] * (length + 1) + [1] * 5], np.uint8)


ROWS = [None, 1, 2]


@pytest.mark.parametrize("rows", ROWS)
def test_island_under_the_threshold_takes_the_class_of_its_largest_neighbour(rows):
    classes = island(3)
    assert np.count_nonzero(classes == 0) == 9 and np.count_nonzero(classes == 1) == 15
    out, merged = sieve(classes, 4, rows)
    expected = np.where(classes == 2, 1, classes)  # class 1 (15 px), not class 0 (9 px) that borders it most
    assert np.array_equal(out, expected) and merged == 1
    assert np.array_equal(features.sieve(classes, 4, connectivity=4), expected), "GDAL agrees"


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("length", [4, 5])
def test_island_of_the_threshold_or_more_stays(length, rows):
    classes = island(length)
    out, merged = sieve(classes, 4, rows)
    assert np.array_equal(out, classes) and merged == 0


@pytest.mark.parametrize("rows", [1, 2])
def test_region_cut_by_strip_edges_counts_all_its_pieces(rows):
    """A 5-pixel column is 1 or 2 pixels per strip: under the threshold of 4 in every strip, not as a whole."""
    classes = np.zeros((7, 3), np.uint8)
    classes[1:6, 1] = 2
    assert np.array_equal(sieve(classes, 4, rows)[0], classes)
    assert np.array_equal(sieve(classes, 6, rows)[0], np.zeros_like(classes))


@pytest.mark.parametrize("rows", ROWS)
def test_nodata_is_nobodys_neighbour_and_stays(rows):
    """The 1-pixel class 3 touches nodata and the 2-pixel class 2, which merges into class 0: both end as
    class 0; nodata neither counts as a neighbour nor changes."""
    classes = np.array([[0, 0, 0, N],
                        [0, 2, 2, 3]], np.uint8)
    out, merged = sieve(classes, 4, rows)
    assert np.array_equal(out, [[0, 0, 0, N],
                                [0, 0, 0, 0]])
    assert merged == 2


@pytest.mark.parametrize("rows", ROWS)
def test_chain_takes_the_class_at_its_end_not_the_next_regions_class(rows):
    """The 1-pixel class 3 ties between two 3-pixel class 2 regions and goes to the first one, which itself
    goes to class 0. Taking class 2 (the next region's class, not the chain's end) would join the 1-pixel
    region to the other class 2 region, 4 pixels: kept. Following the chain, everything ends as class 0."""
    classes = np.array([[0, 0, 0, N, N],
                        [0, 0, 0, N, N],
                        [2, 2, 2, 3, 2],
                        [N, N, N, N, 2],
                        [N, N, N, N, 2]], np.uint8)
    out, merged = sieve(classes, 4, rows)
    assert np.array_equal(out, np.where(classes == N, N, 0)) and merged == 3


@pytest.mark.parametrize("rows", ROWS)
def test_island_in_nodata_is_kept(rows):
    classes = np.array([[N, N, N, N],
                        [N, 1, 1, N],
                        [N, N, N, N],
                        [0, 0, 0, 0]], np.uint8)
    out, merged = sieve(classes, 4, rows)
    assert np.array_equal(out, classes) and merged == 0


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("first, second", [(0, 1), (1, 0)])
def test_tie_goes_to_the_neighbour_whose_first_pixel_comes_first(first, second, rows):
    """Two 4-pixel neighbours: the one starting at pixel 0 wins, whatever its class value."""
    classes = np.array([[first, first, first],
                        [first, 2, second],
                        [second, second, second]], np.uint8)
    out, merged = sieve(classes, 2, rows)
    assert np.array_equal(out, np.where(classes == 2, first, classes)) and merged == 1


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("vertical", [False, True])
def test_merged_regions_grow_and_merge_again_in_the_next_round(vertical, rows):
    """Regions of 2, 1, 2 and 3 pixels, all under the threshold. Round 1: class 1 (1 px) joins class 3 (its
    neighbours tie at 2 px; class 3 comes first) and class 0 joins class 2 (3 px); class 3 had only a smaller
    neighbour and stays. Round 2: class 3, now 3 px, joins class 2, now 5 px."""
    classes = np.array([[3, 3, 1, 0, 0, 2, 2, 2]], np.uint8)
    classes = classes.T if vertical else classes
    out, merged = sieve(classes, 10, rows)
    assert np.array_equal(out, np.full_like(classes, 2)) and merged == 3


def test_labels_are_per_class_in_row_major_order_with_raster_wide_first_pixels():
    classes = np.array([[1, 0, 1],
                        [1, 0, 0]], np.uint8)
    lab = label_regions(classes, np.ones(classes.shape, bool), row=10)
    # class 0 first (one region), then class 1: two regions, the left one first
    assert lab.labels.tolist() == [[2, 1, 3],
                                   [2, 1, 1]]
    assert lab.classes.tolist()[1:] == [0, 1, 1] and lab.count == 3
    assert lab.first.tolist()[1:] == [31, 30, 32]  # row 10 of a 3-wide raster starts at pixel 30
    masked = label_regions(classes, np.array([[True, True, False], [True, True, True]]), row=0)
    assert masked.labels[0, 2] == 0 and masked.count == 2
    assert neighbour_pairs(lab.labels).tolist() == [[1, 2], [1, 3]]
