"""Chip maps from feature maps: a chip classifier run fully convolutionally over tiles of a strip.

Chip by chip, a chip classifier at stride s runs (chip / s)² chips over every chip-sized area: at `--stride 8` 64
times the model work of `--stride 64`, because overlapping chips compute the same features again. Here the
network's fully convolutional form (`geoclassify.models.dense`: per-cell logits, one cell = `cell` pixels) runs
once over a tile of many chips, and each chip's logits are the mean of its chip / cell x chip / cell cells, as
OverFeat did (Sermanet et al. 2014, arXiv:1312.6229). A chip's cells line up with the feature grid only where its
offset in the tile is a multiple of the cell, so where the stride is not, the chips are split into phases (chips
whose offsets agree modulo the cell, cell / gcd(stride, cell) per axis) and each phase has its own tiles: the work
is about (cell / gcd(stride, cell))² passes over the strip instead of (chip / stride)² (at most (chip / cell)²
times less: 4 for the default model, 64-px chips and 32-px cells).

Each tile carries the scene around its chips as far as a cell sees (`CellGeometry.context`, measured by running
the model: `measure_cells`), so a chip's logits are those of one pass over the whole scene whatever the tiling (and
the same on both backends). Each chip keeps its chip-by-chip rules (`ChipLayout`): active only with enough real
pixels, nodata otherwise. The strip's invalid pixels (past the scene, nodata) are filled once for the whole strip
with its context (`fill_window`: nearest valid pixel, the scene mirrored past its edges), not chip by chip.

Results differ from chip by chip, where a chip sees zero padding past its edges and here its neighbours. Measured
for the default model (benchmarks/RESULTS.md, "Fine chip maps"): 2.1-2.3x faster at strides 32, 16 and 8, but
the same class as chip by chip for only 79-91 % of the output pixels on three of four real NAIP scenes (99.7 % on
the fourth); so it is an option (`--fully-convolutional`), and chip by chip, what the model was trained and tested
on, stays the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from geoclassify.errors import ConfigError
from geoclassify.inference.layouts import ChipLayout, Strip
from geoclassify.models.onnx_file import CELL_OUTPUT

if TYPE_CHECKING:
    from geoclassify.inference.predictor import Predictor


def cell_side(chip: int, cells_in_chip: int, cells_in_two_chips: int) -> int | None:
    """The side of a feature cell in pixels, where cells tile chips exactly, from the feature map's width on a
    chip and on a tile of two chips.

    Args:
        chip: the chip side in pixels.
        cells_in_chip: feature cells across one chip.
        cells_in_two_chips: feature cells across a tile two chips wide.

    Returns:
        chip / cells_in_chip, or None where that is not a whole number or two chips do not give twice the cells.

    Examples:
        >>> cell_side(64, 4, 8)
        16
        >>> cell_side(64, 3, 7) is None
        True
    """
    if cells_in_chip < 1 or chip % cells_in_chip or cells_in_two_chips != 2 * cells_in_chip:
        return None
    return chip // cells_in_chip


@dataclass(frozen=True)
class CellGeometry:
    """A fully convolutional chip classifier's feature grid: cells of `size` pixels, each seeing `context` pixels
    past its own edges at most (whole cells): a tile whose chips have that much scene around them gives every chip
    the logits it has in one pass over the whole scene, whatever the tiling."""

    size: int
    context: int


TILE_PIXELS = 1_048_576
"""Pixels of a tile (context included) per model call where the runner's budget is smaller: a tile must be large
next to its context (64 px a side for the default model) and the strip's height. Measured on a 2-core CPU (the
default model at --stride 16 over 2048 x 2048 px, benchmarks/RESULTS.md "Fine chip maps"): tiles of the chip
batch budget (131,072 px) ran 1.7x slower than chip by chip; 1 Mpx 2.5x (ONNX Runtime) and 2.6x (torch) faster,
2-4 Mpx within 15 %."""

class CellLogitsMixin:
    """`cells` (measured once, on first use) and `cell_logits` for a predictor that says how to measure its cells
    (`_measure_cells`) and runs its fully convolutional form (`_cells(batch)`): both backends' predictors."""

    _cells_known = False
    _geometry: CellGeometry | None = None

    @property
    def cells(self) -> CellGeometry | None:
        """The model's feature cells, or None where it has no fully convolutional form whose cells tile its chips
        (measured on first use: `measure_cells`)."""
        if not self._cells_known:  # (threads of a Dask worker may measure at once: the flag is set last)
            self._geometry = self._measure_cells()
            self._cells_known = True
        return self._geometry

    def _measure_cells(self) -> CellGeometry | None:
        raise NotImplementedError

    def _cells(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def cell_logits(self, batch: np.ndarray) -> np.ndarray:
        """(n, bands, h, w) raw pixels -> (n, classes, h / cell, w / cell) logits of each feature cell, float32.

        Raises:
            ValueError: the model has no fully convolutional form (`cells` is None).
        """
        if self.cells is None:
            raise ValueError("this model has no fully convolutional form (see geoclassify.models.dense)")
        return self._cells(batch)


MAX_CONTEXT_CHIPS = 4  # a receptive field reaching further past a cell than this many chips is not searched


def measure_cells(cells: Callable[[np.ndarray], np.ndarray], mean: tuple[float, ...], std: tuple[float, ...],
                  chip: int) -> CellGeometry | None:
    """The cell size and context of a model's per-cell logits, measured by running it.

    The size from the feature map's width on one chip and on two (`cell_side`); the context by changing every pixel
    outside a square of the centre cell plus m pixels (m = 0, one cell, two ...) of a tile of noise: the smallest m
    for which the centre cell's logits do not change.

    Args:
        cells: (n, bands, h, w) raw pixels -> (n, classes, h / size, w / size) logits.
        mean: the card's band means (the noise is drawn around them).
        std: the card's band standard deviations (the noise's).
        chip: the chip side in pixels.

    Returns:
        The geometry, or None where cells do not tile chips or the context exceeds `MAX_CONTEXT_CHIPS` chips.
    """
    bands = len(mean)
    one, two, seven = (cells(np.zeros((1, bands, chip, k * chip), np.float32)).shape[-1] for k in (1, 2, 7))
    size = cell_side(chip, one, two)
    if size is None or seven != 7 * one:  # (a network whose stride does not divide the chip floors unevenly)
        return None
    reach = MAX_CONTEXT_CHIPS * chip
    n = chip + 2 * reach
    rng = np.random.default_rng(0)
    loc, scale = np.asarray(mean, np.float32).reshape(-1, 1, 1), np.asarray(std, np.float32).reshape(-1, 1, 1)
    tile, other = (loc + scale * rng.standard_normal((2, bands, n, n), np.float32))
    centre = n // 2 // size * size
    expected = cells(tile[np.newaxis])[0, :, centre // size, centre // size]
    for m in range(0, reach, size):  # (at m = reach the box would be most of the tile: no test)
        mixed = other.copy()
        box = np.s_[:, centre - m : centre + size + m, centre - m : centre + size + m]
        mixed[box] = tile[box]
        got = cells(mixed[np.newaxis])[0, :, centre // size, centre // size]
        if np.allclose(got, expected, rtol=1e-5, atol=1e-5):
            return CellGeometry(size, m)
    return None


def axis_phases(count: int, stride: int, cell: int) -> list[range]:
    """The chips of one axis (chip i at i x stride pixels) grouped by their offset modulo the cell.

    Examples:
        >>> axis_phases(5, 8, 16)
        [range(0, 5, 2), range(1, 5, 2)]
        >>> axis_phases(3, 64, 16)
        [range(0, 3)]
    """
    step = cell // math.gcd(stride, cell)
    return [range(first, count, step) for first in range(min(step, count))]


def cells_for(layout: ChipLayout, predictor: Predictor, fully_convolutional: bool) -> CellGeometry | None:
    """The cells a chip layout runs with, where it is asked to run fully convolutionally; else None.

    Raises:
        ConfigError: asked for, and the model has no fully convolutional form whose cells tile its chips.
    """
    if not fully_convolutional:
        return None
    cells = predictor.cells  # (measured on the card's chip, which is the layout's: its cells tile it)
    if cells is None:
        raise ConfigError(
            "--fully-convolutional needs a chip classifier whose head is global average pooling and one linear "
            "layer, whose feature cells tile its chips and see at most "
            f"{MAX_CONTEXT_CHIPS} chips around them; this model has none (an ONNX file also needs the "
            f"{CELL_OUTPUT} output that `geoclassify export` writes for such a model)")
    return cells


def pool_cells(cells: np.ndarray, size: int, step: int) -> np.ndarray:
    """Mean of `size` x `size` cells every `step` cells: (classes, h, w) -> (classes, rows, cols)."""
    view = sliding_window_view(cells, (size, size), axis=(1, 2))[:, ::step, ::step]
    return view.mean(axis=(-2, -1), dtype=np.float32)


def strip_logits(data: np.ndarray, active: np.ndarray, layout: ChipLayout, strip: Strip, predictor: Predictor,
                 cells: CellGeometry, tile_budget: int) -> np.ndarray:
    """Logits of every chip of a strip, from feature maps of tiles of chips with `cells.context` pixels of scene
    around them (so the tiling does not change them).

    Args:
        data: (bands, strip height + 2 x context, strip width + 2 x context) raw pixels of the strip and the
            context around it, invalid pixels filled.
        active: (chips,) bool, row by row: the chips that need logits (the others are left at zero).
        layout: the chip layout.
        strip: the strip of `data`.
        predictor: the model.
        cells: its cell geometry (`measure_cells`).
        tile_budget: pixels per model call (context included): the tile width is chosen so that tile height x
            width is about this (`tile_pixels`).

    Returns:
        (chip rows of the strip, chip columns, classes) float32 logits.
    """
    cell, margin = cells.size, cells.context
    s, chip = layout.stride, layout.chip
    k, n = len(layout.out_rows(strip)), len(layout.cols)
    active = active.reshape(k, n)
    logits = np.zeros((k, n, layout.num_classes), np.float32)
    size = chip // cell
    for rows in axis_phases(k, s, cell):
        top, height = rows[0] * s, (len(rows) - 1) * rows.step * s + chip + 2 * margin
        for cols in axis_phases(n, s, cell):
            pitch = cols.step * s  # pixels between the chips of a phase: a multiple of the cell
            per_tile = max(1, (tile_budget // height - chip - 2 * margin) // pitch + 1)
            for first in range(0, len(cols), per_tile):
                block = cols[first : first + per_tile]
                if not active[rows.start : rows.stop : rows.step, block.start : block.stop : block.step].any():
                    continue
                left, width = block[0] * s, (len(block) - 1) * pitch + chip + 2 * margin
                tile = data[np.newaxis, :, top : top + height, left : left + width]
                out = predictor.cell_logits(np.ascontiguousarray(tile))[0]
                if out.shape[1:] != (height // cell, width // cell):
                    raise ValueError(f"the model gave {out.shape[1:]} cells for a {height} x {width} tile, not "
                                     f"{(height // cell, width // cell)}: its cells are not {cell} px")
                inner = out[:, margin // cell :, margin // cell :]
                pooled = pool_cells(inner, size, pitch // cell)[:, : len(rows), : len(block)]
                logits[rows.start : rows.stop : rows.step, block.start : block.stop : block.step] = (
                    pooled.transpose(1, 2, 0))
    return logits


def tile_pixels(pixels_per_call: int) -> int:
    """The pixels of a tile per model call for a runner's budget of pixels per call: at least `TILE_PIXELS`."""
    return max(TILE_PIXELS, pixels_per_call)


def strip_probabilities(data: np.ndarray, active: np.ndarray, layout: ChipLayout, strip: Strip,
                        predictor: Predictor, cells: CellGeometry, tile_budget: int) -> np.ndarray:
    """(active chips, classes) float32 probabilities of a strip's active chips, in row order (`strip_logits`)."""
    from geoclassify.inference.onnx_backend import softmax  # (imported here: that module imports this one)

    logits = strip_logits(data, active, layout, strip, predictor, cells, tile_budget)
    return softmax(logits.reshape(-1, layout.num_classes)[active])
