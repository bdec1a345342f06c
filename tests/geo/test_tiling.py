import numpy as np
import pytest
from affine import Affine

from geoclassify.geo.grid import Grid
from geoclassify.geo.tiling import axis_starts, blend_weights, chip_starts, taper


@pytest.mark.parametrize("length,size,stride,start,margin",
                         [(100, 32, 24, 0, 0), (718, 64, 48, -4, 4), (10, 64, 48, -4, 4)])
def test_axis_starts_cover_the_axis(length, size, stride, start, margin):
    starts = axis_starts(length, size, stride, start, margin)
    assert starts[0] == start
    assert all(b - a == stride for a, b in zip(starts, starts[1:]))
    assert starts[-1] + size - margin >= length
    assert len(starts) == 1 or starts[-2] + size - margin < length


def test_chip_starts_centre_chips_on_cells():
    assert chip_starts(100, 64, 64) == [0, 64]
    assert chip_starts(40, 64, 16) == [-24, -8, 8]


def test_taper_is_a_partition_of_unity_between_neighbours():
    size, overlap, margin = 64, 24, 4
    w = taper(size, overlap, margin)
    assert w[:margin].sum() == 0 and w[-margin:].sum() == 0
    assert w[overlap:size - overlap].min() == 1
    stride = size - overlap
    total = np.zeros(stride * 3 + size)
    for k in range(4):
        total[k * stride : k * stride + size] += w
    inner = total[stride : 3 * stride + margin]
    np.testing.assert_allclose(inner, 1.0, atol=1e-6)


def test_blend_weights_are_separable_and_bounded():
    w = blend_weights(32, 8, 1)
    assert w.shape == (32, 32) and w.max() == 1.0 and w.min() == 0.0
    np.testing.assert_allclose(w, np.outer(w[16], w[:, 16]))


def test_taper_rejects_impossible_margins():
    with pytest.raises(ValueError):
        taper(32, 8, 4)


def test_grid_coarsened_and_resampled_keep_the_origin():
    g = Grid(718, 791, Affine(300.0, 0, 101985.0, 0, -300.0, 2826915.0))
    c = g.coarsened(16)
    assert c.shape == (45, 50) and c.transform == g.transform @ Affine.scale(16)
    r = g.resampled(2.0, 2.0)
    assert r.shape == (359, 396) and (r.transform.c, r.transform.f) == (101985.0, 2826915.0)
    assert r.res == (600.0, 600.0)


@pytest.mark.parametrize("transform", [
    Affine(4.33, 2.5, 485899.0, 2.5, -4.33, 5209246.0),  # rotated 30 degrees
    Affine(5.0, 1.0, 485899.0, 0.0, -5.0, 5209246.0),  # sheared
    Affine(5.0, 0.0, 485899.0, 0.0, 5.0, 5205631.0),  # south-up
    Affine(-5.0, 0.0, 490569.0, 0.0, -5.0, 5209246.0),  # east-left
])
def test_resampled_keeps_the_grid_frame(transform):
    """Resampling by 2 keeps rotation, shear and axis directions: the new transform is the old one scaled."""
    g = Grid(723, 934, transform)
    r = g.resampled(934 / 467, 723 / 362)
    assert r.shape == (362, 467) and r.transform == transform @ Affine.scale(934 / 467, 723 / 362)


@pytest.mark.parametrize("transform, flips", [
    (Affine(10.0, 0.0, 500.0, 0.0, 10.0, 100.0), (True, False)),  # south-up
    (Affine(-10.0, 0.0, 540.0, 0.0, -10.0, 130.0), (False, True)),  # east-left
    (Affine(-10.0, 0.0, 540.0, 0.0, 10.0, 100.0), (True, True)),  # both: rotated 180 degrees
    (Affine(8.66, 5.0, 500.0, 5.0, -8.66, 130.0), (False, False)),  # rotated 30 degrees: its own frame
])
def test_flipped_grids_are_north_up_on_the_same_ground(transform, flips):
    """Reversing the flipped axes gives a north-up, east-right grid over the same pixel footprints."""
    g = Grid(3, 4, transform)
    assert g.flips == flips
    f = g.flipped(*flips)
    assert f.transform.a > 0 and f.transform.e < 0
    corners = {g.transform * (c, r) for r in (0, 3) for c in (0, 4)}
    assert {f.transform * (c, r) for r in (0, 3) for c in (0, 4)} == corners
