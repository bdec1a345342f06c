"""Each bundled model on torch and on ONNX Runtime, on this CPU: throughput and the agreement of their outputs.

Windows are real: tiles of the shipped NAIP scene (examples/data/naip_farmland.tif, its RGB bands), the chip or
tile size of each model's card, as `predict` sends them (raw pixels; each backend normalises with the card).
Rounds alternate the two backends; the median of the rounds is printed. Agreement: the share of identical argmax
classes (per chip, or per pixel for segmentation) and the largest probability difference.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_backends.py --threads 2 --rounds 5

The result decides `cpu_backend` in geoclassify/models/bundled.py (the faster backend by the median).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

from geoclassify.inference.predictor import load_predictor
from geoclassify.models.bundled import BUNDLED, bundled_path
from geoclassify.models.files import read_model_card

SCENE = Path(__file__).resolve().parent.parent / "examples" / "data" / "naip_farmland.tif"


def windows(size: int, count: int) -> np.ndarray:
    """(count, 3, size, size) uint8 windows of the scene's RGB bands, on a grid (repeated if the scene is small)."""
    with rasterio.open(SCENE) as src:
        rgb = src.read([1, 2, 3])
    tiles = [rgb[:, r:r + size, c:c + size] for r in range(0, rgb.shape[1] - size + 1, size)
             for c in range(0, rgb.shape[2] - size + 1, size)]
    return np.stack([tiles[i % len(tiles)] for i in range(count)])


def timed(predictor, batches: list[np.ndarray]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    outputs = [predictor.predict(b) for b in batches]
    return time.perf_counter() - start, np.concatenate(outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=list(BUNDLED))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, rounds {args.rounds}, scene {SCENE.name}")
    print("| model | task | window | batch | torch | ONNX Runtime | ONNX/torch | same class | max prob diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        card = read_model_card(bundled_path(name))
        segmentation = card.task == "segmentation"
        batch = 4 if segmentation else 64
        data = windows(card.tile_size, batch * (2 if segmentation else 4))
        batches = [data[i:i + batch] for i in range(0, len(data), batch)]
        predictors = {b: load_predictor(name, device="cpu", threads=args.threads, backend=b) for b in ("torch", "onnx")}
        for predictor in predictors.values():
            predictor.predict(batches[0])  # warm-up
        seconds: dict[str, list[float]] = {"torch": [], "onnx": []}
        outputs = {}
        for _ in range(args.rounds):
            for backend, predictor in predictors.items():
                elapsed, outputs[backend] = timed(predictor, batches)
                seconds[backend].append(elapsed)
        unit, per = ("Mpx/s", len(data) * card.tile_size ** 2 / 1e6) if segmentation else ("chips/s", len(data))
        rate = {b: per / statistics.median(s) for b, s in seconds.items()}
        same = float((outputs["torch"].argmax(1) == outputs["onnx"].argmax(1)).mean())
        diff = float(np.abs(outputs["torch"] - outputs["onnx"]).max())
        print(f"| {name} | {card.task} | {card.tile_size} px | {batch} | {rate['torch']:.1f} {unit} | "
              f"{rate['onnx']:.1f} {unit} | {rate['onnx'] / rate['torch']:.2f} | {same:.4%} | {diff:.1e} |")


if __name__ == "__main__":
    main()
