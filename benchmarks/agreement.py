"""Share of valid pixels on which two classification rasters (same grid) agree, read block by block.

    .venv/bin/python benchmarks/agreement.py torch.tif onnx.tif
"""

from __future__ import annotations

import argparse

import rasterio


def agreement(a_path: str, b_path: str) -> tuple[int, int]:
    """(agreeing pixels, pixels valid in both); nodata is the rasters' nodata value (255)."""
    same = total = 0
    with rasterio.open(a_path) as a, rasterio.open(b_path) as b:
        if (a.width, a.height, a.transform) != (b.width, b.height, b.transform):
            raise SystemExit(f"{a_path} and {b_path} are not on the same grid")
        for _, window in a.block_windows(1):
            x, y = a.read(1, window=window), b.read(1, window=window)
            valid = (x != a.nodata) & (y != b.nodata)
            same += int((x[valid] == y[valid]).sum())
            total += int(valid.sum())
    return same, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    args = parser.parse_args()
    same, total = agreement(args.a, args.b)
    print(f"{same} of {total} pixels agree: {same / max(total, 1):.5%}")


if __name__ == "__main__":
    main()
