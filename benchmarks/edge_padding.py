"""Edge accuracy of the default chip classifier vs the share of real pixels in a chip, per padding.

A chip at a scene edge (or over a scene smaller than a chip, or over nodata) holds only a share `s` of real
pixels; the rest is padding. This takes the default model's held-out test chips (the spatial blocks of
`scripts/train_default_model.py`, 1,375 real Sentinel-2 chips), keeps a share `s` of each chip's pixels where
a scene edge would cut it (a band of columns or rows at one side, or a square at a corner; the side or corner
turns with the chip) and fills the rest with each padding candidate:

- `mean`: the model card's band means (geoclassify before issue 16, class 10);
- `chipmean`: mask, then the mean of the chip's own real pixels, per band;
- `edge`: replicate the last real row/column (`np.pad(mode="edge")`);
- `reflect`: mirror about the last real pixel (`np.pad(mode="reflect")`, repeated while the real part is
  narrower than the padding; a one-pixel part is replicated);
- `symmetric`: mirror including the last real pixel (`np.pad(mode="symmetric")`);
- `wrap`: tile the real part (`np.pad(mode="wrap")`).

Before measuring, it checks that the window loop's padding (`geoclassify.inference.runners.fill_window`)
gives the `symmetric` chips, pixel for pixel, for every chip, share and placement measured.

It prints accuracy and the share of chips called agricultural per padding and `s`.

A second part (`--part scenes`) cuts 40 x 30 scenes (29 % of a chip, like the handed case of a scene smaller
than a chip) on a grid over the NAIP demo scene read at 10 m, and counts how often each padding gives the
class the model gives to the 64-pixel chip centred on the same ground in the whole scene (no labels there:
agreement with the model's own context view, not accuracy).

    .venv/bin/python benchmarks/edge_padding.py --data ../shared/data/agri-s2-chips
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

from geoclassify.inference.predictor import TorchPredictor
from geoclassify.inference.runners import fill_window
from geoclassify.models.files import default_model_path, load_model

SHARES = (1.0, 0.75, 0.5, 0.35, 0.25, 0.2, 0.15, 0.10, 0.05, 0.0)  # 0: one row / column / pixel
PADDINGS = ("mean", "chipmean", "edge", "reflect", "symmetric", "wrap")


def test_chips(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The default model's test chips (uint8, (n, 3, 64, 64)) and labels (1 = agricultural)."""
    path = Path(__file__).resolve().parent.parent / "scripts" / "train_default_model.py"
    spec = importlib.util.spec_from_file_location("train_default_model", path)
    assert spec is not None and spec.loader is not None
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    x, y = train.load_chips(data)["test"]
    return x, y


def real_box(size: int, share: float, placement: str, turn: int) -> tuple[slice, slice]:
    """The rows and columns of a `size` chip a scene edge leaves real: a band of `share` of the columns or
    rows at one side ("edge"), or a square of `share` of the pixels at a corner ("corner"); `turn` picks the
    side or the corner."""
    if placement == "edge":
        keep = max(1, round(size * share))
        cut = slice(0, keep) if turn % 2 == 0 else slice(size - keep, size)
        full = slice(0, size)
        return (cut, full) if turn < 2 else (full, cut)
    keep = max(1, round(size * math.sqrt(share)))
    rows = slice(0, keep) if turn % 2 == 0 else slice(size - keep, size)
    cols = slice(0, keep) if turn < 2 else slice(size - keep, size)
    return rows, cols


def pad_chip(chip: np.ndarray, rows: slice, cols: slice, padding: str, card_mean: tuple[float, ...]) -> np.ndarray:
    """`chip` (bands, size, size) with only [rows, cols] kept and the rest filled by `padding`."""
    size = chip.shape[-1]
    part = chip[:, rows, cols]
    widths = ((0, 0), (rows.start, size - rows.stop), (cols.start, size - cols.stop))
    if padding in ("mean", "chipmean", "geoclassify"):
        valid = np.zeros((size, size), dtype=bool)
        valid[rows, cols] = True
        out = chip.copy()
        out[:, ~valid] = 0
        if padding == "geoclassify":
            fill_window(out, valid, card_mean)
            return out
        means = card_mean if padding == "mean" else part.reshape(part.shape[0], -1).mean(axis=1)
        for b, m in enumerate(means):
            out[b][~valid] = round(float(m))
        return out
    if padding == "reflect" and min(part.shape[1:]) < 2:
        padding = "edge"
    return np.pad(part, widths, mode=padding)


def tiny_scenes(naip: Path, predictor: TorchPredictor, card_mean: tuple[float, ...]) -> None:
    """Print, per padding, how often a 40 x 30 scene gets the class of the chip centred on its ground."""
    with rasterio.open(naip) as src:
        data = src.read((1, 2, 3), out_shape=(3, src.height // 2, src.width // 2))
    h, w = data.shape[1:]
    places = [(r, c) for r in range(20, h - 84, 30) for c in range(20, w - 84, 40)]
    context = np.stack([data[:, r - 17 : r + 47, c - 12 : c + 52] for r, c in places])
    agri = predictor.card.class_names.index("agricultural")
    reference = predictor.predict(context).argmax(axis=1)
    print(f"{len(places)} scenes of 40 x 30 pixels from {naip.name} at 10 m; the chip centred on the same ground "
          f"is agricultural for {(reference == agri).mean():.0%}\n")
    print("| padding | same class as the chip centred on the ground | called agricultural |")
    print("|---|---|---|")
    for padding in PADDINGS:
        chips = np.stack([pad_chip(np.pad(data[:, r : r + 30, c : c + 40], ((0, 0), (0, 34), (0, 24))),
                                   slice(0, 30), slice(0, 40), padding, card_mean) for r, c in places])
        pred = predictor.predict(chips).argmax(axis=1)
        print(f"| {padding} | {(pred == reference).mean():.1%} | {(pred == agri).mean():.0%} |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/agri-s2-chips"))
    ap.add_argument("--naip", type=Path, default=Path("examples/data/naip_farmland.tif"))
    ap.add_argument("--limit", type=int, default=0, help="use only the first n test chips of each class")
    ap.add_argument("--part", choices=("all", "chips", "scenes"), default="all")
    args = ap.parse_args()
    torch.manual_seed(0)
    model, card = load_model(default_model_path())
    predictor = TorchPredictor(model, card, device="cpu")
    if args.part in ("all", "scenes"):
        tiny_scenes(args.naip, predictor, card.mean)
    if args.part == "scenes":
        return
    x, y = test_chips(args.data)
    if args.limit:
        keep = np.concatenate([np.flatnonzero(y == c)[: args.limit] for c in (0, 1)])
        x, y = x[keep], y[keep]
    agri = card.class_names.index("agricultural")
    print(f"{len(y)} test chips ({int((y == 1).sum())} agricultural), model {default_model_path().name}")
    for placement in ("edge", "corner"):
        for share in SHARES:
            for i, c in enumerate(x):
                box = real_box(c.shape[-1], share, placement, i % 4)
                if not np.array_equal(pad_chip(c, *box, "geoclassify", card.mean),
                                      pad_chip(c, *box, "symmetric", card.mean)):
                    raise SystemExit(f"fill_window differs from symmetric padding: chip {i}, {placement}, s={share}")
    print("fill_window == symmetric padding on every chip, share and placement")
    start = time.perf_counter()
    rows_out = []
    for placement in ("edge", "corner"):
        for padding in PADDINGS:
            for share in SHARES:
                batch = np.stack([pad_chip(c, *real_box(c.shape[-1], share, placement, i % 4), padding, card.mean)
                                  for i, c in enumerate(x)])
                probs = np.concatenate([predictor.predict(batch[i : i + 256]) for i in range(0, len(batch), 256)])
                pred = (probs.argmax(axis=1) == agri).astype(int)
                acc, called = float((pred == y).mean()), float(pred.mean())
                rows_out.append((placement, padding, share, acc, called))
                print(f"{placement:6s} {padding:11s} s={share:6.1%} accuracy {acc:7.2%}  called agricultural "
                      f"{called:7.2%}", flush=True)
    print(f"({time.perf_counter() - start:.0f} s)\n")
    for placement in ("edge", "corner"):
        print(f"accuracy (called agricultural; truth {y.mean():.0%}), real pixels at "
              f"{'one side' if placement == 'edge' else 'a corner'}:\n")
        print("| padding | " + " | ".join(f"s = {s:.3g}" if s else "1 line / px" for s in SHARES) + " |")
        print("|---" * (len(SHARES) + 1) + "|")
        for padding in PADDINGS:
            cells = [f"{a:.1%} ({c:.0%})" for p, q, s, a, c in rows_out if p == placement and q == padding]
            print(f"| {padding} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
