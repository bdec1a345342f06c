"""geoclassify side by side with the plain loop a user would write (benchmarks/plain_loop.py): whole commands.

Same model (the bundled agri-s2-rgb), same grid (one class per 64-px chip), same threads, the same backend on
both sides; scenes mirror-tiled from the shipped NAIP scene at 10 m (the model's GSD: no resampling). Fresh
processes, alternating, the first round not counted; wall and CPU seconds and peak RSS from /usr/bin/time,
medians; the agreement of the two outputs, class by class.

    for n in 512 4096; do .venv/bin/python benchmarks/make_large_scene.py --size $n --res 10 \\
        -o benchmarks/scenes/naip_${n}_10m.tif; done
    .venv/bin/python benchmarks/bench_peers.py benchmarks/scenes/naip_512_10m.tif benchmarks/scenes/naip_4096_10m.tif

TorchGeo's GridGeoSampler loop, geo-inference and GeoDeep (issue 20, item 5) are not run by this script: they need
venvs of their own, and GeoDeep and geo-inference fetch their models from the internet, which this machine has not.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import rasterio

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(command: list[str]) -> tuple[float, float, float]:
    """(wall s, user + sys s, peak RSS MiB) of a command."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", *command], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{command} failed: {proc.stderr[-2000:]}")
    wall, user, system, rss = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), int(rss) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenes", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", nargs="*", default=["torch", "onnx"])
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench_peers_"))
    print("| scene | backend | command | wall s | CPU s | peak RSS MiB | geoclassify / plain (wall) | same class |")
    print("|---|---|---|---|---|---|---|---|")
    for scene in args.scenes:
        with rasterio.open(scene) as src:
            size = f"{src.width} x {src.height}"
        for backend in args.backends:
            commands = {
                "geoclassify predict": [str(BIN / "geoclassify"), "-q", "predict", str(scene), "-o",
                                        str(out / "gc.tif"), "--overwrite", "--backend", backend],
                "plain loop": [sys.executable, str(ROOT / "benchmarks" / "plain_loop.py"), str(scene),
                               str(out / "plain.tif"), "--backend", backend],
            }
            figures: dict[str, list[tuple[float, float, float]]] = {k: [] for k in commands}
            for round_ in range(args.rounds + 1):
                for label, command in commands.items():
                    measured = timed(command)
                    if round_:
                        figures[label].append(measured)
            with rasterio.open(out / "gc.tif") as a, rasterio.open(out / "plain.tif") as b:
                same = float((a.read(1) == b.read(1)).mean()) if a.shape == b.shape else float("nan")
            medians = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in figures.items()}
            ratio = medians["geoclassify predict"][0] / medians["plain loop"][0]
            for label, (wall, cpu, rss) in medians.items():
                extra = f"{ratio:.2f} | {same:.2%}" if label == "plain loop" else " | "
                print(f"| {size} | {backend} | {label} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {extra} |", flush=True)


if __name__ == "__main__":
    main()
