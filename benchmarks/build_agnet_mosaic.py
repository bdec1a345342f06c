"""Rebuild the Ag-Net Landsat 8 scene and its CDL label raster as mosaics: two VRTs, then two tiled GeoTIFFs.

Tiles carry no georeferencing; tile (row, col) goes at pixel (row * 128, col * 128); missing tiles
are holes (label 0 = nodata in examples/cdl_agricultural.yaml). The VRTs copy no pixels, but each
lists 9,205 source files and costs about 22 MiB in every process that opens it (each DataLoader
worker); the GeoTIFFs (same pixels, deflate, 256-pixel tiles, 46 MB, about 12 s to write) cost almost
nothing to open, and the training config reads them. `--vrt-only` stops after the VRTs.

    .venv/bin/python benchmarks/build_agnet_mosaic.py --data ../shared/data/agnet-landsat8-cdl --out benchmarks/scenes
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import rasterio
import rasterio.shutil

TILE = 128
GTIFF_OPTIONS = {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
                 "predictor": 2, "interleave": "pixel"}
PATTERN = re.compile(r"cdl_(\d+)_(\d+)_(\d+)\.tif$")


def source(path: Path, row: int, col: int) -> str:
    return (f'    <SimpleSource><SourceFilename relativeToVRT="0">{path.resolve()}</SourceFilename>'
            f'<SourceBand>1</SourceBand><SrcRect xOff="0" yOff="0" xSize="{TILE}" ySize="{TILE}"/>'
            f'<DstRect xOff="{col * TILE}" yOff="{row * TILE}" xSize="{TILE}" ySize="{TILE}"/></SimpleSource>\n')


def vrt(width: int, height: int, bands: list[list[str]]) -> str:
    body = "".join(f'  <VRTRasterBand dataType="Byte" band="{i}">\n{"".join(srcs)}  </VRTRasterBand>\n'
                   for i, srcs in enumerate(bands, start=1))
    return f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n{body}</VRTDataset>\n'


def write_geotiff(vrt_path: Path) -> Path:
    """Copy a VRT mosaic into a tiled GeoTIFF beside it (written under a temporary name, then renamed)."""
    final = vrt_path.with_suffix(".tif")
    partial = vrt_path.with_suffix(".partial.tif")
    try:
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            rasterio.shutil.copy(vrt_path, partial, driver="GTiff", **GTIFF_OPTIONS)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(final)
    return final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/agnet-landsat8-cdl"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/scenes"))
    ap.add_argument("--vrt-only", action="store_true", help="write the VRTs only, no GeoTIFFs")
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
    mosaics = {"agnet_landsat8.vrt": image_bands, "agnet_cdl.vrt": labels}
    for name, bands in mosaics.items():
        (args.out / name).write_text(vrt(width, height, bands))
    print(f"{len(tiles)} tiles -> {width}x{height} VRT mosaics in {args.out}")
    if not args.vrt_only:
        for name in mosaics:
            print(f"wrote {write_geotiff(args.out / name)}")


if __name__ == "__main__":
    main()
