"""TorchGeo's way to classify a scene chip by chip: a RasterDataset, a GridGeoSampler and a DataLoader (as in
TorchGeo's docs and tutorials), the bundled agri-s2-rgb chip classifier (geoclassify's architecture, its
safetensors weights), one class per chip, a GeoTIFF out. Run with the TorchGeo venv's python
(benchmarks/peers/make_venvs.sh), a peer for benchmarks/bench_peers.py:

    /tmp/peers/torchgeo/bin/python benchmarks/peers/torchgeo_loop.py SCENE OUT.tif --batch 64 --threads 2

The output is on `geoclassify predict`'s grid for this model (one pixel per 64-px chip, stride 64) where the
scene's sides are multiples of 64 (the benchmark's scenes): GridGeoSampler starts its rows at the bottom of the
scene and geoclassify at the top, and past the scene's edges TorchGeo reads nodata (0) where geoclassify fills
with the band means, so other sizes differ in their last row or column. The model is built from geoclassify's code
(the repository on sys.path: torch and safetensors are all it needs), not from the package.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene")
    parser.add_argument("output")
    parser.add_argument("--model", default="agri-s2-rgb")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    args = parser.parse_args()
    start = time.perf_counter()
    import numpy as np
    import rasterio
    import torch
    from torch.utils.data import DataLoader
    from torchgeo.datasets import RasterDataset, stack_samples
    from torchgeo.samplers import GridGeoSampler

    sys.path.insert(0, str(ROOT))
    from geoclassify.models.bundled import bundled_path
    from geoclassify.models.files import load_model

    torch.set_num_threads(args.threads)
    model, card = load_model(bundled_path(args.model, "torch"))
    if card.task != "classification":
        raise SystemExit(f"{args.model} is not a chip classifier")
    mean = torch.tensor(card.mean, dtype=torch.float32).reshape(1, -1, 1, 1)
    std = torch.tensor(card.std, dtype=torch.float32).reshape(1, -1, 1, 1)
    chip = card.tile_size

    dataset = RasterDataset(paths=args.scene)
    sampler = GridGeoSampler(dataset, size=chip, stride=chip)
    loader = DataLoader(dataset, sampler=sampler, batch_size=args.batch, collate_fn=stack_samples,
                        num_workers=args.workers)

    with rasterio.open(args.scene) as src:
        if src.count != len(card.bands):
            raise SystemExit(f"the scene has {src.count} bands; the model takes {len(card.bands)}")
        left, top, res = src.bounds.left, src.bounds.top, src.res[0]
        rows, cols = -(-src.height // chip), -(-src.width // chip)
        profile = dict(driver="GTiff", height=rows, width=cols, count=1, dtype="uint8", crs=src.crs,
                       transform=src.transform * src.transform.scale(chip, chip), tiled=True, compress="deflate")
    classes = np.zeros((rows, cols), np.uint8)
    step = chip * res
    with torch.inference_mode():
        for batch in loader:
            predicted = model((batch["image"] - mean) / std).argmax(1).numpy()
            for (x, y, _), label in zip(batch["bounds"], predicted):
                classes[round((top - y.stop) / step), round((x.start - left) / step)] = label
    with rasterio.open(args.output, "w", **profile) as dst:
        dst.write(classes, 1)
    print(f"{args.output}: {cols}x{rows} ({len(sampler)} chips), {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
