"""The window loop and where it runs.

`predict_strips` turns strips of the scene into model outputs: read a strip (the next ones while the model
runs), batch its active windows, fill their padding and nodata (a chip from its own pixels,
`fill_window`; segmentation tiles with the band means, `fill_invalid`), predict. A runner runs that loop for
`predict_scene`: `LocalRunner` in this process, `geoclassify.inference.distributed.DaskRunner` in Dask tasks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Generator, Iterator, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from geoclassify.inference.config import LoopOptions
from geoclassify.inference.dense_chips import cells_for, strip_probabilities, tile_pixels
from geoclassify.inference.layouts import ChipLayout, Layout, Strip
from geoclassify.inference.predictor import Predictor
from geoclassify.io.raster import Scene
from geoclassify.io.reader import StripReader
from geoclassify.models.card import ModelCard


def batched_windows(data: np.ndarray, offsets: list[tuple[int, int]], size: int,
                    batch: int) -> Iterator[np.ndarray]:
    """Windows of `size` x `size` at `offsets` (row, col) of `data` (bands, rows, cols), `batch` at a time:
    arrays of (windows, bands, size, size)."""
    view = sliding_window_view(data, (size, size), axis=(1, 2))  # (bands, rows, cols, size, size)
    for i in range(0, len(offsets), batch):
        part = offsets[i : i + batch]
        yield np.stack([view[:, r, c] for r, c in part])


def fill_invalid(data: np.ndarray, valid: np.ndarray, card: ModelCard) -> None:
    """Set nodata and padded pixels of `data` (bands, rows, cols) to the band means (rounded for integer bands):
    the padding of segmentation tiles. Their padded pixels are never output, and a fill that does not depend
    on where a tile lies keeps a tiled run equal to one window over the whole scene."""
    if valid.all():
        return
    for i, mean in enumerate(card.mean):
        data[i][~valid] = np.asarray(round(mean) if data.dtype.kind in "iu" else mean).astype(data.dtype)


def fill_window(window: np.ndarray, valid: np.ndarray, mean: tuple[float, ...]) -> None:
    """Fill the invalid pixels of one chip (bands, h, w) in place: the padding rule of chip classifiers.

    A window that reaches past the scene or over nodata is completed from its own real pixels: invalid pixels
    inside the bounding box of its valid pixels take the nearest valid pixel's value, then the box is
    mirrored (`np.pad(mode="symmetric")`, repeated while the box is narrower than the padding) out to the
    window's edges. Mirroring kept the default model's edge accuracy highest of the paddings measured
    (constant band means, the chip's own mean, replicated edge, reflect, wrap):
    benchmarks/results/edge_padding.md. A window with no valid pixel gets the band means `mean` (such
    windows are not sent to the model).

    Examples:
        >>> w = np.array([[[1, 2, 0, 0]]]); fill_window(w, np.array([[True, True, False, False]]), (9.0,)); w
        array([[[1, 2, 2, 1]]])
        >>> w = np.array([[[5, 0, 7]]]); fill_window(w, np.array([[True, False, True]]), (9.0,)); w[0, 0, 1] in (5, 7)
        True
    """
    if valid.all():
        return
    if not valid.any():
        for i, m in enumerate(mean):
            window[i] = np.asarray(round(m) if window.dtype.kind in "iu" else m).astype(window.dtype)
        return
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box, box_valid = window[:, r0:r1, c0:c1], valid[r0:r1, c0:c1]
    if not box_valid.all():
        from scipy.ndimage import distance_transform_edt  # imported when a window has invalid pixels

        near = distance_transform_edt(~box_valid, return_distances=False, return_indices=True)
        box = box[:, near[0], near[1]]
    h, w = valid.shape
    window[:] = np.pad(box, ((0, 0), (r0, h - r1), (c0, w - c1)), mode="symmetric")


def fill_windows(batch: np.ndarray, valid: np.ndarray, offsets: list[tuple[int, int]],
                 mean: tuple[float, ...]) -> None:
    """Fill the invalid pixels of each window of `batch` (windows, bands, size, size) in place with
    `fill_window`; `offsets` (row, col) place the windows in `valid` (rows, cols), the strip's validity."""
    size = batch.shape[-1]
    for window, (r, c) in zip(batch, offsets):
        v = valid[r : r + size, c : c + size]
        if not v.all():
            fill_window(window, v, mean)


@dataclass
class StripOutput:
    """The model's output for one strip, as the writer needs it: small enough to send between processes."""

    probs: np.ndarray  # (active windows, classes) or (active windows, classes, h, w)
    active: np.ndarray  # (windows,) bool: which windows hold valid pixels and went through the model
    valid: np.ndarray | None  # the layout's `output_valid` part of the strip's validity
    windows: int
    skipped: int


StripOutputs = Generator[tuple[Strip, StripOutput], None, None]  # closed early when a run fails
BatchCallback = Callable[[Strip, int], None]  # (strip, windows) after each batch the model ran


def predict_strips(reader: StripReader, layout: Layout, strips: list[Strip], predictor: Predictor,
                   loop: LoopOptions, on_batch: BatchCallback | None = None) -> Iterator[tuple[Strip, StripOutput]]:
    """The window loop: read strips (the next `loop.prefetch` while the model runs), batch their active windows,
    fill their padding and nodata, predict. `on_batch(strip, windows)` is told of each batch predicted (a strip
    can hold all the windows of a scene)."""
    card = predictor.card
    size = layout.chip if isinstance(layout, ChipLayout) else layout.tile
    cells = cells_for(layout, predictor, loop.fully_convolutional) if isinstance(layout, ChipLayout) else None
    m = cells.context if cells is not None else 0  # the scene around a strip that its chips' cells see

    def submit(strip: Strip):
        return reader.submit_strip(strip.row - m, strip.height + 2 * m, strip.col - m, strip.width + 2 * m)
    pending: deque = deque(submit(strip) for strip in strips[: loop.prefetch])
    for i, strip in enumerate(strips):
        data, valid = reader.collect(pending.popleft())
        if i + loop.prefetch < len(strips):
            pending.append(submit(strips[i + loop.prefetch]))
        offsets, active = layout.windows(strip, valid[m : m + strip.height, m : m + strip.width])
        if cells is not None:
            assert isinstance(layout, ChipLayout)
            fill_window(data, valid, card.mean)  # the whole strip at once: nearest valid pixel, mirrored edges
            probs_arr = strip_probabilities(data, active, layout, strip, predictor, cells,
                                            tile_pixels(loop.pixels_per_call))
            if on_batch is not None:
                on_batch(strip, len(probs_arr))
            yield strip, StripOutput(probs_arr, active, None, len(offsets), len(offsets) - len(probs_arr))
            continue
        fill_chips = isinstance(layout, ChipLayout) and not valid.all()  # chips filled one by one
        if not isinstance(layout, ChipLayout):
            fill_invalid(data, valid, card)
        chosen = [o for o, a in zip(offsets, active) if a]
        probs = []
        for j, batch in enumerate(batched_windows(data, chosen, size, loop.batch_size)):
            if fill_chips:
                fill_windows(batch, valid, chosen[j * loop.batch_size : (j + 1) * loop.batch_size], card.mean)
            probs.append(predictor.predict(batch))
            if on_batch is not None:
                on_batch(strip, len(batch))
        probs_arr = np.concatenate(probs) if probs else np.zeros((0, card.num_classes), np.float32)
        yield strip, StripOutput(probs_arr, active, layout.output_valid(strip, valid), len(offsets),
                                 len(offsets) - len(chosen))


class Runner(Protocol):
    """Where the window loop runs: yields (strip, output) for `strips`, in their order. Runners that see the
    model's batches report them to `on_batch`; the others report nothing before a strip's output."""

    card: ModelCard
    identity: dict  # what identifies the model, for the resume manifest
    pixels_per_call: int  # the budget of scene pixels per model call where no batch size is given

    def run_strips(self, scene: Scene, layout: Layout, strips: list[Strip], loop: LoopOptions,
                   on_batch: BatchCallback | None = None) -> StripOutputs:
        """Run the window loop over `strips` of `scene` and yield each strip with its output, in strip order.

        Raises:
            InputError: the scene cannot be read (damaged or truncated).
            ClusterError: a runner on a cluster lost it.
        """
        ...


class LocalRunner:
    """Runs the window loop in this process, reading with a thread pool."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.card = predictor.card
        self.identity = predictor.source or {"card": predictor.card.to_json()}
        self.pixels_per_call = predictor.pixels_per_call

    def run_strips(self, scene: Scene, layout: Layout, strips: list[Strip], loop: LoopOptions,
                   on_batch: BatchCallback | None = None) -> StripOutputs:
        """Run the window loop here, with `loop.read_workers` read threads; each batch is reported to `on_batch`.

        Raises:
            InputError: the scene cannot be read (damaged or truncated).
        """
        with StripReader(scene, loop.read_workers) as reader:
            yield from predict_strips(reader, layout, strips, self.predictor, loop, on_batch)
