"""The window loop and where it runs.

`predict_strips` turns strips of the scene into model outputs: read a strip (the next ones while the model
runs), fill its nodata with the band means, batch its valid windows, predict. A runner runs that loop for
`predict_scene`: `LocalRunner` in this process, `geoclassify.inference.distributed.DaskRunner` in Dask tasks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Generator, Iterator, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from geoclassify.inference.config import LoopOptions
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
    """Set nodata and padded pixels of `data` (bands, rows, cols) to the band means, so the model sees a neutral
    value (rounded for integer bands)."""
    if valid.all():
        return
    for i, mean in enumerate(card.mean):
        data[i][~valid] = np.asarray(round(mean) if data.dtype.kind in "iu" else mean).astype(data.dtype)


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
    """The window loop: read strips (the next `loop.prefetch` while the model runs), batch their valid windows,
    predict. `on_batch(strip, windows)` is told of each batch predicted (a strip can hold all the windows of a
    scene)."""
    card = predictor.card
    size = layout.chip if isinstance(layout, ChipLayout) else layout.tile
    pending: deque = deque()
    for strip in strips[: loop.prefetch]:
        pending.append(reader.submit_strip(strip.row, strip.height, strip.col, strip.width))
    for i, strip in enumerate(strips):
        data, valid = reader.collect(pending.popleft())
        if i + loop.prefetch < len(strips):
            nxt = strips[i + loop.prefetch]
            pending.append(reader.submit_strip(nxt.row, nxt.height, nxt.col, nxt.width))
        offsets, active = layout.windows(strip, valid)
        fill_invalid(data, valid, card)
        chosen = [o for o, a in zip(offsets, active) if a]
        probs = []
        for batch in batched_windows(data, chosen, size, loop.batch_size):
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

    def run_strips(self, scene: Scene, layout: Layout, strips: list[Strip], loop: LoopOptions,
                   on_batch: BatchCallback | None = None) -> StripOutputs:
        """Run the window loop here, with `loop.read_workers` read threads; each batch is reported to `on_batch`.

        Raises:
            InputError: the scene cannot be read (damaged or truncated).
        """
        with StripReader(scene, loop.read_workers) as reader:
            yield from predict_strips(reader, layout, strips, self.predictor, loop, on_batch)
