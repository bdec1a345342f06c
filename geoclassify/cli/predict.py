"""`geoclassify predict SCENE -o OUTPUT`: classify a scene into a georeferenced raster."""

from __future__ import annotations

import logging

import click

from geoclassify.cli.options import is_quiet, parse_bands, verbosity_options
from geoclassify.cli.polygonize import vector_output_options, write_vector

log = logging.getLogger("geoclassify")


@click.command()
@click.argument("scene", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Classification GeoTIFF to write.")
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
@click.option("--probabilities", type=click.Path(dir_okay=False), help="Also write per-class probabilities here.")
@click.option("--probabilities-dtype", type=click.Choice(["uint8", "float32"]), default="uint8", show_default=True)
@click.option("--cog", is_flag=True, help="Write Cloud Optimized GeoTIFFs.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--read-workers", default=2, show_default=True, help="Threads reading the scene.")
@vector_output_options
@verbosity_options
@click.pass_context
def predict(ctx: click.Context, scene: str, output: str, model: str | None, bands, stride, tile_size, overlap,
            batch_size: int, device: str, amp: bool, no_resample: bool, probabilities, probabilities_dtype: str,
            cog: bool, overwrite: bool, read_workers: int, vector, card: str | None) -> None:
    """Classify SCENE window by window and write a georeferenced classification raster."""
    from geoclassify.inference.pipeline import PredictConfig, predict_scene  # torch loads only when needed
    from geoclassify.inference.predictor import load_predictor

    if batch_size < 1:
        raise click.BadParameter("must be at least 1", param_hint="--batch-size")
    if stride is not None and stride < 1:
        raise click.BadParameter("must be at least 1", param_hint="--stride")
    if vector is not None:
        vector.check(overwrite)
    if model is None:
        from geoclassify.models.files import default_model_path

        model = str(default_model_path())
    predictor = load_predictor(model, device=device, amp=amp, card=card)
    config = PredictConfig(bands=bands, stride=stride, tile_size=tile_size, overlap=overlap, batch_size=batch_size,
                           resample=not no_resample, probabilities=probabilities,
                           probabilities_dtype=probabilities_dtype, cog=cog, overwrite=overwrite,
                           read_workers=read_workers, progress=not is_quiet(ctx))
    result = predict_scene(scene, output, predictor, config)
    summary = ", ".join(f"{name} {n}" for name, n in result.class_counts.items())
    log.info("wrote %s (%dx%d pixels; %d windows, %d skipped as nodata; %.1f s); pixels per class: %s",
             result.output, result.width, result.height, result.windows, result.skipped, result.seconds, summary)
    if vector is not None:
        write_vector(ctx, vector, result.output, probabilities, overwrite)
