"""Windows per model call: each bundled model, each backend, a range of batch sizes, on a real mirror-tiled scene.

`predict_scene` in this process (the model loaded once per backend, outside the timing), the whole scene per run:
reading, the model, blending and writing, as a user's predict does. Rounds alternate the batch sizes; medians.
Prints, per model and backend, Mpx/s of scene per batch size ("budget": none given, the default pixel budget of
geoclassify.inference.batching decides), the best one and how far each is from it.

    .venv/bin/python benchmarks/make_large_scene.py --size 2048 --res 5 -o benchmarks/scenes/naip_2048.tif
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_batch.py benchmarks/scenes/naip_2048.tif --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import rasterio

from geoclassify import LocalRunner, PredictConfig, SceneOutputs, load_predictor, predict_scene
from geoclassify.models.bundled import BUNDLED, bundled_path
from geoclassify.models.files import read_model_card

BATCHES = (0, 1, 2, 4, 8, 16, 32, 64, 128)  # 0: no --batch-size, the pixel budget decides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=list(BUNDLED))
    parser.add_argument("--backends", nargs="*", default=["onnx", "torch"])
    parser.add_argument("--batches", type=int, nargs="*", default=list(BATCHES))
    parser.add_argument("--stride", type=int, help="Chip classifiers' stride (default: the chip size).")
    args = parser.parse_args()
    with rasterio.open(args.scene) as src:
        mpx = src.width * src.height / 1e6
    out = Path(tempfile.mkdtemp(prefix="bench_batch_")) / "classes.tif"
    print(f"scene {args.scene.name}: {mpx:.1f} Mpx; rounds {args.rounds}")
    print("| model | backend | window | " + " | ".join(f"batch {b}" if b else "budget" for b in args.batches)
          + " | best | best px/call |")
    print("|---|---|---|" + "---|" * len(args.batches) + "---|---|")
    for name in args.models:
        card = read_model_card(bundled_path(name))
        for backend in args.backends:
            runner = LocalRunner(load_predictor(name, device="cpu", backend=backend))
            seconds: dict[int, list[float]] = {b: [] for b in args.batches}
            for round_ in range(args.rounds + 1):  # round 0 warms up
                for batch in args.batches:
                    config = PredictConfig(batch_size=batch or None, overwrite=True, stride=args.stride)
                    start = time.perf_counter()
                    predict_scene(str(args.scene), SceneOutputs(out), runner, config)
                    if round_:
                        seconds[batch].append(time.perf_counter() - start)
            rate = {b: mpx / statistics.median(s) for b, s in seconds.items()}
            best = max((b for b in rate if b), key=rate.__getitem__)
            cells = " | ".join(f"{rate[b]:.2f} ({rate[b] / rate[best] - 1:+.0%})" for b in args.batches)
            print(f"| {name} | {backend} | {card.tile_size} px | {cells} | {best} | {best * card.tile_size ** 2} |",
                  flush=True)


if __name__ == "__main__":
    main()
