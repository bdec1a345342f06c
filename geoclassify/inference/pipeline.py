"""The predict pipeline: read row bands in parallel, batch windows, run the model, write rows."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import rasterio
from numpy.lib.stride_tricks import sliding_window_view

from geoclassify.errors import ConfigError
from geoclassify.inference.layouts import BlendLayout, ChipLayout, OutputRows
from geoclassify.inference.predictor import Predictor
from geoclassify.io.reader import BandReader
from geoclassify.io.scene import Scene, open_scene
from geoclassify.io.writer import CLASS_NODATA, RasterWriter, check_output_path
from geoclassify.models.card import ModelCard
from geoclassify.progress import progress_bar

log = logging.getLogger("geoclassify")

GDAL_CACHE_MB = 64  # bands are block-aligned, so blocks are rarely re-read: a small cache bounds memory


@dataclass(frozen=True)
class PredictConfig:
    """Options of one prediction (CLI flags map onto these one to one)."""

    bands: tuple[int, ...] | None = None
    stride: int | None = None
    tile_size: int | None = None
    overlap: int | None = None
    batch_size: int = 64
    resample: bool = True
    probabilities: str | None = None
    probabilities_dtype: str = "uint8"
    cog: bool = False
    overwrite: bool = False
    read_workers: int = 2
    prefetch: int = 1
    progress: bool = True


@dataclass
class PredictResult:
    output: str
    width: int
    height: int
    windows: int
    skipped: int
    seconds: float
    class_counts: dict[str, int] = field(default_factory=dict)


def make_layout(scene: Scene, card: ModelCard, config: PredictConfig) -> ChipLayout | BlendLayout:
    if config.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {config.batch_size}")
    if card.task == "classification":
        if config.tile_size and config.tile_size != card.tile_size:
            raise ConfigError(f"this chip classifier takes {card.tile_size}-pixel chips; --tile-size cannot change that")
        return ChipLayout(scene.grid, card.tile_size, config.stride or card.tile_size, card.num_classes)
    if config.stride:
        raise ConfigError("--stride applies to chip classifiers; for segmentation use --tile-size and --overlap")
    tile = config.tile_size or card.tile_size
    overlap = config.overlap if config.overlap is not None else max(tile // 4, 2 * card.receptive_margin + 2)
    return BlendLayout(scene.grid, tile, overlap, card.receptive_margin, card.num_classes)


def batched_windows(data: np.ndarray, offsets: list[tuple[int, int]], size: int, batch: int):
    """Yield (batch array of windows) from the band, `batch` windows at a time."""
    view = sliding_window_view(data, (size, size), axis=(1, 2))  # (bands, rows, cols, size, size)
    for i in range(0, len(offsets), batch):
        part = offsets[i : i + batch]
        yield np.stack([view[:, r, c] for r, c in part])


def fill_invalid(data: np.ndarray, valid: np.ndarray, card: ModelCard) -> None:
    """Set nodata and padded pixels to the band means, so the model sees a neutral value."""
    if valid.all():
        return
    for i, mean in enumerate(card.mean):
        data[i][~valid] = np.asarray(round(mean) if data.dtype.kind in "iu" else mean).astype(data.dtype)


class OutputSink:
    """Writes finished rows: classes (uint8, nodata 255) and optional probabilities."""

    def __init__(self, output: str, layout, card: ModelCard, config: PredictConfig):
        grid = layout.output_grid
        self.counts = np.zeros(card.num_classes, dtype=np.int64)
        self.classes = RasterWriter(output, grid, 1, "uint8", nodata=CLASS_NODATA, class_names=list(card.class_names),
                                    colors=list(card.class_colors), cog=config.cog, overwrite=config.overwrite)
        self.probs = None
        self.prob_dtype = config.probabilities_dtype
        if config.probabilities:
            if self.prob_dtype not in ("uint8", "float32"):
                raise ConfigError(f"--probabilities-dtype must be uint8 or float32, not {self.prob_dtype!r}")
            nodata = float("nan") if self.prob_dtype == "float32" else None
            try:
                self.probs = RasterWriter(config.probabilities, grid, card.num_classes, self.prob_dtype, nodata=nodata,
                                          band_names=list(card.class_names), cog=config.cog, overwrite=config.overwrite)
            except BaseException:
                self.classes.abort()
                raise

    def write(self, rows: OutputRows) -> None:
        classes = np.argmax(rows.probs, axis=0).astype(np.uint8)
        classes[~rows.valid] = CLASS_NODATA
        self.counts += np.bincount(classes[rows.valid], minlength=len(self.counts))
        self.classes.write(classes, rows.row)
        if self.probs is not None:
            if self.prob_dtype == "uint8":
                scaled = np.round(rows.probs * 255).astype(np.uint8)
                self.probs.write(scaled, rows.row, mask=rows.valid)
            else:
                p = rows.probs.astype(np.float32, copy=True)
                p[:, ~rows.valid] = np.nan
                self.probs.write(p, rows.row)

    def commit(self) -> None:
        if self.probs is not None:
            self.probs.commit()
        self.classes.commit()

    def abort(self) -> None:
        for w in (self.classes, self.probs):
            if w is not None:
                w.abort()


def predict_scene(scene_path: str, output: str, predictor: Predictor, config: PredictConfig = PredictConfig(),
                  on_progress: Callable[[int], None] | None = None) -> PredictResult:
    """Classify `scene_path` into `output`, streaming window bands; nothing is left at `output` on failure."""
    card = predictor.card
    check_output_path(output, config.overwrite)
    if config.probabilities:
        check_output_path(config.probabilities, config.overwrite, "probabilities output")
    scene = open_scene(scene_path, card, config.bands, config.resample)
    layout = make_layout(scene, card, config)
    size = layout.chip if isinstance(layout, ChipLayout) else layout.tile
    start = time.perf_counter()
    windows = skipped = 0
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), BandReader(scene, config.read_workers) as reader:
        sink = OutputSink(output, layout, card, config)
        bar = progress_bar(layout.total_windows, "predict", "win", disable=not config.progress)
        try:
            steps = layout.steps()
            pending: deque = deque()
            for step in steps[: config.prefetch]:
                pending.append(reader.submit_band(step.row, step.height, step.col, step.width))
            for i, step in enumerate(steps):
                data, valid = reader.collect(pending.popleft())
                if i + config.prefetch < len(steps):
                    nxt = steps[i + config.prefetch]
                    pending.append(reader.submit_band(nxt.row, nxt.height, nxt.col, nxt.width))
                offsets, active = layout.windows(step, valid)
                fill_invalid(data, valid, card)
                chosen = [o for o, a in zip(offsets, active) if a]
                probs = []
                for batch in batched_windows(data, chosen, size, config.batch_size):
                    probs.append(predictor.predict(batch))
                    bar.update(len(batch))  # per batch: a step can hold all the windows of a small scene
                probs_arr = np.concatenate(probs) if probs else np.zeros((0, card.num_classes), np.float32)
                for rows in layout.accumulate(step, probs_arr, active, valid):
                    sink.write(rows)
                windows += len(offsets)
                skipped += len(offsets) - len(chosen)
                bar.update(len(offsets) - len(chosen))
                if on_progress is not None:
                    on_progress(windows)
            sink.commit()
        except BaseException:
            sink.abort()
            raise
        finally:
            bar.close()
    grid = layout.output_grid
    counts = {name: int(n) for name, n in zip(card.class_names, sink.counts)}
    return PredictResult(str(output), grid.width, grid.height, windows, skipped, time.perf_counter() - start, counts)
