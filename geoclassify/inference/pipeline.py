"""The predict pipeline: read row bands in parallel, batch windows, run the model, write rows.

The window loop (`predict_steps`) turns row bands (steps) into model outputs; it runs in this process
(`LocalRunner`) or inside Dask tasks (`geoclassify.inference.distributed`). Either way one writer in
this process blends and writes the outputs in order (`predict_scene`), with checkpoints for `--resume`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from contextlib import closing
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from geoclassify.errors import ConfigError, GeoclassifyError, InterruptedRunError
from geoclassify.inference.layouts import BlendLayout, ChipLayout, OutputRows, Step
from geoclassify.inference.predictor import Predictor
from geoclassify.inference.resume import PartialRun, Progress, file_identity, partial_path
from geoclassify.io.gdal_cache import bounded_gdal_cache
from geoclassify.io.reader import BandReader
from geoclassify.inference.scene import open_scene
from geoclassify.io.raster import Scene
from geoclassify.io.writer import CLASS_NODATA, RasterWriter, check_output_path
from geoclassify.models.card import ModelCard
from geoclassify.progress import progress_bar

log = logging.getLogger("geoclassify")


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
    resume: bool = False
    checkpoint_seconds: float = 10.0  # how often the partial output is saved for --resume


@dataclass
class PredictResult:
    output: str
    width: int
    height: int
    windows: int
    skipped: int
    seconds: float
    class_counts: dict[str, int] = field(default_factory=dict)
    resumed_windows: int = 0  # windows done by an earlier, interrupted run
    scene_width: int = 0  # the input scene, in its own pixels
    scene_height: int = 0


def log_result(result: PredictResult) -> None:
    counts = ", ".join(f"{name} {n}" for name, n in result.class_counts.items())
    resumed = f", {result.resumed_windows} of them before --resume" if result.resumed_windows else ""
    log.info("wrote %s (%dx%d pixels; %d windows%s, %d skipped as nodata; %.1f s); pixels per class: %s",
             result.output, result.width, result.height, result.windows, resumed, result.skipped, result.seconds,
             counts)


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


@dataclass
class StepOutput:
    """The model's output for one step, as the writer needs it: small enough to send between processes."""

    probs: np.ndarray  # (active windows, classes) or (active windows, classes, h, w)
    active: np.ndarray  # (windows,) bool: which windows hold valid pixels and went through the model
    valid: np.ndarray | None  # the layout's `output_valid` part of the band's validity
    windows: int
    skipped: int


BatchCallback = Callable[[Step, int], None]  # (step, windows) after each batch the model ran


def predict_steps(reader: BandReader, layout: ChipLayout | BlendLayout, steps: list[Step], predictor: Predictor,
                  config: PredictConfig, on_batch: BatchCallback | None = None
                  ) -> Iterator[tuple[Step, StepOutput]]:
    """The window loop: read bands (the next ones while the model runs), batch their valid windows, predict.
    `on_batch(step, windows)` is told of each batch predicted (a step can hold all the windows of a scene)."""
    card = predictor.card
    size = layout.chip if isinstance(layout, ChipLayout) else layout.tile
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
            if on_batch is not None:
                on_batch(step, len(batch))
        probs_arr = np.concatenate(probs) if probs else np.zeros((0, card.num_classes), np.float32)
        yield step, StepOutput(probs_arr, active, layout.output_valid(step, valid), len(offsets),
                               len(offsets) - len(chosen))


class StepRunner(Protocol):
    """Where the window loop runs: yields (step, output) for `steps`, in their order; runners that see the
    model's batches report them to `on_batch`, the others report nothing before a step's output."""

    card: ModelCard
    identity: dict  # what identifies the model, for the resume manifest

    def run_steps(self, scene: Scene, layout: ChipLayout | BlendLayout, steps: list[Step], config: PredictConfig,
                  on_batch: BatchCallback | None = None) -> Iterator[tuple[Step, StepOutput]]: ...


class LocalRunner:
    """Runs the window loop in this process, reading with a thread pool."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.card = predictor.card
        self.identity = getattr(predictor, "source", None) or {"card": predictor.card.to_json()}

    def run_steps(self, scene: Scene, layout: ChipLayout | BlendLayout, steps: list[Step], config: PredictConfig,
                  on_batch: BatchCallback | None = None) -> Iterator[tuple[Step, StepOutput]]:
        with BandReader(scene, config.read_workers) as reader:
            yield from predict_steps(reader, layout, steps, self.predictor, config, on_batch)


class OutputSink:
    """Writes finished rows: classes (uint8, nodata 255) and optional probabilities."""

    def __init__(self, output: str, layout, card: ModelCard, config: PredictConfig, resume: bool = False):
        """Writes to the partial files of a resumable run; `resume` reopens them."""
        grid = layout.output_grid
        self.counts = np.zeros(card.num_classes, dtype=np.int64)
        self.classes = RasterWriter(output, grid, 1, "uint8", nodata=CLASS_NODATA, class_names=list(card.class_names),
                                    colors=list(card.class_colors), cog=config.cog, overwrite=config.overwrite,
                                    partial=partial_path(output), resume=resume)
        self.probs = None
        self.prob_dtype = config.probabilities_dtype
        if config.probabilities:
            if self.prob_dtype not in ("uint8", "float32"):
                raise ConfigError(f"--probabilities-dtype must be uint8 or float32, not {self.prob_dtype!r}")
            nodata = float("nan") if self.prob_dtype == "float32" else None
            try:
                self.probs = RasterWriter(config.probabilities, grid, card.num_classes, self.prob_dtype, nodata=nodata,
                                          band_names=list(card.class_names), cog=config.cog, overwrite=config.overwrite,
                                          partial=partial_path(config.probabilities), resume=resume)
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

    def writers(self) -> list[RasterWriter]:
        return [w for w in (self.classes, self.probs) if w is not None]

    def checkpoint(self) -> None:
        for w in self.writers():
            w.checkpoint()

    def commit(self) -> None:
        for w in reversed(self.writers()):
            w.commit()

    def close(self) -> None:
        for w in self.writers():
            w.close()

    def abort(self) -> None:
        for w in self.writers():
            w.abort()


class WindowProgress:
    """The progress bar in windows: advanced per batch where the runner reports batches (local runs), else per
    step; windows of an earlier, interrupted run count from the start."""

    def __init__(self, bar, done: Progress):
        self.bar, self.resumed_steps, self.counted = bar, done.steps_done, 0
        bar.update(done.windows)

    def batch(self, step: Step, windows: int) -> None:
        if step.index >= self.resumed_steps:  # not a step replayed to rebuild a blend band
            self.bar.update(windows)
            self.counted += windows

    def step_done(self, out: StepOutput) -> None:
        self.bar.update(out.windows - self.counted)
        self.counted = 0


def run_fingerprint(scene: Scene, runner: StepRunner, config: PredictConfig, steps: int) -> dict:
    """What must not change between an interrupted run and its --resume."""
    options = dict(bands=list(scene.bands), stride=config.stride, tile_size=config.tile_size, overlap=config.overlap,
                   batch_size=config.batch_size, resample=config.resample, cog=config.cog,
                   probabilities=config.probabilities is not None, probabilities_dtype=config.probabilities_dtype)
    return {"scene": file_identity(scene.path), "model": runner.identity, "options": options,
            "grid": [scene.grid.width, scene.grid.height], "steps": steps}


class Checkpoints:
    """The sink's partial files and what they hold: saved every `every` seconds, kept or removed on failure."""

    def __init__(self, sink: OutputSink, partial: PartialRun, progress: Progress, steps: int, every: float):
        self.sink, self.partial, self.progress, self.steps, self.every = sink, partial, progress, steps, every
        self.saved = progress.steps_done > 0
        self.saved_at = time.monotonic()
        if progress.counts:
            sink.counts[:] = progress.counts

    def step_done(self, step: Step, out: StepOutput) -> None:
        """Record a step whose rows are written; save the partial files when it is time."""
        p = self.progress
        self.progress = Progress(step.index + 1, p.windows + out.windows, p.skipped + out.skipped,
                                 self.sink.counts.tolist())
        if step.index + 1 < self.steps and time.monotonic() - self.saved_at >= self.every:
            self.sink.checkpoint()
            self.partial.save(self.progress)
            self.saved, self.saved_at = True, time.monotonic()

    def commit(self) -> None:
        self.sink.commit()
        self.partial.discard()

    def fail(self, exc: BaseException, total_windows: int) -> None:
        """Keep the partial files of an interrupted run that saved some; remove them after an input error."""
        input_error = isinstance(exc, GeoclassifyError) and not isinstance(exc, InterruptedRunError)
        if self.saved and not input_error:
            self.sink.close()
            self.partial.save(self.progress)
            log.warning("%d of %d windows done; the partial output is kept: run the same command with --resume "
                        "to continue", self.progress.windows, total_windows)
        else:
            self.sink.abort()
            self.partial.discard()


def predict_scene(scene_path: str, output: str, predictor: Predictor | StepRunner,
                  config: PredictConfig = PredictConfig(),
                  on_progress: Callable[[int], None] | None = None) -> PredictResult:
    """Classify `scene_path` into `output`, streaming window bands; nothing is left at `output` on failure.

    `predictor` runs the model here, or is a StepRunner (a Dask cluster). The rasters are written to
    partial files beside the outputs, saved every `config.checkpoint_seconds`; an interrupted run
    (Ctrl-C, kill) leaves them for `config.resume`, any other failure removes them.
    """
    runner = predictor if hasattr(predictor, "run_steps") else LocalRunner(predictor)
    card = runner.card
    check_output_path(output, config.overwrite)
    if config.probabilities:
        check_output_path(config.probabilities, config.overwrite, "probabilities output")
    scene = open_scene(scene_path, card, config.bands, config.resample)
    layout = make_layout(scene, card, config)
    steps = layout.steps()
    partial = PartialRun([output] + ([config.probabilities] if config.probabilities else []),
                         run_fingerprint(scene, runner, config, len(steps)))
    done = partial.start(config.resume)
    first = max(0, done.steps_done - layout.context_steps)  # a blend band is rebuilt from the steps before
    start = time.perf_counter()
    with bounded_gdal_cache():
        sink = OutputSink(output, layout, card, config, resume=done.steps_done > 0)
        checkpoints = Checkpoints(sink, partial, done, len(steps), config.checkpoint_seconds)
        bar = progress_bar(layout.total_windows, "predict", "win", disable=not config.progress)
        window_progress = WindowProgress(bar, done)
        try:
            with closing(runner.run_steps(scene, layout, steps[first:], config,
                                          on_batch=window_progress.batch)) as outputs:
                for step, out in outputs:
                    rows = layout.accumulate(step, out.probs, out.active, out.valid)
                    if step.index < done.steps_done:
                        continue  # replayed only to rebuild the blend band; its rows were written before
                    for r in rows:
                        sink.write(r)
                    checkpoints.step_done(step, out)
                    window_progress.step_done(out)
                    if on_progress is not None:
                        on_progress(checkpoints.progress.windows)
            checkpoints.commit()
        except BaseException as exc:
            checkpoints.fail(exc, layout.total_windows)
            raise
        finally:
            bar.close()
    grid, progress = layout.output_grid, checkpoints.progress
    counts = {name: int(n) for name, n in zip(card.class_names, sink.counts)}
    return PredictResult(str(output), grid.width, grid.height, progress.windows, progress.skipped,
                         time.perf_counter() - start, counts, done.windows, scene.native.width, scene.native.height)
