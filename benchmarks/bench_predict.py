"""Measure predict: end-to-end throughput and peak memory, and model-only throughput on the same windows.

Each measurement runs in its own process so peak RSS belongs to it alone:

    .venv/bin/python benchmarks/bench_predict.py e2e benchmarks/scenes/naip_8192.tif
    .venv/bin/python benchmarks/bench_predict.py model-only benchmarks/scenes/naip_8192.tif
    .venv/bin/python benchmarks/bench_predict.py compare benchmarks/scenes/naip_8192.tif --repeat 2

Prints one JSON line per measurement: megapixels/s, seconds, windows, peak RSS (MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.pipeline import predict_scene
from geoclassify.inference.predictor import load_predictor
from geoclassify.inference.runners import LocalRunner, batched_windows
from geoclassify.models.files import default_model_path


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def warm_up(predictor, batch: int) -> None:
    """One model call before timing, in both modes, so one-off kernel set-up is not counted."""
    card = predictor.card
    predictor.predict(np.zeros((batch, len(card.bands), card.tile_size, card.tile_size), dtype=card.dtype))


def e2e(scene: str, model: str, batch: int) -> dict:
    predictor = load_predictor(model, device="cpu")
    warm_up(predictor, batch)
    with tempfile.TemporaryDirectory() as tmp:
        result = predict_scene(scene, SceneOutputs(Path(tmp) / "out.tif"), LocalRunner(predictor),
                               PredictConfig(batch_size=batch, resample=False))
    with rasterio.open(scene) as ds:
        pixels = ds.width * ds.height
    return {"mode": "e2e", "scene": scene, "megapixels": pixels / 1e6, "seconds": result.seconds,
            "mp_per_s": pixels / 1e6 / result.seconds, "windows": result.windows, "skipped": result.skipped,
            "peak_rss_mib": peak_rss_mib()}


def model_only(scene: str, model: str, batch: int) -> dict:
    """The same number of real windows as the scene holds, from one band read once, model calls only."""
    predictor = load_predictor(model, device="cpu")
    size = predictor.card.tile_size
    with rasterio.open(scene) as ds:
        n = (-(-ds.width // size)) * (-(-ds.height // size))
        band = ds.read(list(predictor.card.bands), window=((0, size * 4), (0, min(ds.width, 4096))))
    offsets = [(r, c) for r in range(0, band.shape[1] - size + 1, size)
               for c in range(0, band.shape[2] - size + 1, size)]
    batches = list(batched_windows(band, offsets, size, batch))
    warm_up(predictor, batch)
    done, start = 0, time.perf_counter()
    while done < n:
        for b in batches:
            if done >= n:
                break
            predictor.predict(b[: n - done])
            done += min(len(b), n - done)
    seconds = time.perf_counter() - start
    mp = done * size * size / 1e6
    return {"mode": "model-only", "scene": scene, "megapixels": mp, "seconds": seconds, "mp_per_s": mp / seconds,
            "windows": done, "peak_rss_mib": peak_rss_mib()}


def compare(scene: str, model: str, batch: int, repeat: int) -> None:
    """Alternate both modes in fresh processes and report the ratio of the medians."""
    rates: dict[str, list[float]] = {"e2e": [], "model-only": []}
    for _ in range(repeat):
        for mode in rates:
            out = subprocess.run([sys.executable, __file__, mode, scene, "--model", model, "--batch-size", str(batch)],
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            print(out, flush=True)
            rates[mode].append(json.loads(out)["mp_per_s"])
    e, m = float(np.median(rates["e2e"])), float(np.median(rates["model-only"]))
    print(json.dumps({"mode": "compare", "scene": scene, "e2e_mp_per_s": e, "model_only_mp_per_s": m,
                      "efficiency": e / m}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["e2e", "model-only", "compare"])
    ap.add_argument("scene")
    ap.add_argument("--model", default=str(default_model_path()))
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if args.mode == "compare":
        compare(args.scene, args.model, args.batch_size, args.repeat)
    else:
        fn = e2e if args.mode == "e2e" else model_only
        print(json.dumps(fn(args.scene, args.model, args.batch_size)))


if __name__ == "__main__":
    main()
