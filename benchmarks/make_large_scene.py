"""Build a large test scene from real imagery by mirror-tiling it (no synthetic pixels).

The source is mirrored in both directions (S | flip(S) / flip(S) | flip(flip(S))) and repeated, so
the result is seamless real texture. Written in strips (bounded memory), tiled and DEFLATE-compressed.

    .venv/bin/python benchmarks/make_large_scene.py --size 32768 -o benchmarks/scenes/naip_32768.tif
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

ROOT = Path(__file__).resolve().parent.parent


def mirror_index(n: int, period: int) -> np.ndarray:
    """Indexes 0..n-1 folded onto a source axis of length `period`, mirrored at each end."""
    i = np.arange(n) % (2 * period)
    return np.where(i < period, i, 2 * period - 1 - i)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, default=ROOT / "examples" / "data" / "naip_farmland.tif")
    ap.add_argument("--bands", default="1,2,3")
    ap.add_argument("--size", type=int, default=32768, help="width and height in pixels")
    ap.add_argument("--res", type=float, default=10.0, help="pixel size to declare, metres")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    bands = [int(b) for b in args.bands.split(",")]
    with rasterio.open(args.source) as src:
        data = src.read(bands)
        crs, origin = src.crs, (src.transform.c, src.transform.f)
    _, h, w = data.shape
    cols = mirror_index(args.size, w)
    profile = dict(driver="GTiff", width=args.size, height=args.size, count=len(bands), dtype=data.dtype.name,
                   crs=crs, transform=Affine(args.res, 0, origin[0], 0, -args.res, origin[1]), tiled=True,
                   blockxsize=512, blockysize=512, compress="deflate", BIGTIFF="YES", NUM_THREADS="ALL_CPUS")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    strip = 512
    with rasterio.open(args.output, "w", **profile) as dst:
        for row in range(0, args.size, strip):
            n = min(strip, args.size - row)
            rows = mirror_index(row + n, h)[row:]
            dst.write(data[:, rows][:, :, cols], window=((row, row + n), (0, args.size)))
    print(f"wrote {args.output}: {args.size}x{args.size}x{len(bands)} from {args.source.name} "
          f"({args.output.stat().st_size / 1e6:.0f} MB, {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
