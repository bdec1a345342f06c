"""How much do the Ag-Net bands say about crop vs non-crop? Per-pixel baselines on the same split.

Uses the training config's scene, class mapping and split by place (the same 512-pixel blocks the
U-Net trains and is tested on), so its figures sit beside the U-Net's in benchmarks/RESULTS.md:
- always "crop" (the majority class of the test blocks);
- gradient-boosted trees on each pixel's 7 band values;
- the same plus the band means over 5x5 and 15x15 neighbourhoods (a little spatial context).

    .venv/bin/python benchmarks/build_agnet_mosaic.py
    .venv/bin/python benchmarks/agnet_pixel_baseline.py --config examples/configs/agnet_crop_segmentation.yaml
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import rasterio
from rasterio.windows import Window
from scipy.ndimage import uniform_filter
from sklearn.ensemble import HistGradientBoostingClassifier

from geoclassify.training.class_mapping import IGNORE
from geoclassify.training.config import load_config
from geoclassify.training.scenes import Block, scene_mapping, scene_pairs, split_blocks

CONTEXT_SIZES = (5, 15)


def block_pixels(image, labels, mapping, blocks: list[Block], step: int) -> tuple[np.ndarray, np.ndarray]:
    """Features (pixels, bands x (1 + context sizes)) and classes of every `step`-th labelled pixel."""
    features, classes = [], []
    for b in blocks:
        window = Window(b.col, b.row, b.width, b.height)
        x = image.read(window=window).astype(np.float32)
        x = np.concatenate([x] + [uniform_filter(x, size=(1, k, k)) for k in CONTEXT_SIZES])
        x = x[:, ::step, ::step].reshape(x.shape[0], -1).T
        y = mapping.apply(labels.read(1, window=window))[::step, ::step].ravel()
        keep = y != IGNORE
        features.append(x[keep])
        classes.append(y[keep])
    return np.concatenate(features), np.concatenate(classes)


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    def iou(c: int) -> float:
        return float(((pred == c) & (truth == c)).sum() / max(((pred == c) | (truth == c)).sum(), 1))

    return {"accuracy": round(float((pred == truth).mean()), 3), "iou_crop": round(iou(1), 3),
            "iou_non_crop": round(iou(0), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="examples/configs/agnet_crop_segmentation.yaml")
    ap.add_argument("--train-step", type=int, default=4, help="use every n-th pixel of the training blocks")
    args = ap.parse_args()
    data = load_config(args.config).data
    pairs = scene_pairs(data)
    if len(pairs) != 1:
        raise SystemExit("this baseline expects one scene with a label raster")
    blocks, mapping = split_blocks(pairs, data), scene_mapping(data)
    with rasterio.open(pairs[0].image) as image, rasterio.open(pairs[0].labels) as labels:
        x_train, y_train = block_pixels(image, labels, mapping, blocks["train"], args.train_step)
        x_test, y_test = block_pixels(image, labels, mapping, blocks["test"], 1)
    bands = image.count
    rows = {"always_crop": scores(np.ones_like(y_test), y_test)}
    for name, cols in (("trees_bands", slice(0, bands)), ("trees_bands_context", slice(None))):
        model = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(x_train[:, cols], y_train)
        rows[name] = scores(model.predict(x_test[:, cols]), y_test)
    print(json.dumps({"train_pixels": int(len(y_train)), "test_pixels": int(len(y_test)),
                      "test_crop_fraction": round(float(y_test.mean()), 3), **rows}, indent=1))


if __name__ == "__main__":
    main()
