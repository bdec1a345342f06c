"""Fine chip maps: a chip classifier fully convolutionally (features once per tile, averaged per chip) against
chip by chip, for agreement on real scenes and for speed (issue 20, item 4).

Agreement (`--part agreement`): the default model on each real scene at each stride, both ways, `predict_scene` in
this process; the share of output pixels given the same class (where both give one), split into chips wholly inside
the scene and chips that reach past its edge, and the mean absolute difference of the agricultural probability.

Speed (`--part speed`): one scene, each stride, both ways, rounds alternating, medians of wall seconds (model
loaded once per backend, outside the timing; the whole prediction: reads, model, writes).

    .venv/bin/python benchmarks/fine_chip_maps.py --part agreement examples/data/naip_farmland.tif \\
        ../shared/data/opengeos-naip/*.tif ../shared/data/rasterio-testdata/RGB.byte.tif
    .venv/bin/python benchmarks/make_large_scene.py --size 4096 --res 10 -o benchmarks/scenes/naip_4096_10m.tif
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/fine_chip_maps.py --part speed benchmarks/scenes/naip_4096_10m.tif
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

from geoclassify import LocalRunner, PredictConfig, SceneOutputs, load_predictor, predict_scene
from geoclassify.geo.tiling import chip_starts

STRIDES = (64, 32, 16, 8)
WAYS = {"chip by chip": False, "fully convolutional": True}


def inside_chips(height: int, width: int, chip: int, stride: int) -> np.ndarray:
    """(output rows, output cols) bool: the chips that lie wholly inside a scene of height x width pixels."""
    def axis(length: int) -> np.ndarray:
        starts = np.asarray(chip_starts(length, chip, stride))
        return (starts >= 0) & (starts + chip <= length)
    return axis(height)[:, None] & axis(width)[None, :]


def predict(scene: Path, out: Path, runner: LocalRunner, stride: int, dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """Classes and float32 probabilities of the scene (written to `out`)."""
    config = PredictConfig(stride=stride, fully_convolutional=dense, overwrite=True, probabilities_dtype="float32")
    probabilities = out.with_name(out.stem + "_p.tif")
    predict_scene(str(scene), SceneOutputs(out, probabilities), runner, config)
    with rasterio.open(out) as a, rasterio.open(probabilities) as p:
        return a.read(1), p.read()


def agreement(scenes: list[Path], strides: list[int], backend: str, out: Path) -> None:
    runner = LocalRunner(load_predictor("agri-s2-rgb", device="cpu", backend=backend))
    chip = runner.card.tile_size
    print("| scene | stride | output pixels | same class | same class, chips inside | same class, chips at the "
          "edge | mean abs. difference of p(agricultural) | agricultural: chip by chip / fully conv. |")
    print("|---|---|---|---|---|---|---|---|")
    for scene in scenes:
        for stride in strides:
            (a, pa), (b, pb) = (predict(scene, out / f"{way}.tif", runner, stride, dense) for way, dense in
                                (("chips", False), ("dense", True)))
            both = (a != 255) & (b != 255)
            with rasterio.open(out / "chips.tif") as src:  # the working grid is the scene at the model's GSD
                grid_h, grid_w = src.height * stride, src.width * stride
            inside = inside_chips(grid_h, grid_w, chip, stride)[: a.shape[0], : a.shape[1]]
            same = a == b

            def share(mask: np.ndarray) -> str:
                return f"{same[mask].mean():.1%}" if mask.any() else "-"
            diff = float(np.abs(pa[1] - pb[1])[both].mean())
            agri = f"{(a[both] == 1).mean():.1%} / {(b[both] == 1).mean():.1%}"
            print(f"| {scene.name} | {stride} | {int(both.sum())} | {share(both)} | {share(both & inside)} | "
                  f"{share(both & ~inside)} | {diff:.3f} | {agri} |", flush=True)


def speed(scene: Path, strides: list[int], backend: str, rounds: int, out: Path) -> None:
    runner = LocalRunner(load_predictor("agri-s2-rgb", device="cpu", backend=backend))
    with rasterio.open(scene) as src:
        mpx = src.width * src.height / 1e6
    print(f"{scene.name}: {mpx:.1f} Mpx, {backend}, medians of {rounds} rounds (one more not counted)")
    print("| stride | chip by chip s | fully convolutional s | speed-up |")
    print("|---|---|---|---|")
    for stride in strides:
        seconds: dict[str, list[float]] = {way: [] for way in WAYS}
        for round_ in range(rounds + 1):
            for way, dense in WAYS.items():
                config = PredictConfig(stride=stride, fully_convolutional=dense, overwrite=True)
                start = time.perf_counter()
                predict_scene(str(scene), SceneOutputs(out / "classes.tif"), runner, config)
                if round_:
                    seconds[way].append(time.perf_counter() - start)
        chips, dense_s = (statistics.median(seconds[way]) for way in WAYS)
        print(f"| {stride} | {chips:.2f} | {dense_s:.2f} | {chips / dense_s:.1f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenes", nargs="+", type=Path)
    parser.add_argument("--part", choices=["agreement", "speed"], required=True)
    parser.add_argument("--strides", type=int, nargs="*", default=list(STRIDES))
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="fine_chip_maps_"))
    if args.part == "agreement":
        agreement(args.scenes, args.strides, args.backend, out)
    else:
        speed(args.scenes[0], args.strides, args.backend, args.rounds, out)


if __name__ == "__main__":
    main()
