"""GDAL's block cache for predict's strips: the plain 8 MiB bound against two block rows of the scene.

Strips of windows overlap and do not line up with the file's blocks (e.g. 256-row tiles at stride 190 against
512-row blocks), so a strip reads block rows the strip before it read; with a cache smaller than a block row of a
wide scene they are decoded again. Runs `predict_scene` in this process on a large DEFLATE-tiled scene, alternating
the two caches (round 0 warms the file cache and is not counted); medians of wall time, and the process's peak RSS.

    .venv/bin/python benchmarks/make_large_scene.py --size 8192 --res 5 -o benchmarks/scenes/naip_8192.tif
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_gdal_cache.py benchmarks/scenes/naip_8192.tif --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from geoclassify import LocalRunner, PredictConfig, SceneOutputs, load_predictor, predict_scene
from geoclassify.io import gdal_cache
from geoclassify.io.gdal_cache import GDAL_CACHE_BYTES

SIZED = gdal_cache.cache_for_strips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="aerial-landcover")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench_cache_")) / "classes.tif"
    runner = LocalRunner(load_predictor(args.model, device="cpu"))
    config = PredictConfig(overwrite=True, resample=False)
    caches = {"8 MiB (the plain bound)": lambda block_row: GDAL_CACHE_BYTES, "two block rows": SIZED}
    seconds: dict[str, list[float]] = {label: [] for label in caches}
    for round_ in range(args.rounds + 1):
        for label, sizing in caches.items():
            gdal_cache.cache_for_strips = sizing  # what bounded_gdal_cache asks
            start = time.perf_counter()
            result = predict_scene(str(args.scene), SceneOutputs(out), runner, config)
            if round_:
                seconds[label].append(time.perf_counter() - start)
    print(f"{args.scene.name}, {args.model}, {args.rounds} rounds; last run: {result.windows} windows")
    for label, runs in seconds.items():
        print(f"| {label} | {statistics.median(runs):.2f} s | min {min(runs):.2f} | max {max(runs):.2f} |")


if __name__ == "__main__":
    main()
