"""`geoclassify predict SCENE -o OUTPUT` (or many scenes into a folder): classify scenes into georeferenced rasters."""

from __future__ import annotations

import dataclasses
import logging
import os
from contextlib import nullcontext
from pathlib import Path

import click

from geoclassify.cli.options import is_quiet, is_verbose, parse_bands, verbosity_options
from geoclassify.cli.polygonize import vector_output_options, write_vector
from geoclassify.errors import GeoclassifyError, OutputError

log = logging.getLogger("geoclassify")


@click.command()
@click.argument("scenes", nargs=-1, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Classification GeoTIFF to write; with several scenes (or a glob, --from-list, or a name ending "
                   "in /), the folder that gets one NAME_classes.tif per scene.")
@click.option("--from-list", type=click.Path(dir_okay=False),
              help="Also classify the scenes listed in this file, one path or glob a line.")
@click.option("-m", "--model", type=click.Path(dir_okay=False),
              help="Model file: .safetensors (torch) or .onnx (ONNX Runtime) (default: the bundled agri/non-agri model).")
@click.option("--card", type=click.Path(dir_okay=False), help="Card JSON for an ONNX model not exported by geoclassify.")
@click.option("--bands", callback=parse_bands, help="Scene bands to feed the model, in its order, e.g. 3,2,1.")
@click.option("--stride", type=int, help="Chip classifiers: output pixel size in scene pixels (default: chip size).")
@click.option("--tile-size", type=int, help="Segmentation: tile size in pixels (default: the model's).")
@click.option("--overlap", type=int, help="Segmentation: overlap of neighbouring tiles in pixels.")
@click.option("--batch-size", default=64, show_default=True, help="Windows per model call.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
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
def predict(ctx: click.Context, scenes: tuple[str, ...], output: str, from_list: str | None, model: str | None, bands,
            stride, tile_size, overlap, batch_size: int, device: str, amp: bool, no_resample: bool, probabilities,
            probabilities_dtype: str, cog: bool, overwrite: bool, read_workers: int, scheduler: str | None,
            resume: bool, checkpoint_seconds: float, vector, card: str | None) -> None:
    """Classify SCENES window by window and write georeferenced classification rasters.

    One SCENE: `-o` names the output file. Several (paths, quoted globs, --from-list): `-o` names a folder,
    each scene gets NAME_classes.tif there, and a summary table ends the run (exit code 1 if a scene failed).
    """
    from geoclassify.inference.batch import is_glob, read_list  # torch loads only when needed
    from geoclassify.inference.pipeline import PredictConfig

    if batch_size < 1:
        raise click.BadParameter("must be at least 1", param_hint="--batch-size")
    if stride is not None and stride < 1:
        raise click.BadParameter("must be at least 1", param_hint="--stride")
    if not scenes and from_list is None:
        raise click.UsageError("give a SCENE, several, or --from-list FILE")
    args = list(scenes) + (read_list(from_list) if from_list is not None else [])
    many = (from_list is not None or len(scenes) != 1 or is_glob(scenes[0]) or output.endswith(("/", os.sep))
            or Path(output).is_dir())
    if model is None:
        from geoclassify.models.files import default_model_path

        model = str(default_model_path())
    config = PredictConfig(bands=bands, stride=stride, tile_size=tile_size, overlap=overlap, batch_size=batch_size,
                           resample=not no_resample, probabilities=probabilities,
                           probabilities_dtype=probabilities_dtype, cog=cog, overwrite=overwrite,
                           read_workers=read_workers, progress=not is_quiet(ctx), resume=resume,
                           checkpoint_seconds=checkpoint_seconds)
    if many:
        predict_many(ctx, args, output, model, card, device, amp, scheduler, vector, config)
    else:
        predict_one(ctx, args[0], output, model, card, device, amp, scheduler, vector, config)


def runner_for(model: str, card: str | None, device: str, amp: bool, client, scheduler: str | None):
    """The model, run here (loaded now) or on the cluster's workers (each loads it once)."""
    from geoclassify.inference.predictor import load_predictor, read_model_card

    if client is None:
        return load_predictor(model, device=device, amp=amp, card=card)
    from geoclassify.inference.distributed import DaskRunner, ModelSource, absolute, model_threads

    source = ModelSource(absolute(model), device, amp, absolute(card) if card else None, model_threads(scheduler))
    return DaskRunner(client, source, read_model_card(model, card))


def cluster(scheduler: str | None):
    from geoclassify.inference.distributed import dask_client

    return nullcontext() if scheduler is None else dask_client(scheduler)


def predict_one(ctx: click.Context, scene: str, output: str, model: str, card: str | None, device: str, amp: bool,
                scheduler: str | None, vector, config) -> None:
    """One scene into the file `output`."""
    from geoclassify.inference.batch import SceneJob, finished
    from geoclassify.inference.pipeline import log_result, predict_scene

    probabilities = Path(config.probabilities) if config.probabilities else None
    done = config.resume and not config.overwrite and finished(SceneJob(scene, Path(output), probabilities))
    if vector is not None and not done:
        vector.check(config.overwrite)
    if done:
        log.info("%s is complete: nothing to resume", output)
    else:
        with cluster(scheduler) as client:
            result = predict_scene(scene, output, runner_for(model, card, device, amp, client, scheduler), config)
        log_result(result)
    if vector is not None and not (done and Path(vector.output).exists()):
        write_vector(ctx, vector, output, config.probabilities, config.overwrite)


def output_folder(path: str | None, what: str) -> Path | None:
    if path is None:
        return None
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} {path} is a file; with several scenes it names a folder")
    return folder


def predict_many(ctx: click.Context, args: list[str], output: str, model: str, card: str | None, device: str,
                 amp: bool, scheduler: str | None, vector, config) -> None:
    """Several scenes into folders, one after the other (each spread over the cluster with --scheduler)."""
    from geoclassify.inference.batch import check_jobs, expand_inputs, plan_jobs, run_jobs, summary_table
    from geoclassify.vector.formats import vector_format

    folders = [output_folder(output, "-o"), output_folder(config.probabilities, "--probabilities"),
               output_folder(vector.output if vector else None, "--vector")]
    ext = vector_format("", vector.settings["vector_format"]).extensions[0] if vector else ".gpkg"
    jobs = plan_jobs(expand_inputs(args), folders[0], folders[1], folders[2], ext)
    check_jobs(jobs, config.overwrite, config.resume)
    if vector is not None:
        vector.options(None, config.overwrite, False).check()
    for folder in folders:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def polygonize(job) -> None:
        request = dataclasses.replace(vector, output=str(job.vector))
        probs = str(job.probabilities) if job.probabilities else None
        write_vector(ctx, request, str(job.output), probs, config.overwrite)

    with cluster(scheduler) as client:
        runner = runner_for(model, card, device, amp, client, scheduler)
        reports = run_jobs(jobs, runner, config, polygonize if vector else None, is_verbose(ctx))
    click.echo(summary_table(reports))
    failed = sum(r.failed for r in reports)
    if failed:
        raise GeoclassifyError(f"{failed} of {len(reports)} scenes failed (see the summary above)")
