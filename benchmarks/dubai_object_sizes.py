"""Object sizes in pixels on each tile of the Dubai aerial set: is there one GSD?

For each tile, from the colour masks: road width (twice the distance to the road's edge, at the road's centre lines,
taken as the 90th percentile of the distance inside road pixels) and the median building footprint (square root of
the area of each connected building region of 20 pixels or more). If one GSD held for all tiles, these sizes would
agree within the spread of real roads and buildings; a factor of several between tiles says the tiles were cut at
different zooms, and a model trained on all of them has no single GSD.

    .venv/bin/python benchmarks/dubai_object_sizes.py --scenes benchmarks/scenes/dubai
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage

ROAD, BUILDING = (110, 193, 228), (60, 16, 152)


def colour_mask(rgb: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return (rgb[0] == colour[0]) & (rgb[1] == colour[1]) & (rgb[2] == colour[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", default="benchmarks/scenes/dubai")
    args = parser.parse_args()
    print("| tile | image size (px) | road width p90 x 2 (px) | median building side (px) | buildings |")
    print("|---|---|---|---|---|")
    for tile in range(1, 8):
        widths, sides, sizes = [], [], set()  # sizes: (width, height) of each image
        for path in sorted(Path(args.scenes).glob(f"tile{tile}_part_*_mask.tif")):
            with rasterio.open(path) as ds:
                rgb = ds.read()
            sizes.add((rgb.shape[2], rgb.shape[1]))
            road = colour_mask(rgb, ROAD)
            if road.sum() > 100:
                widths.append(np.percentile(ndimage.distance_transform_edt(road)[road], 90) * 2)
            labels, n = ndimage.label(colour_mask(rgb, BUILDING))
            areas = np.bincount(labels.ravel())[1:]
            sides.extend(np.sqrt(areas[areas >= 20]).tolist())
        road_px = f"{np.median(widths):.0f}" if widths else "-"
        print(f"| {tile} | {min(sizes)} to {max(sizes)} | {road_px} | {np.median(sides):.0f} | {len(sides)} |")


if __name__ == "__main__":
    main()
