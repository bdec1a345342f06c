"""Tile placement along one axis and the smooth blend weights of overlapping tiles."""

from __future__ import annotations

import numpy as np


def axis_starts(length: int, size: int, stride: int, start: int = 0, end_margin: int = 0) -> list[int]:
    """Start offsets of tiles of `size` every `stride`, from `start`, until the axis is covered.

    The last tile reaches at least `end_margin` pixels past the end of the axis. All values are in pixels;
    `start` may be negative (a tile hanging over the edge, read as padding).

    Raises:
        ValueError: `size` or `stride` is below 1.

    Examples:
        >>> axis_starts(10, 4, 3)
        [0, 3, 6]
        >>> axis_starts(10, 4, 3, start=-1, end_margin=1)
        [-1, 2, 5, 8]
        >>> axis_starts(4, 4, 2)
        [0]
    """
    if stride < 1 or size < 1:
        raise ValueError(f"tile size and stride must be positive (size={size}, stride={stride})")
    starts = [start]
    while starts[-1] + size - end_margin < length:
        starts.append(starts[-1] + stride)
    return starts


def chip_starts(length: int, chip: int, stride: int) -> list[int]:
    """Starts of chips centred on each `stride`-pixel output cell of an axis.

    One chip of `chip` pixels per output cell, `ceil(length / stride)` of them; a chip larger than its cell
    starts before it (negative at the first cell), one smaller starts inside it.

    Examples:
        >>> chip_starts(10, 8, 4)
        [-2, 2, 6]
        >>> chip_starts(6, 3, 3)
        [0, 3]
    """
    offset = (stride - chip) // 2
    return [j * stride + offset for j in range(-(-length // stride))]


def taper(size: int, overlap: int, margin: int) -> np.ndarray:
    """1-D blend weights of a tile: 0 on `margin` pixels at each end, a cosine (Hann) ramp across
    the rest of the `overlap`, 1 in the middle.

    Neighbouring tiles placed `size - overlap` apart have ramps that sum to exactly 1 where they
    overlap (sin^2 + cos^2), and the margins they ignore are where a convolution sees padding.

    Returns:
        float32 array of shape (size,), values in [0, 1]; all ones when `overlap` is 0.

    Raises:
        ValueError: unless 0 <= 2 * margin < overlap < size (or overlap and margin are both 0).

    Examples:
        >>> w = taper(8, 4, 1)
        >>> [round(float(v), 3) for v in w]
        [0.0, 0.146, 0.854, 1.0, 1.0, 0.854, 0.146, 0.0]
        >>> bool(np.allclose(w[4:] + w[:4], 1))  # the next tile starts 8 - 4 pixels on
        True
        >>> taper(4, 0, 0).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    if not 0 <= 2 * margin < overlap < size and not (overlap == 0 and margin == 0):
        raise ValueError(f"need 0 <= 2*margin < overlap < size (size={size}, overlap={overlap}, margin={margin})")
    w = np.ones(size, dtype=np.float32)
    if overlap == 0:
        return w
    ramp_len = overlap - 2 * margin
    ramp = np.sin(0.5 * np.pi * (np.arange(ramp_len, dtype=np.float64) + 0.5) / ramp_len) ** 2
    w[:margin] = 0
    w[margin : margin + ramp_len] = ramp
    w[size - margin - ramp_len : size - margin] = ramp[::-1]
    w[size - margin :] = 0
    return w


def blend_weights(size: int, overlap: int, margin: int) -> np.ndarray:
    """2-D separable blend weights: float32 array of shape (size, size), the outer product of `taper`.

    Raises:
        ValueError: as `taper`.
    """
    w = taper(size, overlap, margin)
    return np.outer(w, w)
