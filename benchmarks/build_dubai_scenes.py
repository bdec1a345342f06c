"""The Dubai aerial segmentation set as tiled GeoTIFF scenes, and the training config that lists them.

Each of the 63 JPG images (7 tiles x 9 parts) and its colour mask (PNG) is copied unchanged, pixel for pixel, into
a tiled, deflated GeoTIFF named after its tile (`tile6_part_004.tif`, `tile6_part_004_mask.tif`): JPG decoding
cannot jump to a window, and the parts of different tiles share file names. Neither has georeferencing.
The config (examples/configs/dubai_landcover.yaml) holds the scenes of every tile; one tile is the test set
(`data.test_groups`), the blocks of the others go to training or validation.

    .venv/bin/python benchmarks/build_dubai_scenes.py --data ../shared/data/dubai-aerial-seg \
        --out benchmarks/scenes/dubai
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image

GTIFF = {"driver": "GTiff", "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
         "interleave": "pixel"}
PART = re.compile(r"image_part_(\d+)\.jpg$")


def copy_rgb(source: Path, target: Path) -> np.ndarray:
    """Copy `source` as RGB (a paletted mask through its palette) into a tiled GeoTIFF `target`; returns the
    pixels, (3, h, w) uint8."""
    with Image.open(source) as image:
        pixels = np.asarray(image.convert("RGB")).transpose(2, 0, 1)
    tmp = target.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", width=pixels.shape[2], height=pixels.shape[1], count=3, dtype="uint8",
                       **GTIFF) as out:
        out.write(pixels)
    tmp.replace(target)
    return pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/dubai-aerial-seg")
    parser.add_argument("--out", default="benchmarks/scenes/dubai")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for tile in sorted(Path(args.data).glob("Tile */")):
        number = tile.name.split()[-1]
        for image in sorted((tile / "images").glob("image_part_*.jpg")):
            part = PART.search(image.name).group(1)  # type: ignore[union-attr]
            stem = f"tile{number}_part_{part}"
            rgb = copy_rgb(image, out / f"{stem}.tif")
            mask = copy_rgb(tile / "masks" / f"image_part_{part}.png", out / f"{stem}_mask.tif")
            if rgb.shape != mask.shape:
                raise SystemExit(f"{image}: image {rgb.shape} and mask {mask.shape} differ")
            print(f"{stem}: {rgb.shape[2]} x {rgb.shape[1]}")


if __name__ == "__main__":
    main()
