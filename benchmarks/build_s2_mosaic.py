"""Mosaic real Sentinel-2 L2A true-colour chips back onto their tile's grid, in held-out test blocks, and write the
8-bit scene and its L2A-like (and Landsat C2 L2-like) products: inputs for benchmarks of predicting on products.

    .venv/bin/python benchmarks/build_s2_mosaic.py --out /tmp/s2-products

Source: ../shared/data/agri-s2-chips/{agri,non_agri}/*.jpg, 5,509 64 x 64 RGB chips cut from the TCI of
S2A_MSIL2A_20250427T101701_N0511_R065, tiles T32UPE and T32UQB (processing baseline 05.11). A chip's file name
ends in its index i on the tile's 64-px grid: chip row = i // 172, col = i % 172.

Windows: the default model's split (scripts/train_default_model.py, `split_of` and GRID/BLOCK, read from that file
so the two cannot drift) cuts each tile's 172 x 172 chip grid into 4 x 4 blocks of 43 x 43 chips; blocks with
(block_row + block_col) % 4 == 0 are test: (0, 0), (1, 3), (2, 2), (3, 1). In every test block of a tile, each
16 x 16-chip window (1024 x 1024 px) that lies wholly inside the block and inside the tile's 10,980 px is scored
by its number of chips; the densest one of each tile is written (ties: the smallest row, then column). Both tiles
have test blocks, so there are two windows. Chips absent from the folder (the source kept about one chip in ten)
are holes: no data.

Georeferencing: the Sentinel-2 tile grid, UTM zone 32N (EPSG:32632), 10 m pixels, origin from the MGRS 100 km
square of the tile name (WGS 84, MGRS "AA" lettering):
- column letter: zones 2, 5, ..., 32 (zone % 3 == 2) use the set J K L M N P Q R (I and O skipped) for eastings
  100 to 800 km, so P = 600 km and Q = 700 km: the square's west edge.
- row letter: 20 letters A..V without I and O, repeating every 2,000 km of northing; in even zones the lettering
  starts at F at the equator (odd zones at A). So in zone 32 the letter of the square whose south edge is k x
  100 km is letters[(k + 5) % 20]: E (index 4) is k = 19, 39, 59, ...; B (index 1) is k = 16, 36, 56, ....
  Latitude band U is 48 N - 56 N, northings about 5,317 - 6,207 km in zone 32 (pyproj: 48 N and 56 N at 9 E),
  which holds only k = 59 for E (5,900 - 6,000 km) and k = 56 for B (5,600 - 5,700 km). The north edges are
  6,000 km (32UPE) and 5,700 km (32UQB).
- a Sentinel-2 tile covers 109.8 km east and south from the square's north-west corner, that corner moved out to
  the nearest node of a 60 m grid (the tile's 60 m pixels lie on multiples of 60 m): x = floor(west / 60) x 60,
  y = ceil(north / 60) x 60. Real products show it: T39MXR (600000, 9600040), T53JQJ (699960, 6900040) and a
  T28 tile (300000, 2300040) in Digital Earth Africa's metadata, T31TCJ (300000, 4900020), T10SEG (499980,
  4200000). Hence T32UPE: (600000, 6000000), exactly the square's corner; T32UQB: (699960, 5700000), 40 m west
  of the square's west edge.
- pyproj check of the result: the two corners fall in zone 32 band U, at 54.1 N 10.5 E (T32UPE: Schleswig-
  Holstein / Mecklenburg) and 51.4 N 11.9 E (T32UQB: Saxony-Anhalt / Saxony / Thuringia).

Written per window, in OUT/{tile}_r{row}_c{col} (row, col: the window's first chip on the tile's grid):
- tci.tif: the 8-bit RGB scene (tests.products.write_tci: nodata 0 in the holes, real 0 raised to 1);
- l2a/: B02, B03, B04, B08, B11 COGs and item.json (tests.products.write_s2_l2a_product, baseline 05.11; B08 and
  B11 hold the green band's DNs as stand-ins: the chips have no NIR or SWIR);
- landsat/: SR_B2, SR_B3, SR_B4 COGs and item.json (tests.products.write_landsat_c2_l2_product; same pixels,
  same 10 m grid);
- labels.json: a list of {"row", "col" (chip within the window), "label" ("agri" or "non_agri"), "chip"}.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from affine import Affine
from PIL import Image
from pyproj import Transformer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.products import write_landsat_c2_l2_product, write_s2_l2a_product, write_tci  # noqa: E402

CHIP, WINDOW = 64, 16  # chip size in pixels, window size in chips
TILE_PX, PIXEL = 10980, 10.0  # a Sentinel-2 tile: 10,980 pixels of 10 m
LABELS = ("agri", "non_agri")
NAME = re.compile(r"_(T\d\d[A-Z]{3})_.*_(\d+)\.jpg$")
ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"  # MGRS row letters, I and O skipped
COLUMN_SETS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")  # zone % 3 == 1, 2, 0
BANDS = {"C": -80, "D": -72, "E": -64, "F": -56, "G": -48, "H": -40, "J": -32, "K": -24, "L": -16, "M": -8,
         "N": 0, "P": 8, "Q": 16, "R": 24, "S": 32, "T": 40, "U": 48, "V": 56, "W": 64, "X": 72}  # south edge, deg


def load_split(script: Path = ROOT / "scripts" / "train_default_model.py") -> tuple[Callable[..., str], int, int]:
    """`split_of`, GRID and BLOCK of the training script, taken from its source (it imports torch and geoclassify;
    these do not)."""
    tree = ast.parse(script.read_text())
    keep = [node for node in tree.body
            if (isinstance(node, ast.FunctionDef) and node.name == "split_of")
            or (isinstance(node, ast.Assign) and any(isinstance(t, ast.Tuple) and "GRID" in ast.unparse(t)
                                                     for t in node.targets))]
    namespace: dict = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(script), "exec"), namespace)
    return namespace["split_of"], namespace["GRID"], namespace["BLOCK"]


def tile_origin(tile: str) -> tuple[int, float, float]:
    """(EPSG code, x, y) of a Sentinel-2 tile's upper-left corner, from its MGRS name ("T32UPE"); northern
    hemisphere only. See the module docstring for the derivation."""
    zone, band, column, row = int(tile[1:3]), tile[3], tile[4], tile[5]
    if band < "N":
        raise ValueError(f"{tile}: southern hemisphere tiles are not handled here")
    west = (COLUMN_SETS[zone % 3 - 1].index(column) + 1) * 100_000
    shift = 5 if zone % 2 == 0 else 0
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{32600 + zone}", always_xy=True)
    central = 6 * zone - 183
    band_south = to_utm.transform(central, BANDS[band])[1]
    band_north = to_utm.transform(central, BANDS[band] + 8)[1]
    squares = [k for k in range(100) if ROW_LETTERS[(k + shift) % 20] == row and
               band_south - 100_000 < k * 100_000 < band_north]
    if len(squares) != 1:
        raise ValueError(f"{tile}: row letter {row} gives squares {squares} in band {band}")
    north = (squares[0] + 1) * 100_000
    return 32600 + zone, math.floor(west / 60) * 60.0, math.ceil(north / 60) * 60.0


@dataclass(frozen=True)
class Chip:
    path: Path
    tile: str
    row: int
    col: int
    label: str


def read_chips(data: Path) -> list[Chip]:
    chips = []
    for label in LABELS:
        for path in sorted((data / label).glob("*.jpg")):
            match = NAME.search(path.name)
            if match is None:
                raise SystemExit(f"unexpected chip name {path.name}")
            index = int(match.group(2))
            chips.append(Chip(path, match.group(1), index // 172, index % 172, label))
    return chips


def window_counts(present: np.ndarray) -> np.ndarray:
    """Chips of `present` (bool chip grid, (n, n)) in the WINDOW x WINDOW window at each first chip (r, c)."""
    counts = np.pad(present.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return counts[WINDOW:, WINDOW:] - counts[:-WINDOW, WINDOW:] - counts[WINDOW:, :-WINDOW] + counts[:-WINDOW, :-WINDOW]


def allowed_origins(shape: tuple[int, int], test_blocks: list[tuple[int, int]], block: int) -> np.ndarray:
    """Bool grid of first chips whose window lies inside one test block and inside the tile's 10,980 px."""
    last = (TILE_PX - WINDOW * CHIP) // CHIP
    allowed = np.zeros(shape, bool)
    for block_row, block_col in test_blocks:
        allowed[block_row * block : block_row * block + block - WINDOW + 1,
                block_col * block : block_col * block + block - WINDOW + 1] = True
    allowed[last + 1 :, :] = allowed[:, last + 1 :] = False
    return allowed


def best_window(score: np.ndarray, allowed: np.ndarray) -> tuple[int, int, int]:
    """(score, row, col) of the highest score among the allowed first chips; ties to the smallest row, then col."""
    masked = np.where(allowed, score, -1)
    row, col = np.unravel_index(np.argmax(masked), masked.shape)  # argmax: the first maximum in row-major order
    return int(masked[row, col]), int(row), int(col)


def build_window(chips: list[Chip], tile: str, row: int, col: int, out: Path) -> dict:
    """Mosaic the chips of `tile` in the window at chip (row, col) and write its scene, products and labels."""
    size = WINDOW * CHIP
    rgb = np.zeros((3, size, size), np.uint8)
    valid = np.zeros((size, size), bool)
    labels = []
    for chip in chips:
        r, c = chip.row - row, chip.col - col
        if chip.tile != tile or not (0 <= r < WINDOW and 0 <= c < WINDOW):
            continue
        pixels = np.asarray(Image.open(chip.path).convert("RGB")).transpose(2, 0, 1)
        rgb[:, r * CHIP : (r + 1) * CHIP, c * CHIP : (c + 1) * CHIP] = pixels
        valid[r * CHIP : (r + 1) * CHIP, c * CHIP : (c + 1) * CHIP] = True
        labels.append({"row": r, "col": c, "label": chip.label, "chip": chip.path.name})
    epsg, x0, y0 = tile_origin(tile)
    transform = Affine(PIXEL, 0, x0 + col * CHIP * PIXEL, 0, -PIXEL, y0 - row * CHIP * PIXEL)
    folder = out / f"{tile}_r{row:03d}_c{col:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    crs = f"EPSG:{epsg}"
    write_tci(folder / "tci.tif", rgb, valid, transform, crs)
    item_id = f"S2A_{tile[1:]}_20250427_0_L2A_r{row:03d}_c{col:03d}"
    write_s2_l2a_product(folder / "l2a", rgb, valid, transform, crs, item_id=item_id, baseline="05.11")
    write_landsat_c2_l2_product(folder / "landsat", rgb, valid, transform, crs,
                                f"LC08_L2SP_FROM_{tile[1:]}_r{row:03d}_c{col:03d}")
    labels.sort(key=lambda x: (x["row"], x["col"]))
    (folder / "labels.json").write_text(json.dumps(labels, indent=1))
    return {"folder": folder, "chips": len(labels), "holes": 1 - len(labels) / WINDOW**2,
            "agri": sum(x["label"] == "agri" for x in labels), "transform": transform, "epsg": epsg}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "agri-s2-chips")
    ap.add_argument("--out", type=Path, default=Path("/tmp/s2-products"))
    ap.add_argument("--pick", choices=("densest", "balanced"), default="densest",
                    help="the window with the most chips, or the one with the most of its rarer class")
    ap.add_argument("--force", action="store_true", help="write into an --out that holds other windows")
    args = ap.parse_args()

    split_of, grid, block = load_split()
    chips = read_chips(args.data)
    tiles = sorted({c.tile for c in chips})
    plans = []
    for tile in tiles:
        present = {label: np.zeros((grid, grid), bool) for label in LABELS}
        for chip in chips:
            if chip.tile == tile:
                present[chip.label][chip.row, chip.col] = True
        n_blocks = grid // block
        test_blocks = [(br, bc) for br in range(n_blocks) for bc in range(n_blocks)
                       if split_of(tile, br * block * grid + bc * block) == "test"]
        counts = {label: window_counts(p) for label, p in present.items()}
        score = (counts["agri"] + counts["non_agri"] if args.pick == "densest"
                 else np.minimum(counts["agri"], counts["non_agri"]))
        allowed = allowed_origins(score.shape, test_blocks, block)
        _, row, col = best_window(score, allowed)
        print(f"{tile}: test blocks {test_blocks}; {args.pick} 16x16 window at chip ({row}, {col}): "
              f"{counts['agri'][row, col]} agri + {counts['non_agri'][row, col]} non_agri chips")
        plans.append((tile, row, col))

    names = {f"{t}_r{r:03d}_c{c:03d}" for t, r, c in plans}
    others = sorted(p.name for p in args.out.glob("*") if p.name not in names) if args.out.exists() else []
    if others and not args.force:
        raise SystemExit(f"{args.out} holds other entries ({', '.join(others[:4])}...): choose another --out, "
                         "or --force")
    for tile, row, col in plans:
        done = build_window(chips, tile, row, col, args.out)
        t = done["transform"]
        print(f"wrote {done['folder']}: {tile} window at chip row {row}, col {col} (pixels "
              f"{row * CHIP}..{(row + WINDOW) * CHIP}, {col * CHIP}..{(col + WINDOW) * CHIP}); "
              f"{done['chips']} chips ({done['agri']} agri), holes {done['holes']:.1%}; "
              f"EPSG:{done['epsg']}, upper-left ({t.c:.0f}, {t.f:.0f})")


if __name__ == "__main__":
    main()
