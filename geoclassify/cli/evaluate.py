"""`geoclassify evaluate --model M --data SOURCE --out report/`: metrics, plots and a report."""

from __future__ import annotations

import json
import logging

import click

from geoclassify.cli.options import (
    as_usage_error,
    bands_option,
    batch_size_option,
    model_options,
    progress_reporter,
    stride_option,
    verbosity_options,
)

log = logging.getLogger("geoclassify")


@click.command()
@model_options(required=True)
@click.option("--data", required=True, help="A training config (its held-out test split), a chip folder, or a scene.")
@click.option("--labels", type=click.Path(dir_okay=False), help="Label raster of the scene given as --data.")
@click.option("--class-mapping", type=click.Path(dir_okay=False),
              help="YAML mapping label codes to the model's classes.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Report folder to write.")
@click.option("--threshold", type=float,
              help="Two-class chip models: call class 1 at P(class 1) >= this (default 0.5).")
@bands_option
@stride_option
@batch_size_option
@click.option("--overwrite", is_flag=True, help="Write into a non-empty report folder.")
@verbosity_options
@click.pass_context
def evaluate(ctx: click.Context, model: str, card: str | None, device: str, backend: str, data: str, labels,
             class_mapping, out: str,
             threshold, bands, stride, batch_size: int | None, overwrite: bool) -> None:
    """Evaluate MODEL on labelled chips or on a scene with a label raster; write metrics.json,
    report.md, report.html and PNG plots into --out."""
    from geoclassify.optional import require_extra

    require_extra("report", "evaluate reports")
    from geoclassify.inference.predictor import load_predictor
    from geoclassify.models.bundled import resolve_model
    from geoclassify.reports.evaluate import evaluate_chips, prepare_out

    if labels is None and (class_mapping or bands or stride):
        raise click.UsageError("--class-mapping, --bands and --stride apply to a scene with --labels")
    if labels is not None and threshold is not None:
        raise click.UsageError("--threshold applies to chips; scenes are classified by the argmax")
    with as_usage_error(ctx):
        model = resolve_model(model, backend, device)
    predictor = load_predictor(model, device=device, card=card)
    if labels is not None:  # the options of a scene, checked against the model before anything is written
        from geoclassify.inference.config import PredictConfig
        from geoclassify.inference.pipeline import check_options

        with as_usage_error(ctx):
            config = PredictConfig(bands=bands, stride=stride, batch_size=batch_size)
            check_options(predictor.card, config)
    folder = prepare_out(out, overwrite)
    if labels is None:
        metrics = evaluate_chips(predictor, model, data, folder, threshold, batch_size or 64)
        keys = ("accuracy", "roc_auc")
    else:
        from geoclassify.reports.scene_eval import evaluate_scene

        metrics = evaluate_scene(predictor, model, data, labels, folder, class_mapping, config,
                                 progress_reporter(ctx))
        keys = ("pixel_accuracy", "mean_iou")
    log.info("wrote %s/report.html; %s", folder, ", ".join(f"{k} {metrics[k]}" for k in keys))
    click.echo(json.dumps({k: metrics[k] for k in keys}))
