"""`geoclassify quantize m.onnx --calibration SOURCE -o m.int8.onnx`: static INT8 post-training quantization."""

from __future__ import annotations

import click

from geoclassify.cli.options import verbosity_options


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--calibration", required=True, help="Real chips: a training config (its train split) or a chip folder.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="INT8 ONNX file to write.")
@click.option("--chips", default=512, show_default=True, help="Calibration chips (evenly spread over the source).")
@click.option("--method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax", show_default=True,
              help="How activation ranges are calibrated.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@verbosity_options
def quantize(model: str, calibration: str, output: str, chips: int, method: str, overwrite: bool) -> None:
    """Quantize an exported float ONNX MODEL to INT8 (QDQ), calibrated on real chips."""
    from geoclassify.optional import require_extra

    require_extra("quantize", "quantization")
    from geoclassify.export.quantize import quantize_onnx

    quantize_onnx(model, calibration, output, chips, method, overwrite)
