"""Sentinel-2 scenes and products rebuilt from the real chips of ../shared/data/agri-s2-chips, for
benchmarks/bench_products.py.

The chips are 64 x 64 JPGs cut from the L2A true colour (TCI) of tiles T32UPE and T32UQB (2025-04-27, processing
baseline N0511); chip i of a tile lies at row i // 172, column i % 172 of its 64-pixel grid. Each of the default
model's held-out test blocks (scripts/train_default_model.py: 43 x 43-chip blocks with (block row + block column)
% 4 == 0; four per tile) becomes one scene of 2752 x 2752 pixels, written in OUT/<tile>_<block row><block col>/:

- `tci.tif`: the 8-bit mosaic (chips missing from the folder are holes: nodata 0; real 0s raised to 1, as the
  TCI keeps 0 for no data);
- `l2a/`: its Sentinel-2 L2A band COGs (B04, B03, B02, B08 and a 20 m B11; B08 and B11 hold green pixels, as
  stand-ins) and STAC item, the DNs rebuilt from the 8-bit values (tests.archive_products);
- `landsat/`: the same pixels as Landsat C2 L2 SR_B4, SR_B3, SR_B2 and their item;
- `labels.json`: each chip of the block: row and column (in chips, within the block) and its folder label.

Georeferencing: EPSG:32632 (UTM 32N), 10 m pixels, the tile's upper-left corner at the west and north edges of
its MGRS 100 km square. Zone 32 is in column set 2, whose letters J..R are eastings 100..800 km: P = 600 km,
Q = 700 km. Row letters A..V (no I, O) repeat every 2,000 km and, in even zones, start at F at the equator: E is
(4 - 5) mod 20 = 19, the square from 5,900 km (latitude band U, 48-56 N), north edge 6,000 km; B is
(1 - 5) mod 20 = 16, from 5,600 km, north edge 5,700 km. Sentinel-2 tiles start at those edges, their corners
on a 60 m grid (so T32UQB's easting is 699,960 m), and extend 109.8 km east and south.

    .venv/bin/python benchmarks/build_s2_products.py --data ../shared/data/agri-s2-chips --out /tmp/s2-products
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from affine import Affine
from PIL import Image
from rasterio.crs import CRS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.archive_products import write_landsat_c2_l2_product, write_s2_l2a_product, write_tci  # noqa: E402

GRID, BLOCK, CHIP = 172, 43, 64
TILE_CORNERS = {"T32UPE": (600_000.0, 6_000_000.0), "T32UQB": (699_960.0, 5_700_000.0)}
NAME = re.compile(r"_(T\d\d[A-Z]{3})_.*_(\d+)\.jpg$")


def chips_of(data: Path) -> dict[str, dict[tuple[int, int], tuple[Path, str]]]:
    """Per tile, (chip row, chip column) -> (the JPG, its folder label)."""
    out: dict[str, dict[tuple[int, int], tuple[Path, str]]] = {}
    for label in ("agri", "non_agri"):
        for path in sorted((data / label).glob("*.jpg")):
            match = NAME.search(path.name)
            if match:
                index = int(match.group(2))
                out.setdefault(match.group(1), {})[(index // GRID, index % GRID)] = (path, label)
    return out


def test_blocks() -> list[tuple[int, int]]:
    """(block row, block column) of the held-out test blocks of a tile."""
    blocks = GRID // BLOCK
    return [(r, c) for r in range(blocks) for c in range(blocks) if (r + c) % 4 == 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/agri-s2-chips"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/s2-products"))
    args = parser.parse_args()
    crs = CRS.from_epsg(32632)
    for tile, chips in sorted(chips_of(args.data).items()):
        for block_row, block_col in test_blocks():
            row0, col0 = block_row * BLOCK, block_col * BLOCK
            folder = args.out / f"{tile}_{block_row}{block_col}"
            write_block(folder, tile, chips, row0, col0, crs)


def write_block(folder: Path, tile: str, chips: dict[tuple[int, int], tuple[Path, str]], row0: int, col0: int,
                crs: CRS) -> None:
    """The scene and products of the BLOCK x BLOCK chips from chip (row0, col0) of `tile`, in `folder`."""
    size = BLOCK * CHIP
    rgb = np.zeros((3, size, size), np.uint8)
    valid = np.zeros((size, size), bool)
    labels = []
    for (row, col), (path, label) in chips.items():
        r, c = row - row0, col - col0
        if 0 <= r < BLOCK and 0 <= c < BLOCK:
            pixels = np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)
            rgb[:, r * CHIP:(r + 1) * CHIP, c * CHIP:(c + 1) * CHIP] = np.maximum(pixels, 1)
            valid[r * CHIP:(r + 1) * CHIP, c * CHIP:(c + 1) * CHIP] = True
            labels.append({"row": r, "col": c, "label": label, "chip": path.name})
    west, north = TILE_CORNERS[tile]
    transform = Affine(10, 0, west + col0 * CHIP * 10, 0, -10, north - row0 * CHIP * 10)
    folder.mkdir(parents=True, exist_ok=True)
    write_tci(folder / "tci.tif", rgb, valid, transform, crs)
    write_s2_l2a_product(folder / "l2a", rgb, valid, transform, crs, item_id=f"S2A_MSIL2A_20250427_{folder.name}")
    write_landsat_c2_l2_product(folder / "landsat", rgb, valid, transform, crs)
    (folder / "labels.json").write_text(json.dumps(labels, indent=1))
    agri = sum(label["label"] == "agri" for label in labels)
    print(f"{folder.name}: chips from row {row0}, column {col0} ({size} x {size} px): {len(labels)} chips "
          f"({agri} agri, {len(labels) - agri} non-agri), {1 - len(labels) / BLOCK**2:.0%} holes")

if __name__ == "__main__":
    main()
