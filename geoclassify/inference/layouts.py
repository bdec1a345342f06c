"""How windows are laid over a scene (layouts) and how their predictions become output rows (assemblers).

A layout is a pure plan, all a worker needs: it cuts the scene into strips (runs of rows read at a time)
and lists the model windows in each strip and which of them hold valid pixels. Its assembler, made only
where the output is written, turns the windows' probabilities into finished output rows; the blend
assembler holds one strip of tile rows: memory depends on the scene width, the tile size and the batch,
not the scene size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geoclassify.errors import ConfigError
from geoclassify.geo.grid import Grid
from geoclassify.geo.tiling import axis_starts, blend_weights, chip_starts

if TYPE_CHECKING:
    from geoclassify.inference.config import PredictConfig
    from geoclassify.models.card import ModelCard


MIN_REAL_SHARE = 0.25
"""A chip classifier's chip gets a class only when at least this share of its pixels is real (inside the scene
and not nodata); otherwise its output pixel is nodata (255), counted as skipped. The rest of the chip is
padding, filled by mirroring the chip's real pixels (`geoclassify.inference.runners.fill_window`). Chosen by
edge accuracy on the default model's 1,375 held-out chips (benchmarks/results/edge_padding.md): mirrored,
chips with 25 % real pixels at a side or a corner are right 91 % and 95 % of the time (99.7 % whole); at 20 %
a side chip drops under 90 %, at 10 % to 85 %, and a chip of one real pixel is right 45 % of the time. At any
stride, the chips of the scene's first row and column of output pixels hold at least a quarter of real
pixels (they start at most half a chip before the scene)."""


@dataclass(frozen=True)
class Strip:
    """One strip of the scene: read rows [row, row + height) and columns [col, col + width) (may reach past the
    scene's edges: boundless reads fill those pixels as nodata)."""

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
    """Chip classification: one output pixel per `stride` x `stride` cell, from the chip centred on it.

    A chip is active (goes through the model) when its cell holds a valid pixel and at least `min_share` of
    the chip's pixels are valid (`MIN_REAL_SHARE`); the output pixels of the other cells are nodata.
    """

    def __init__(self, grid: Grid, chip: int, stride: int, num_classes: int, strip_rows: int = 512,
                 min_share: float = MIN_REAL_SHARE):
        if not 1 <= stride <= chip:
            raise ConfigError(f"--stride must be between 1 and the chip size {chip}, got {stride}")
        self.chip, self.stride, self.num_classes = chip, stride, num_classes
        self.min_pixels = max(1, math.ceil(min_share * chip * chip - 1e-9))
        self.output_grid = grid.coarsened(stride)
        self.rows = chip_starts(grid.height, chip, stride)
        self.cols = chip_starts(grid.width, chip, stride)
        self.rows_per_strip = max(1, (strip_rows - chip) // stride + 1)

    context_strips = 0  # strips are independent: a run can restart at any strip

    @property
    def window(self) -> int:
        """The side of a window (a chip) in pixels."""
        return self.chip

    @property
    def total_windows(self) -> int:
        """Chips over the whole scene (one per output pixel)."""
        return len(self.rows) * len(self.cols)

    def strips(self) -> list[Strip]:
        """The scene's strips, top to bottom: the chips of `rows_per_strip` output rows each, full width."""
        width = self.cols[-1] + self.chip - self.cols[0]
        out = []
        for i, first in enumerate(range(0, len(self.rows), self.rows_per_strip)):
            last = min(first + self.rows_per_strip, len(self.rows)) - 1
            row = self.rows[first]
            out.append(Strip(i, row, self.rows[last] + self.chip - row, self.cols[0], width))
        return out

    def out_rows(self, strip: Strip) -> range:
        """The rows of output pixels of a strip."""
        first = strip.index * self.rows_per_strip
        return range(first, min(first + self.rows_per_strip, len(self.rows)))

    def windows(self, strip: Strip, valid: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Window offsets inside the strip, and which of them are active: a valid pixel in their cell and at
        least `min_pixels` valid pixels in the chip."""
        s, out_rows = self.stride, self.out_rows(strip)
        k, n = len(out_rows), len(self.cols)
        top = out_rows[0] * s - strip.row
        left = -strip.col
        cells = np.zeros((k * s, n * s), dtype=bool)
        part = valid[top : top + k * s, left : left + n * s]
        cells[: part.shape[0], : part.shape[1]] = part
        active = cells.reshape(k, s, n, s).any(axis=(1, 3)).ravel()
        if not valid.all():
            active &= self.real_pixels(strip, valid).ravel() >= self.min_pixels
        offsets = [(self.rows[i] - strip.row, c - strip.col) for i in out_rows for c in self.cols]
        return offsets, active

    def real_pixels(self, strip: Strip, valid: np.ndarray) -> np.ndarray:
        """(output rows of the strip, output columns) int: the valid pixels in each chip of the strip.

        Args:
            strip: a strip of this layout.
            valid: (strip height, strip width) bool, the strip's valid pixels.
        """
        cols = np.asarray(self.cols) - strip.col
        out_rows = self.out_rows(strip)
        counts = np.empty((len(out_rows), len(cols)), dtype=np.int64)
        line = np.zeros(valid.shape[1] + 1, dtype=np.int64)
        for k, i in enumerate(out_rows):
            r = self.rows[i] - strip.row
            np.cumsum(valid[r : r + self.chip].sum(axis=0), out=line[1:])
            counts[k] = line[cols + self.chip] - line[cols]
        return counts

    def output_valid(self, strip: Strip, valid: np.ndarray) -> None:
        """The part of a strip's validity that the assembler needs: none, `active` says it all."""
        return None

    def assembler(self) -> ChipAssembler:
        """A new assembler for this layout (made where the output is written)."""
        return ChipAssembler(self)


class BlendLayout:
    """Segmentation: overlapping tiles, blended by a BlendAssembler with cosine weights.

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
        self.overlap = overlap
        self.strip_width = self.cols[-1] + tile - self.cols[0]

    @property
    def window(self) -> int:
        """The side of a window (a tile) in pixels."""
        return self.tile

    @property
    def context_strips(self) -> int:
        """Strips before strip k whose tiles reach below the rows finished at strip k - 1.

        Restarting at strip k means replaying these (without writing) to rebuild the blend strip.
        """
        return math.ceil(self.tile / self.stride) - 1

    @property
    def total_windows(self) -> int:
        """Tiles over the whole scene."""
        return len(self.rows) * len(self.cols)

    def done_rows(self, strip: Strip) -> int:
        """Rows of the strip that no later tile row changes."""
        return self.tile if strip.index == len(self.rows) - 1 else self.stride

    def strips(self) -> list[Strip]:
        """The scene's strips, top to bottom: one row of tiles each, `tile` rows high, full width with margins."""
        return [Strip(i, r, self.tile, self.cols[0], self.strip_width) for i, r in enumerate(self.rows)]

    def windows(self, strip: Strip, valid: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Tile offsets inside the strip (one row of tiles), and which tiles hold any valid pixel outside their
        zero-weight margins.

        Args:
            strip: a strip of this layout.
            valid: (strip height, strip width) bool, the strip's valid pixels.
        """
        m, t = self.margin, self.tile
        offsets = [(0, c - strip.col) for c in self.cols]
        active = np.array([valid[m : t - m, x + m : x + t - m].any() for _, x in offsets], dtype=bool)
        return offsets, active

    def output_valid(self, strip: Strip, valid: np.ndarray) -> np.ndarray:
        """The part of a strip's validity that the assembler needs: its finished rows, inside the scene."""
        left = -strip.col
        return valid[: self.done_rows(strip), left : left + self.grid.width].copy()

    def assembler(self) -> BlendAssembler:
        """A new assembler for this layout, holding the blend accumulator (made where the output is written)."""
        return BlendAssembler(self)


class ChipAssembler:
    """Chip probabilities -> output rows: one row of output pixels per chip row, nothing held between strips."""

    def __init__(self, layout: ChipLayout):
        self.layout = layout

    def add(self, strip: Strip, probs: np.ndarray, active: np.ndarray, valid: np.ndarray | None) -> list[OutputRows]:
        """probs: (active windows, classes) -> the strip's finished output rows."""
        out_rows = self.layout.out_rows(strip)
        k, n = len(out_rows), len(self.layout.cols)
        full = np.zeros((k * n, self.layout.num_classes), dtype=np.float32)
        full[active] = probs
        return [OutputRows(out_rows[0], full.reshape(k, n, -1).transpose(2, 0, 1), active.reshape(k, n))]


class BlendAssembler:
    """Blends the tiles of consecutive strips with cosine weights in a rolling strip of tile rows, and gives
    back the rows that no later tile row changes."""

    def __init__(self, layout: BlendLayout):
        self.layout = layout
        self.weights = blend_weights(layout.tile, layout.overlap, layout.margin)
        self.acc = np.zeros((layout.num_classes, layout.tile, layout.strip_width), dtype=np.float32)
        self.wsum = np.zeros((layout.tile, layout.strip_width), dtype=np.float32)

    def add(self, strip: Strip, probs: np.ndarray, active: np.ndarray, valid: np.ndarray | None) -> list[OutputRows]:
        """probs: (active tiles, classes, tile, tile), valid: from `output_valid` -> the rows no later tile row
        can change."""
        if valid is None:
            raise ValueError("a blend strip needs the validity of the rows it finishes (BlendLayout.output_valid)")
        layout = self.layout
        t, width = layout.tile, layout.grid.width
        for p, j in zip(probs, np.flatnonzero(active)):
            x = layout.cols[j] - strip.col
            self.acc[:, :, x : x + t] += p * self.weights
            self.wsum[:, x : x + t] += self.weights
        done = layout.done_rows(strip)
        left = -strip.col
        wsum = self.wsum[:done, left : left + width]
        ok = (wsum > 0) & valid
        probs_out = self.acc[:, :done, left : left + width] / np.maximum(wsum, 1e-12)
        rows = OutputRows(strip.row, probs_out, ok)
        first_inside = max(0, -strip.row)
        if first_inside:
            rows = OutputRows(0, probs_out[:, first_inside:], ok[first_inside:])
        self.acc[:, : t - done] = self.acc[:, done:]
        self.acc[:, t - done :] = 0
        self.wsum[: t - done] = self.wsum[done:]
        self.wsum[t - done :] = 0
        return [rows] if rows.valid.shape[0] > 0 else []


Layout = ChipLayout | BlendLayout


def make_layout(grid: Grid, card: ModelCard, config: PredictConfig) -> Layout:
    """The layout of a model's windows over a working grid: chips for a classifier, blended tiles for segmentation.

    Raises:
        ConfigError: an option that does not apply to the model (--tile-size for a chip classifier, --stride or
            --fully-convolutional for segmentation), a stride larger than the chip, an overlap outside
            (2 x margin, tile size).
    """
    if card.task == "classification":
        if config.tile_size and config.tile_size != card.tile_size:
            raise ConfigError(f"this chip classifier takes {card.tile_size}-pixel chips; "
                              "--tile-size cannot change that")
        return ChipLayout(grid, card.tile_size, config.stride or card.tile_size, card.num_classes)
    if config.stride:
        raise ConfigError("--stride applies to chip classifiers; for segmentation use --tile-size and --overlap")
    if config.fully_convolutional:
        raise ConfigError("--fully-convolutional applies to chip classifiers; a segmentation model is fully "
                          "convolutional already")
    tile = config.tile_size or card.tile_size
    overlap = config.overlap if config.overlap is not None else max(tile // 4, 2 * card.receptive_margin + 2)
    return BlendLayout(grid, tile, overlap, card.receptive_margin, card.num_classes)
