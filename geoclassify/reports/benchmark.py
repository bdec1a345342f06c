"""`geoclassify benchmark`: accuracy, AUC, latency, throughput, parameters, FLOPs and file size per model.

Timings are interleaved: each round measures every model once, and the table gives the median over
rounds, so a noisy, shared machine slows all models alike rather than whichever ran during a burst.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from geoclassify.io.atomic import write_atomic
from geoclassify.models.card import ModelCard
from geoclassify.reports import plots
from geoclassify.reports.document import markdown_table
from geoclassify.reports.metrics import chip_metrics
from geoclassify.reports.sources import load_chip_arrays, model_chip_set, predict_chips

log = logging.getLogger("geoclassify")

THROUGHPUT_BATCH = 64


@dataclass
class Row:
    """One model's line of the results: its scores, speed, size and cost (units beside each field)."""

    model: str
    backend: str
    accuracy: float | None
    roc_auc: float | None
    latency_ms: float  # per image at batch 1, median
    throughput: float  # images/s at batch 64, median
    speedup: float  # throughput / the first row's
    parameters: int | None
    gflops: float | None  # per image, forward
    size_mb: float


COLUMNS = ["model", "backend", "accuracy", "ROC-AUC", "latency batch 1 (ms)", "throughput batch 64 (img/s)",
           "x first row", "parameters (M)", "GFLOPs / image", "file (MB)"]


def backend_of(path: str, card: ModelCard) -> str:
    """What runs a model file: "torch float32", "onnxruntime float32" or "onnxruntime int8" (a quantized card)."""
    from geoclassify.models.files import is_onnx

    if not is_onnx(path):
        return "torch float32"
    return "onnxruntime int8" if "quantization" in card.provenance else "onnxruntime float32"


def count_flops(card: ModelCard) -> tuple[int, float]:
    """Parameters and forward GFLOPs of one input chip, counted by torch's FlopCounterMode on the architecture;
    models trained outside torch (Keras) carry both counts in their card."""
    if "gflops" in card.provenance:
        return card.provenance["parameters"], card.provenance["gflops"]
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from geoclassify.models.factory import count_parameters, create_model

    model = create_model(card.architecture, card.in_channels, card.num_classes, **card.arch_kwargs).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, card.in_channels, card.tile_size, card.tile_size))
    return count_parameters(model), counter.get_total_flops() / 1e9


def time_per_call(predictor, batch: np.ndarray, calls: int) -> float:
    """Median seconds of one predict call over `calls` calls."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        predictor.predict(batch)
        times.append(time.perf_counter() - start)
    return median(times)


def measure(predictor, images: np.ndarray, calls: int) -> tuple[float, float]:
    """(latency ms per image at batch 1, images/s at batch 64), each the median of `calls` calls."""
    single = images[:1]
    batch = np.resize(images, (THROUGHPUT_BATCH, *images.shape[1:]))
    latency = time_per_call(predictor, single, calls) * 1000
    throughput = THROUGHPUT_BATCH / time_per_call(predictor, batch, max(2, calls // 8))
    return latency, throughput


def load_predictors(models: list[str], device: str, threads: int | None) -> list:
    """Predictors of the model files; `threads` (if given) for torch and ONNX Runtime alike."""
    from geoclassify.inference.predictor import load_predictor

    if threads:
        import torch

        torch.set_num_threads(threads)
    return [load_predictor(m, device=device, threads=threads) for m in models]


def benchmark(models: list[str], data: str, out: Path, rounds: int = 5, calls: int = 40, device: str = "cpu",
              threads: int | None = None) -> list[Row]:
    """Benchmark `models` on the held-out chips of `data`; write results.csv, results.md and latency.png."""
    predictors = load_predictors(models, device, threads)
    inputs, scores = {}, []
    for model, predictor in zip(models, predictors):
        chips = model_chip_set(data, predictor.card, "test", f"--data {data} (model {model})")
        key = (predictor.card.bands, predictor.card.tile_size, predictor.card.class_names)
        if key not in inputs:
            inputs[key] = load_chip_arrays(chips, predictor.card)
        images, y = inputs[key]
        log.info("scoring %s on %d chips", predictor.card.architecture, len(y))
        scores.append(chip_metrics(y, predict_chips(predictor, images), list(predictor.card.class_names)))
    timings: list[list[tuple[float, float]]] = [[] for _ in models]
    for r in range(rounds + 1):  # round 0 warms every model up and is not counted
        for i, predictor in enumerate(predictors):
            card = predictor.card
            result = measure(predictor, inputs[(card.bands, card.tile_size, card.class_names)][0], calls)
            if r:
                timings[i].append(result)
        log.info("timing round %d/%d done", r, rounds)
    rows = make_rows(models, predictors, scores, timings)
    write_results(rows, out, chips.description, rounds, calls, threads)
    return rows


def make_rows(models, predictors, scores, timings) -> list[Row]:
    """The results, one row per model, with `speedup` relative to the first model's throughput.

    Args:
        models: the model files.
        predictors: their predictors, in the same order.
        scores: their `chip_metrics` on the benchmark chips.
        timings: per model, (latency ms per image at batch 1, images/s at batch 64) of each counted round;
            a row takes the median of each.

    Returns:
        The rows; parameters and GFLOPs are counted once per architecture and input shape.

    Raises:
        ModelFileError: a torch model's architecture cannot be built to count its FLOPs.
    """
    rows, flops = [], {}
    for model, predictor, score, times in zip(models, predictors, scores, timings):
        card = predictor.card
        key = card.architecture + repr(sorted(card.arch_kwargs.items())) + str((card.in_channels, card.tile_size))
        if key not in flops:
            flops[key] = count_flops(card)
        latency, throughput = median(t[0] for t in times), median(t[1] for t in times)
        rows.append(Row(Path(model).name, backend_of(model, card), score["accuracy"], score["roc_auc"], latency,
                        throughput, 1.0, flops[key][0], flops[key][1], os.path.getsize(model) / 1e6))
    for row in rows:
        row.speedup = row.throughput / rows[0].throughput
    return rows


def table_rows(rows: list[Row]) -> list[list[Any]]:
    """The rows as the cells of results.md (COLUMNS): percentages, milliseconds, millions, MB; None if unknown."""
    return [[r.model, r.backend, f"{r.accuracy:.2%}" if r.accuracy is not None else None,
             r.roc_auc, f"{r.latency_ms:.2f}", f"{r.throughput:.0f}", f"{r.speedup:.2f}",
             f"{r.parameters / 1e6:.2f}" if r.parameters else None, f"{r.gflops:.3f}" if r.gflops else None,
             f"{r.size_mb:.1f}"] for r in rows]


def environment_line(threads: int | None) -> str:
    """One line on the machine the timings come from: CPU, CPU count, torch (and its threads), onnxruntime.

    Args:
        threads: the threads asked for (None: torch's own count).
    """
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
            f"({threads or torch.get_num_threads()} threads)" + onnxruntime_version())


def onnxruntime_version() -> str:
    """", onnxruntime X.Y.Z" for the environment line; empty without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return ""
    return f", onnxruntime {onnxruntime.__version__}"


def write_results(rows: list[Row], out: Path, data: str, rounds: int, calls: int, threads: int | None) -> None:
    """Write results.csv, results.md (the table with notes on the data, method and machine) and latency.png.

    Args:
        rows: the results, at least one.
        out: the report folder (it exists).
        data: what the models were scored on, for the notes.
        rounds: the counted timing rounds.
        calls: predict calls at batch 1 per round.
        threads: the threads asked for (None: the libraries' defaults).

    Raises:
        GeoclassifyError: matplotlib is not installed (for latency.png).
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(asdict(rows[0])))
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    write_atomic(out / "results.csv", buf.getvalue().encode())
    notes = (f"\nData: {data}. Accuracy and ROC-AUC on all of them; latency: median of {calls} single-chip calls "
             f"per round; throughput: median of the batch-of-{THROUGHPUT_BATCH} calls per round; each the median of "
             f"{rounds} interleaved rounds after a warm-up round. FLOPs: torch FlopCounterMode, forward, one chip "
             f"(the architecture of the file; Keras models: their convolution and dense layers, counted when trained; "
             f"1 MAC = 2 FLOPs). Machine: {environment_line(threads)}.\n")
    write_atomic(out / "results.md", (markdown_table(COLUMNS, table_rows(rows)) + "\n" + notes).encode())
    plots.latency_plot([f"{r.model} ({r.backend})" for r in rows], [r.latency_ms for r in rows], out / "latency.png")
