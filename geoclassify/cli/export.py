"""`geoclassify export MODEL --format onnx -o m.onnx`: a model file as ONNX, its card in the metadata."""

from __future__ import annotations

import click

from geoclassify.cli.options import MODEL_FILE, verbosity_options


@click.command()
@click.argument("model", type=MODEL_FILE)
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="ONNX file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@verbosity_options
def export(model: str, fmt: str, output: str, overwrite: bool) -> None:
    """Export MODEL (a geoclassify model file) to ONNX; `geoclassify predict` runs it with ONNX Runtime."""
    from geoclassify.export.onnx_export import export_onnx
    from geoclassify.models.bundled import resolve_model

    export_onnx(resolve_model(model, "torch"), output, overwrite)
