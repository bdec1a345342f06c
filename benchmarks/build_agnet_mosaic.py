"""Rebuild the Ag-Net Landsat 8 scene and its CDL label raster as two VRT mosaics (no pixels copied).

Tiles carry no georeferencing; tile (row, col) goes at pixel (row * 128, col * 128); missing tiles
are holes (label 0 = nodata in examples/cdl_agricultural.yaml).

    .venv/bin/python benchmarks/build_agnet_mosaic.py --data ../shared/data/agnet-landsat8-cdl --out benchmarks/scenes
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

TILE = 128
PATTERN = re.compile(r"cdl_(\d+)_(\d+)_(\d+)\.tif$")


def source(path: Path, row: int, col: int) -> str:
    return (f'    <SimpleSource><SourceFilename relativeToVRT="0">{path.resolve()}</SourceFilename>'
            f'<SourceBand>1</SourceBand><SrcRect xOff="0" yOff="0" xSize="{TILE}" ySize="{TILE}"/>'
            f'<DstRect xOff="{col * TILE}" yOff="{row * TILE}" xSize="{TILE}" ySize="{TILE}"/></SimpleSource>\n')


def vrt(width: int, height: int, bands: list[list[str]]) -> str:
    body = "".join(f'  <VRTRasterBand dataType="Byte" band="{i}">\n{"".join(srcs)}  </VRTRasterBand>\n'
                   for i, srcs in enumerate(bands, start=1))
    return f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n{body}</VRTDataset>\n'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/agnet-landsat8-cdl"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/scenes"))
    args = ap.parse_args()
    tiles = []
    for path in sorted((args.data / "target").glob("cdl_*.tif")):
        date, row, col = PATTERN.search(path.name).groups()
        tiles.append((date, int(row), int(col)))
    height = (max(r for _, r, _ in tiles) + 1) * TILE
    width = (max(c for _, _, c in tiles) + 1) * TILE
    image_bands = [[source(args.data / "input" / f"lc8_{d}_{r}_{c}_{b}.tif", r, c) for d, r, c in tiles]
                   for b in range(1, 8)]
    labels = [[source(args.data / "target" / f"cdl_{d}_{r}_{c}.tif", r, c) for d, r, c in tiles]]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "agnet_landsat8.vrt").write_text(vrt(width, height, image_bands))
    (args.out / "agnet_cdl.vrt").write_text(vrt(width, height, labels))
    print(f"{len(tiles)} tiles -> {width}x{height} mosaics in {args.out}")


if __name__ == "__main__":
    main()
