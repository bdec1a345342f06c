"""The predict pipeline of one scene: check the outputs, open the scene, lay windows over it, run the window loop
(here or on a Dask cluster), blend and write rows in order with checkpoints for --resume, then polygonize.

    scene --open_scene--> read plan (working grid) --make_layout--> strips of windows
          --runner.run_strips--> model outputs per strip --assembler--> finished rows --OutputSink--> rasters
          --polygonize_raster--> vector (optional)
"""

from __future__ import annotations

import logging
import time
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from affine import Affine

from geoclassify.geo.grid import Grid
from geoclassify.inference.batching import network_window
from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.layouts import MIN_REAL_SHARE, Layout, make_layout
from geoclassify.inference.resume import Checkpoints, PartialRun, output_lock, partial_path, run_fingerprint
from geoclassify.inference.runners import Runner
from geoclassify.inference.scene import open_scene
from geoclassify.inference.sink import OutputSink, WindowProgress
from geoclassify.io.gdal_cache import bounded_gdal_cache
from geoclassify.io.paths import (
    RASTER_SIDECARS,
    Source,
    Target,
    check_folder,
    refuse_clashes,
    scene_sources,
    vector_target,
)
from geoclassify.io.raster import Scene
from geoclassify.io.sources import SceneArg
from geoclassify.io.writer import check_output_path
from geoclassify.models.card import ModelCard
from geoclassify.progress import SILENT, ProgressReporter

if TYPE_CHECKING:  # the polygon stack (pyarrow, shapely, pyogrio) is imported when polygons are written
    from geoclassify.vector.polygonize import PolygonizeOptions, PolygonizeResult

log = logging.getLogger("geoclassify")

# the partial files of a resumable run (inference.resume), their sidecars, the COG copy made on commit, the manifest
# and the lock (io.lock)
PARTIAL_SUFFIXES = (".partial.tif", ".partial.tif.aux.xml", ".partial.cog.tif", ".partial.cog.tif.aux.xml",
                    ".partial.json", ".partial.lock")


@dataclass
class PredictResult:
    """What a prediction did: the output grid's size (pixels), windows run and skipped, seconds, pixels per class."""

    output: str
    width: int = 0
    height: int = 0
    windows: int = 0
    skipped: int = 0
    seconds: float = 0.0
    class_counts: dict[str, int] = field(default_factory=dict)
    resumed_windows: int = 0  # windows done by an earlier, interrupted run
    scene_width: int = 0  # the input scene, in its own pixels
    scene_height: int = 0
    done_earlier: bool = False  # --resume found the rasters complete: nothing was predicted
    polygons: PolygonizeResult | None = None
    probabilities: str | None = None  # the probabilities output, when one was written


def log_result(result: PredictResult) -> None:
    """Log what a prediction wrote (and its polygons)."""
    if result.done_earlier:
        log.info("%s is complete: nothing to resume", result.output)
    else:
        counts = ", ".join(f"{name} {n}" for name, n in result.class_counts.items())
        resumed = f", {result.resumed_windows} of them before --resume" if result.resumed_windows else ""
        log.info("wrote %s (%dx%d pixels; %d windows%s, %d skipped: nodata or too few real pixels; %.1f s); "
                 "pixels per class: %s", result.output, result.width, result.height, result.windows, resumed,
                 result.skipped, result.seconds, counts)
        if result.probabilities is not None:
            log.info("wrote %s (probabilities of %s, one band per class)", result.probabilities,
                     ", ".join(result.class_counts))
        if result.windows and result.skipped == result.windows:
            log.warning("%s has no class anywhere: no window had enough real pixels (a chip needs %d %% of its "
                        "pixels inside the scene and valid)", result.output, round(MIN_REAL_SHARE * 100))
    if result.polygons is not None:
        from geoclassify.vector.polygonize import log_polygons

        log_polygons(result.polygons)


def finished(outputs: SceneOutputs) -> bool:
    """All of a scene's rasters exist and no partial run of them is waiting."""
    return (all(p.exists() for p in outputs.rasters)
            and not partial_path(outputs.classes, ".partial.json").exists())


def polygon_options(outputs: SceneOutputs, polygons: PolygonizeOptions | None,
                    config: PredictConfig) -> PolygonizeOptions:
    """The polygonize options of a scene's vector output: mean confidence from its probabilities raster."""
    probabilities = str(outputs.probabilities) if outputs.probabilities is not None else None
    from geoclassify.vector.polygonize import PolygonizeOptions

    return replace(polygons or PolygonizeOptions(), probabilities=probabilities, overwrite=config.overwrite)


def raster_target(path: Path, role: str) -> Target:
    """A raster output and every file writing it makes: itself, its sidecars and the partial files of --resume."""
    side = (Path(f"{path}{ext}") for ext in RASTER_SIDECARS)  # io.writer writes the .aux.xml
    return Target(role, path, (path, *side, *(partial_path(path, suffix) for suffix in PARTIAL_SUFFIXES)))


def output_targets(outputs: SceneOutputs) -> list[Target]:
    """A scene's outputs, each with the files it writes: classes, probabilities, polygons."""
    targets = [raster_target(outputs.classes, "classes output")]
    if outputs.probabilities is not None:
        targets.append(raster_target(outputs.probabilities, "probabilities output"))
    if outputs.vector is not None:
        targets.append(vector_target(outputs.vector))
    return targets


def model_sources(model: str | None, card: str | None = None) -> list[Source]:
    """The model file and its card file, as inputs no output may overwrite."""
    return [Source(f"{role} {path}", Path(path)) for role, path in (("model file", model), ("card file", card))
            if path is not None]


def runner_sources(identity: dict) -> list[Source]:
    """The model files a runner was loaded from (its `identity`, as the resume manifest records it)."""
    paths = [identity.get(key) for key in ("file", "card")]
    model, card = (p["path"] if isinstance(p, dict) and isinstance(p.get("path"), str) else None for p in paths)
    return model_sources(model, card)


def check_options(card: ModelCard, config: PredictConfig) -> None:
    """Refuse options that do not fit the model (a stride larger than the chip, --tile-size for a chip classifier,
    --stride for segmentation, an overlap out of range) before a scene is opened: the rules of `make_layout`.

    Raises:
        ConfigError: an option that does not fit the model.
    """
    make_layout(Grid(1, 1, Affine.identity()), card, config)


def check_outputs(outputs: SceneOutputs, config: PredictConfig, polygons: PolygonizeOptions | None,
                  inputs: Sequence[Source] = ()) -> bool:
    """Refuse outputs that cannot be written before any work starts; True when --resume finds the rasters done.

    Raises:
        PathClashError: an output (or a file it writes) is one of `inputs` or a file of another output.
        OutputError: an output exists (without overwrite or a resume that skips it), or its folder is missing or
            cannot be written.
        ConfigError: bad polygon options or vector format.
    """
    targets = output_targets(outputs)
    refuse_clashes(inputs, targets)
    done = config.resume and not config.overwrite and finished(outputs)
    due = vector_due(outputs, done)
    for target in targets:
        if not done or (due and target.path == outputs.vector):
            check_folder(target)
    if not done:
        for raster in outputs.rasters:  # a run writing them now: refused before the model is loaded
            output_lock(raster).check_free()
        check_output_path(outputs.classes, config.overwrite, "classes output")
        if outputs.probabilities is not None:
            check_output_path(outputs.probabilities, config.overwrite, "probabilities output")
    if outputs.vector is not None and due:
        polygon_options(outputs, polygons, config).check_output(outputs.vector)
    return done


def vector_due(outputs: SceneOutputs, done_earlier: bool) -> bool:
    """Whether the polygons are to be written: a vector output, unless --resume found the rasters complete and the
    polygons written (an interrupted polygonize, or fresh rasters, polygonize again)."""
    return outputs.vector is not None and not (done_earlier and outputs.vector.exists())


def predict_scene(scene_path: SceneArg, outputs: SceneOutputs, runner: Runner, config: PredictConfig = PredictConfig(),
                  polygons: PolygonizeOptions | None = None, progress: ProgressReporter = SILENT) -> PredictResult:
    """Classify a scene into georeferenced rasters (and polygons), streaming strips of windows.

    Nothing is left at an output path on failure. The rasters are written to partial files beside the outputs,
    saved every `config.checkpoint_seconds`; an interrupted run (Ctrl-C, kill) leaves them for `config.resume`,
    any other failure removes them. With `config.resume`, complete rasters are not predicted again.

    Args:
        scene_path: the scene: any raster GDAL opens, a URL of one, a STAC item, or a tuple of rasters stacked as one
            scene (see geoclassify.inference.scene.open_scene).
        outputs: the classes raster (uint8, nodata 255, class names and colours), and optionally the
            probabilities raster (one band per class) and the vector file of polygons.
        runner: where the window loop runs: `LocalRunner(load_predictor(path))` or a `DaskRunner`.
        config: the prediction's options.
        polygons: options of the polygons written to `outputs.vector` (sieve, simplify, classes, format).
        progress: the progress reporter (default: none).

    Returns:
        What was done: output size, windows run and skipped, pixels per class, and the polygonize result.

    Raises:
        InputError: the scene is missing or not a raster.
        IncompatibleSceneError: its bands or dtype do not fit the model.
        PathClashError: an output (or a file it writes: sidecars, partial files) is the scene, a file the scene
            reads, the model or another output.
        OutputError: an output exists (without `config.overwrite`), or cannot be written.
        ConfigError: an option that does not fit the model, or a --resume of a run started differently.
        ClusterError: the Dask cluster failed (with a DaskRunner).
        InterruptedRunError, KeyboardInterrupt: the run was stopped; the partial output is kept for --resume.
    """
    done_earlier = check_outputs(outputs, config, polygons, scene_sources(scene_path) + runner_sources(runner.identity))
    if done_earlier:
        result = PredictResult(str(outputs.classes), done_earlier=True)
    else:
        scene = open_scene(scene_path, runner.card, config.bands, config.resample, config.product)
        layout = make_layout(scene.grid, runner.card, config)
        written: list[PolygonizeResult] = []  # polygons of the finished rasters, before they are published

        def polygonize(rasters: SceneOutputs) -> None:
            written.append(write_polygons(rasters, outputs, polygons, config, progress))
        result = write_rasters(scene, layout, outputs, runner, config, progress, polygonize if outputs.vector else None)
        result.polygons = written[0] if written else None
    if done_earlier and vector_due(outputs, done_earlier):
        result.polygons = write_polygons(outputs, outputs, polygons, config, progress)
    return result


def write_polygons(rasters: SceneOutputs, outputs: SceneOutputs, polygons: PolygonizeOptions | None,
                   config: PredictConfig, progress: ProgressReporter) -> PolygonizeResult:
    """The polygons of `rasters` (finished, perhaps not yet published) written to `outputs.vector`."""
    from geoclassify.vector.polygonize import polygonize_raster

    return polygonize_raster(str(rasters.classes), str(outputs.vector), polygon_options(rasters, polygons, config),
                             progress)


def write_rasters(scene: Scene, layout: Layout, outputs: SceneOutputs, runner: Runner, config: PredictConfig,
                  progress: ProgressReporter, before_publish: Callable[[SceneOutputs], None] | None = None
                  ) -> PredictResult:
    """Run the window loop over every strip and write the rows as they are finished, with checkpoints; the
    finished rasters are given to `before_publish` (the polygons) before any output is published."""
    card = runner.card
    strips = layout.strips()
    partial = PartialRun([str(p) for p in outputs.rasters], run_fingerprint(scene, outputs, runner.identity, config,
                                                                           len(strips)))
    done = partial.start(config.resume)
    first = max(0, done.strips_done - layout.context_strips)  # a blend strip is rebuilt from the strips before
    start = time.perf_counter()
    assembler = layout.assembler()
    with bounded_gdal_cache(scene.block_row_bytes):
        try:
            sink = OutputSink(outputs, layout.output_grid, card, config, resume=done.strips_done > 0)
        except BaseException:
            partial.release()  # the partial files stay as they were (resumable or stale); the lock goes now
            raise
        checkpoints = Checkpoints(sink, partial, done, len(strips), config.checkpoint_seconds)
        with progress.bar(layout.total_windows, "predict", "win") as bar:
            window_progress = WindowProgress(bar, done)
            try:
                with closing(runner.run_strips(scene, layout, strips[first:],
                                               config.loop(network_window(card, layout.window),
                                                           runner.pixels_per_call),
                                               on_batch=window_progress.batch)) as strip_outputs:
                    for strip, out in strip_outputs:
                        rows = assembler.add(strip, out.probs, out.active, out.valid)
                        if strip.index < done.strips_done:
                            continue  # replayed only to rebuild the blend strip; its rows were written before
                        for r in rows:
                            sink.write(r)
                        checkpoints.strip_done(strip.index, out.windows, out.skipped)
                        window_progress.strip_done(out)
                checkpoints.commit(before_publish)
            except BaseException as exc:
                checkpoints.fail(exc, layout.total_windows)
                raise
    grid, last = layout.output_grid, checkpoints.last
    counts = {name: int(n) for name, n in zip(card.class_names, sink.counts)}
    return PredictResult(str(outputs.classes), grid.width, grid.height, last.windows, last.skipped,
                         time.perf_counter() - start, counts, done.windows, scene.native.width, scene.native.height,
                         probabilities=None if outputs.probabilities is None else str(outputs.probabilities))

