"""`geoclassify benchmark --models A B --data SOURCE --out bench/`: one table row per model and backend."""

from __future__ import annotations

import click

from geoclassify.cli.options import MODEL_FILE, verbosity_options


@click.command()
@click.option("--models", required=True, multiple=True, type=MODEL_FILE,
              help="Model files (.safetensors: torch; .onnx: ONNX Runtime); repeat or list after one --models.")
@click.argument("more_models", nargs=-1, type=MODEL_FILE)
@click.option("--data", required=True, help="A training config (its held-out test split) or a chip folder.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for results.md/.csv and latency.png.")
@click.option("--rounds", default=5, show_default=True, help="Interleaved timing rounds (median over them).")
@click.option("--calls", default=40, show_default=True, help="Single-chip calls per model and round.")
@click.option("--threads", type=int, help="CPU threads for torch and ONNX Runtime alike (default: their own).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--overwrite", is_flag=True, help="Write into a non-empty folder.")
@verbosity_options
def benchmark(models, more_models, data: str, out: str, rounds: int, calls: int, threads, device: str,
              overwrite: bool) -> None:
    """Accuracy, ROC-AUC, latency, throughput, parameters, FLOPs and file size of each model."""
    from geoclassify.optional import require_extra

    require_extra("report", "benchmark reports")
    require_extra("torch", "benchmark reports (they count each architecture's FLOPs with torch)")
    from geoclassify.models.bundled import resolve_model
    from geoclassify.reports.benchmark import benchmark as run_benchmark
    from geoclassify.reports.evaluate import prepare_out

    if rounds < 1 or calls < 1:
        raise click.BadParameter("--rounds and --calls must be at least 1")
    folder = prepare_out(out, overwrite)
    run_benchmark([resolve_model(m, "auto", device) for m in (*models, *more_models)], data, folder, rounds, calls,
                  device, threads)
    click.echo((folder / "results.md").read_text())
