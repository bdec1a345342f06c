"""Reading a scene that must be resampled: geoclassify's StripReader against a GDAL WarpedVRT over the same
working grid (how geoclassify read resampled scenes before issue 16, without carrying the validity across).

    .venv/bin/python benchmarks/bench_resampled_read.py --make /tmp/bench_5m.tif        # once: a 5 m scene
    .venv/bin/python benchmarks/bench_resampled_read.py --reader strips --scene /tmp/bench_5m.tif
    .venv/bin/python benchmarks/bench_resampled_read.py --reader warpedvrt --scene /tmp/bench_5m.tif
    .venv/bin/python benchmarks/bench_resampled_read.py --compare --scene /tmp/bench_5m.tif --runs 3

The scene is the NAIP demo scene (5 m, bands 1-3) mirror-tiled to --size pixels, with an internal mask over
its lower right eighth. Both readers read the 10 m working grid in strips of 256 rows, full width, two threads
(StripReader's column chunks; the WarpedVRT reads the same chunks in two threads with one handle each), data and
validity. `--compare` runs both readers alternately in fresh processes and prints each run and the median
ratio. Prints one JSON line per run: seconds, working-grid megapixels per second, valid share.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geoclassify.io.reader import CHUNK_WIDTH, StripReader
from geoclassify.models.card import ModelCard

ROOT = Path(__file__).resolve().parent.parent
NAIP = ROOT / "examples" / "data" / "naip_farmland.tif"
ROWS = 256


def make_scene(path: Path, size: int) -> None:
    """The NAIP demo scene mirror-tiled to size x size at 5 m, tiled GeoTIFF, internal mask on the last eighth."""
    with rasterio.open(NAIP) as src:
        tile = src.read((1, 2, 3))
        profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs=src.crs,
                       transform=src.transform, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    reps = (-(-size // tile.shape[1]) + 1, -(-size // tile.shape[2]) + 1)
    big = np.block([[tile[:, ::1 - 2 * (i % 2), ::1 - 2 * (j % 2)] for j in range(reps[1])] for i in range(reps[0])])
    mask = np.full((size, size), 255, np.uint8)
    mask[size * 3 // 4:, size // 2:] = 0
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(big[:, :size, :size])
        dst.write_mask(mask)


def scene_plan(path: Path):
    from geoclassify.inference.scene import open_scene

    card = ModelCard(architecture="compact_cnn", task="classification", class_names=("a", "b"),
                     class_colors=((0, 0, 0), (1, 1, 1)), bands=(1, 2, 3), mean=(0, 0, 0), std=(1, 1, 1),
                     tile_size=64, gsd=10.0)
    return open_scene(path, card)


def read_strips(path: Path) -> tuple[float, float]:
    scene = scene_plan(path)
    valid_pixels = 0
    with StripReader(scene, 2) as reader:
        for row in range(0, scene.grid.height, ROWS):
            height = min(ROWS, scene.grid.height - row)
            _, valid = reader.collect(reader.submit_strip(row, height, 0, scene.grid.width))
            valid_pixels += int(valid.sum())
    return scene.grid.width * scene.grid.height, valid_pixels


def read_warpedvrt(path: Path) -> tuple[float, float]:
    scene = scene_plan(path)
    g = scene.grid
    local = threading.local()

    def chunk(row: int, height: int, col: int) -> int:
        if not hasattr(local, "vrt"):
            local.vrt = WarpedVRT(rasterio.open(path), crs=g.crs, transform=g.transform, width=g.width,
                                  height=g.height, resampling=Resampling.average)
        window = Window(col, row, min(CHUNK_WIDTH, g.width - col), height)
        local.vrt.read((1, 2, 3), window=window)
        return int((local.vrt.read_masks((1, 2, 3), window=window).max(axis=0) > 0).sum())

    valid_pixels = 0
    with ThreadPoolExecutor(2) as pool:
        for row in range(0, g.height, ROWS):
            height = min(ROWS, g.height - row)
            valid_pixels += sum(pool.map(lambda c: chunk(row, height, c), range(0, g.width, CHUNK_WIDTH)))
    return g.width * g.height, valid_pixels


def run_one(reader: str, scene: Path) -> dict:
    start = time.perf_counter()
    pixels, valid = (read_strips if reader == "strips" else read_warpedvrt)(scene)
    seconds = time.perf_counter() - start
    return {"reader": reader, "seconds": round(seconds, 2), "mpix_per_s": round(pixels / seconds / 1e6, 2),
            "valid_share": round(valid / pixels, 4)}


def compare(scene: Path, runs: int) -> None:
    times: dict[str, list[float]] = {"strips": [], "warpedvrt": []}
    for _ in range(runs):
        for reader in times:
            out = subprocess.run([sys.executable, __file__, "--reader", reader, "--scene", str(scene)],
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            print(out, flush=True)
            times[reader].append(json.loads(out)["seconds"])
    ratio = statistics.median(s / w for s, w in zip(times["strips"], times["warpedvrt"]))
    print(json.dumps({"median_seconds": {k: statistics.median(v) for k, v in times.items()},
                      "strips_over_warpedvrt": round(ratio, 2)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make", type=Path, help="write the 5 m benchmark scene here")
    parser.add_argument("--size", type=int, default=8192, help="scene size in pixels (default 8192: 41 km at 5 m)")
    parser.add_argument("--scene", type=Path)
    parser.add_argument("--reader", choices=["strips", "warpedvrt"])
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.make:
        make_scene(args.make, args.size)
    elif args.compare:
        compare(args.scene, args.runs)
    else:
        print(json.dumps(run_one(args.reader, args.scene)))


if __name__ == "__main__":
    main()
