"""`geoclassify predict SCENE -o OUTPUT` (or many scenes into a folder): classify scenes into georeferenced rasters."""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from pathlib import Path

import click

from geoclassify.cli.options import (
    as_usage_error,
    bands_option,
    batch_size_option,
    is_verbose,
    model_options,
    progress_reporter,
    stride_option,
    verbosity_options,
)
from geoclassify.cli.polygonize import vector_output_options
from geoclassify.errors import GeoclassifyError, OutputError

log = logging.getLogger("geoclassify")


@click.command()
@click.argument("scenes", nargs=-1, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Classification GeoTIFF to write; with several scenes (or a glob, --from-list, or a name ending "
                   "in /), the folder that gets one NAME_classes.tif per scene.")
@click.option("--from-list", type=click.Path(dir_okay=False),
              help="Also classify the scenes listed in this file, one path or glob a line.")
@model_options(default_help=" (default: the bundled agri/non-agri model)")
@bands_option
@click.option("--product", type=click.Choice(["sentinel2-l2a", "sentinel2-l1c", "landsat-c2-l2"]),
              help="The product the scene's digital numbers come from, where the scene does not say it (its metadata, "
                   "band scale/offset or STAC item): converted to the model's input values.")
@click.option("--stack", is_flag=True, help="The SCENES are the bands of one scene (one file per band, e.g. "
                                            "B04.tif B03.tif B02.tif), stacked on the finest grid.")
@stride_option
@click.option("--fully-convolutional", is_flag=True,
              help="Chip classifiers with a global-average-pooling head (the default model): compute the features "
                   "of overlapping chips once over tiles of many chips and average them per chip, instead of each "
                   "chip alone: about 2.2x faster at --stride 32, 16 or 8, but not the same classes (79-91 % the "
                   "same on real scenes: chips then see their neighbours, not zero padding). Tiles of about 1 Mpx "
                   "go to the model: --batch-size does not apply.")
@click.option("--tile-size", type=int, help="Segmentation: tile size in pixels (default: the model's).")
@click.option("--overlap", type=int, help="Segmentation: overlap of neighbouring tiles in pixels.")
@batch_size_option
@click.option("--amp", is_flag=True, help="Mixed precision (float16 autocast on CUDA; slow bfloat16 on CPU).")
@click.option("--no-resample", is_flag=True, help="Keep the scene's pixel size even if the model expects another.")
@click.option("--probabilities", type=click.Path(),
              help="Also write per-class probabilities here (with several scenes: a folder, NAME_probabilities.tif).")
@click.option("--probabilities-dtype", type=click.Choice(["uint8", "float32"]), default="uint8", show_default=True)
@click.option("--cog", is_flag=True, help="Write Cloud Optimized GeoTIFFs.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--read-workers", default=2, show_default=True, help="Threads reading the scene.")
@click.option("--scheduler", help="Run the model on a Dask cluster: tcp://HOST:PORT (a running `dask scheduler`) "
                                  "or local:N (N worker processes on this machine).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its partial output; with several "
                                             "scenes, skip the finished ones.")
@click.option("--checkpoint-seconds", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="How often the partial output is saved for --resume.")
@vector_output_options
@verbosity_options
@click.pass_context
def predict(ctx: click.Context, scenes: tuple[str, ...], output: str, from_list: str | None, model: str | None,
            card: str | None, device: str, backend: str, bands, product: str | None, stack: bool, stride,
            fully_convolutional: bool, tile_size, overlap,
            batch_size: int, amp: bool,
            no_resample: bool, probabilities, probabilities_dtype: str, cog: bool, overwrite: bool, read_workers: int,
            scheduler: str | None, resume: bool, checkpoint_seconds: float, vector: str | None, polygons) -> None:
    """Classify SCENES window by window and write georeferenced classification rasters.

    A SCENE is a raster file, an https:// or s3:// URL of one, or a STAC item (JSON file or URL) whose band
    assets are stacked as one scene. Products' digital numbers (Sentinel-2 L2A/L1C, Landsat C2 L2) are converted to
    the model's input values; bands are found by name.

    One SCENE: `-o` names the output file. Several (paths, quoted globs, --from-list): `-o` names a folder,
    each scene gets NAME_classes.tif there, and a summary table ends the run (exit code 1 if a scene failed).
    """
    from geoclassify.inference.config import ModelSource, PredictConfig, SceneOutputs  # torch loads only when needed
    from geoclassify.inference.jobs import is_glob, read_list
    from geoclassify.inference.pipeline import check_outputs, log_result, model_sources, predict_scene
    from geoclassify.io.paths import scene_sources

    if not scenes and from_list is None:
        raise click.UsageError("give a SCENE, several, or --from-list FILE")
    args = list(scenes) + (read_list(from_list) if from_list is not None else [])
    if stack and (from_list is not None or len(args) < 2):
        raise click.UsageError("--stack takes the files of one scene as SCENES, two or more (no --from-list)")
    many = not stack and (from_list is not None or len(scenes) != 1 or is_glob(scenes[0])
                          or output.endswith(("/", os.sep)) or Path(output).is_dir())
    from geoclassify.models.bundled import resolve_model

    with as_usage_error():
        model = resolve_model(model, backend, device)
    if scheduler is None and model.endswith(".safetensors"):  # before any output folder is made
        from geoclassify.models.files import TORCH_MODELS
        from geoclassify.optional import require_extra

        require_extra("torch", TORCH_MODELS)
    with as_usage_error():
        config = PredictConfig(bands=bands, product=product, stride=stride, tile_size=tile_size, overlap=overlap,
                               batch_size=batch_size, fully_convolutional=fully_convolutional,
                               resample=not no_resample, probabilities_dtype=probabilities_dtype, cog=cog,
                               overwrite=overwrite, read_workers=read_workers, resume=resume,
                               checkpoint_seconds=checkpoint_seconds)
    source = ModelSource(model, device, amp, card, threads_per_worker(scheduler))
    check_model_options(source, config)
    if many:
        predict_many(ctx, args, output, probabilities, vector, polygons, config, source, scheduler, from_list)
        return
    outputs = SceneOutputs(Path(output), Path(probabilities) if probabilities else None,
                           Path(vector) if vector else None)
    scene = tuple(args) if stack else args[0]
    check_outputs(outputs, config, polygons, scene_sources(scene) + model_sources(model, card))
    with cluster(scheduler) as client:
        log_result(predict_scene(scene, outputs, make_runner(source, client), config, polygons,
                                 progress_reporter(ctx)))


def check_model_options(source, config) -> None:
    """Refuse options that do not fit the model (e.g. a stride larger than its chip) as usage errors, reading only
    the model's card (no weights).

    Raises:
        click.UsageError: an option that does not fit the model (exit code 2).
        ModelFileError, InputError: the model file is missing or damaged (exit code 1).
    """
    from geoclassify.inference.pipeline import check_options
    from geoclassify.inference.predictor import read_model_card

    card = read_model_card(source.path, source.card)
    with as_usage_error():
        check_options(card, config)


def predict_many(ctx: click.Context, args: list[str], output: str, probabilities: str | None, vector: str | None,
                 polygons, config, source, scheduler: str | None, from_list: str | None = None) -> None:
    """Several scenes into folders, one after the other (each spread over the cluster with --scheduler)."""
    from geoclassify.inference.jobs import check_jobs, expand_inputs, plan_jobs, run_jobs, summary_table
    from geoclassify.inference.pipeline import model_sources
    from geoclassify.io.paths import Source
    from geoclassify.vector.formats import vector_format

    classes_dir = output_folder(output, "-o") or Path(output)  # -o is required: never None
    folders = [classes_dir, output_folder(probabilities, "--probabilities"), output_folder(vector, "--vector")]
    ext = vector_format("", polygons.format).extensions[0] if polygons else ".gpkg"
    jobs = plan_jobs(expand_inputs(args), classes_dir, folders[1], folders[2], ext)
    inputs = model_sources(source.path, source.card)
    if from_list is not None:
        inputs.append(Source(f"scene list {from_list}", Path(from_list)))
    check_jobs(jobs, config, polygons, inputs)
    for folder in folders:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    with cluster(scheduler) as client:
        reports = run_jobs(jobs, make_runner(source, client), config, polygons, progress_reporter(ctx),
                           is_verbose(ctx))
    click.echo(summary_table(reports))
    failed = sum(r.failed for r in reports)
    if failed:
        raise GeoclassifyError(f"{failed} of {len(reports)} scenes failed (see the summary above)")


def threads_per_worker(scheduler: str | None) -> int | None:
    """The model's threads per worker for `--scheduler` (None: the process's own setting).

    Raises:
        ConfigError: a `local:N` spec without a valid N.
        GeoclassifyError: dask.distributed (the distributed extra) is not installed.
    """
    if not scheduler:
        return None
    from geoclassify.optional import require_extra

    require_extra("distributed", "--scheduler runs")
    from geoclassify.inference.distributed import model_threads

    return model_threads(scheduler)


def make_runner(source, client):
    """The model, run here (loaded now) or on the cluster's workers (each loads it once)."""
    from geoclassify.inference.runners import LocalRunner

    if client is None:
        return LocalRunner(source.load())
    from geoclassify.inference.distributed import DaskRunner
    from geoclassify.inference.predictor import read_model_card

    return DaskRunner(client, source, read_model_card(source.path, source.card))


def cluster(scheduler: str | None):
    """A context manager giving the Dask client of `--scheduler`, or None without one (run here).

    Raises:
        ConfigError: `--scheduler` is neither tcp://HOST:PORT nor local:N (on entering).
        ClusterError: the cluster cannot be reached, has no workers, or runs another geoclassify (on entering).
    """
    from geoclassify.inference.distributed import dask_client

    return nullcontext() if scheduler is None else dask_client(scheduler)


def output_folder(path: str | None, what: str) -> Path | None:
    """The folder named by option `what` for several scenes (None when the option is not given); not created here.

    Raises:
        OutputError: `path` is an existing file.
    """
    if path is None:
        return None
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} {path} is a file; with several scenes it names a folder")
    return folder
