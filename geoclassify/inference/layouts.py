"""How windows are laid over a scene and how their predictions become output rows.

A layout cuts the scene into steps (one row band read at a time), lists the model windows in
each band, and turns their probabilities into finished output rows. Only one band of tile rows
is ever held: memory depends on the scene width, the tile size and the batch, not the scene size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geoclassify.errors import ConfigError
from geoclassify.geo.grid import Grid
from geoclassify.geo.tiling import axis_starts, blend_weights, chip_starts


@dataclass(frozen=True)
class Step:
    """One row band: read rows [row, row + height) and columns [col, col + width) of the scene."""

    index: int
    row: int
    height: int
    col: int
    width: int


@dataclass
class OutputRows:
    """Finished output rows: probabilities (classes, h, w) and validity (h, w) at output row `row`."""

    row: int
    probs: np.ndarray
    valid: np.ndarray


class ChipLayout:
    """Chip classification: one output pixel per `stride` x `stride` cell, from the chip centred on it."""

    def __init__(self, grid: Grid, chip: int, stride: int, num_classes: int, band_rows: int = 512):
        if not 1 <= stride <= chip:
            raise ConfigError(f"--stride must be between 1 and the chip size {chip}, got {stride}")
        self.chip, self.stride, self.num_classes = chip, stride, num_classes
        self.output_grid = grid.coarsened(stride)
        self.rows = chip_starts(grid.height, chip, stride)
        self.cols = chip_starts(grid.width, chip, stride)
        self.rows_per_step = max(1, (band_rows - chip) // stride + 1)

    context_steps = 0  # steps are independent: a run can restart at any step

    @property
    def total_windows(self) -> int:
        return len(self.rows) * len(self.cols)

    def steps(self) -> list[Step]:
        width = self.cols[-1] + self.chip - self.cols[0]
        out = []
        for i, first in enumerate(range(0, len(self.rows), self.rows_per_step)):
            last = min(first + self.rows_per_step, len(self.rows)) - 1
            row = self.rows[first]
            out.append(Step(i, row, self.rows[last] + self.chip - row, self.cols[0], width))
        return out

    def _out_rows(self, step: Step) -> range:
        first = step.index * self.rows_per_step
        return range(first, min(first + self.rows_per_step, len(self.rows)))

    def windows(self, step: Step, valid: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Window offsets inside the band, and which of them hold any valid pixel in their cell."""
        s, out_rows = self.stride, self._out_rows(step)
        k, n = len(out_rows), len(self.cols)
        top = out_rows[0] * s - step.row
        left = -step.col
        cells = np.zeros((k * s, n * s), dtype=bool)
        part = valid[top : top + k * s, left : left + n * s]
        cells[: part.shape[0], : part.shape[1]] = part
        active = cells.reshape(k, s, n, s).any(axis=(1, 3)).ravel()
        offsets = [(self.rows[i] - step.row, c - step.col) for i in out_rows for c in self.cols]
        return offsets, active

    def output_valid(self, step: Step, valid: np.ndarray) -> None:
        """The part of a band's validity that `accumulate` needs: none, `active` says it all."""
        return None

    def accumulate(self, step: Step, probs: np.ndarray, active: np.ndarray, valid: None) -> list[OutputRows]:
        """probs: (active windows, classes) -> the step's finished output rows."""
        out_rows = self._out_rows(step)
        k, n = len(out_rows), len(self.cols)
        full = np.zeros((k * n, self.num_classes), dtype=np.float32)
        full[active] = probs
        return [OutputRows(out_rows[0], full.reshape(k, n, -1).transpose(2, 0, 1), active.reshape(k, n))]


class BlendLayout:
    """Segmentation: overlapping tiles blended with cosine weights in a rolling band of tile rows.

    Tiles start `margin` pixels before the scene and end at least `margin` past it, and the
    `margin` pixels at every tile edge get zero weight, so each output pixel comes only from tile
    parts where the model saw its full receptive field (padding beyond the scene is the same fill
    as in a single window over the whole scene).
    """

    def __init__(self, grid: Grid, tile: int, overlap: int, margin: int, num_classes: int):
        if not 2 * margin < overlap < tile:
            raise ConfigError(f"tile overlap must be between 2 x margin ({2 * margin}) and the tile size "
                              f"({tile}), exclusive; got overlap {overlap}")
        self.grid, self.tile, self.margin, self.num_classes = grid, tile, margin, num_classes
        self.stride = tile - overlap
        self.output_grid = grid
        self.rows = axis_starts(grid.height, tile, self.stride, -margin, margin)
        self.cols = axis_starts(grid.width, tile, self.stride, -margin, margin)
        self.weights = blend_weights(tile, overlap, margin)
        self.band_width = self.cols[-1] + tile - self.cols[0]
        self.acc = np.zeros((num_classes, tile, self.band_width), dtype=np.float32)
        self.wsum = np.zeros((tile, self.band_width), dtype=np.float32)

    @property
    def context_steps(self) -> int:
        """Steps before step k whose tiles reach below the rows finished at step k - 1.

        Restarting at step k means replaying these (without writing) to rebuild the blend band.
        """
        return math.ceil(self.tile / self.stride) - 1

    @property
    def total_windows(self) -> int:
        return len(self.rows) * len(self.cols)

    def _done_rows(self, step: Step) -> int:
        """Rows of the band that no later tile row changes."""
        return self.tile if step.index == len(self.rows) - 1 else self.stride

    def steps(self) -> list[Step]:
        return [Step(i, r, self.tile, self.cols[0], self.band_width) for i, r in enumerate(self.rows)]

    def windows(self, step: Step, valid: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
        m, t = self.margin, self.tile
        offsets = [(0, c - step.col) for c in self.cols]
        active = np.array([valid[m : t - m, x + m : x + t - m].any() for _, x in offsets], dtype=bool)
        return offsets, active

    def output_valid(self, step: Step, valid: np.ndarray) -> np.ndarray:
        """The part of a band's validity that `accumulate` needs: its finished rows, inside the scene."""
        left = -step.col
        return valid[: self._done_rows(step), left : left + self.grid.width].copy()

    def accumulate(self, step: Step, probs: np.ndarray, active: np.ndarray, valid: np.ndarray) -> list[OutputRows]:
        """probs: (active tiles, classes, tile, tile), valid: from `output_valid` -> the rows no later tile row
        can change."""
        t = self.tile
        for p, j in zip(probs, np.flatnonzero(active)):
            x = self.cols[j] - step.col
            self.acc[:, :, x : x + t] += p * self.weights
            self.wsum[:, x : x + t] += self.weights
        done = self._done_rows(step)
        left = -step.col
        wsum = self.wsum[:done, left : left + self.grid.width]
        ok = (wsum > 0) & valid
        probs_out = self.acc[:, :done, left : left + self.grid.width] / np.maximum(wsum, 1e-12)
        rows = OutputRows(step.row, probs_out, ok)
        first_inside = max(0, -step.row)
        if first_inside:
            rows = OutputRows(0, probs_out[:, first_inside:], ok[first_inside:])
        self.acc[:, : t - done] = self.acc[:, done:]
        self.acc[:, t - done :] = 0
        self.wsum[: t - done] = self.wsum[done:]
        self.wsum[t - done :] = 0
        return [rows] if rows.valid.shape[0] > 0 else []
