"""The loop a user would write without geoclassify: rasterio windows, the same model in torch or ONNX Runtime, one
class per chip, a GeoTIFF out. A peer for benchmarks/bench_peers.py (same model, same grid, same threads).

    python benchmarks/plain_loop.py SCENE OUT.tif --model agri-s2-rgb --backend torch --stride 64

Chip classifiers only: chip `tile_size` of the card, output pixel = `stride` scene pixels; each row of chips is one
rasterio read of its rows (all columns), padded past the scene's edges with the band means (as geoclassify fills
them); no nodata handling, no resampling.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import rasterio
from rasterio.windows import Window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene")
    parser.add_argument("output")
    parser.add_argument("--model", default="agri-s2-rgb")
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    parser.add_argument("--stride", type=int)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    from geoclassify.models.bundled import bundled_path
    from geoclassify.models.files import read_model_card

    card = read_model_card(bundled_path(args.model))
    mean = np.asarray(card.mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(card.std, np.float32).reshape(1, -1, 1, 1)
    if args.backend == "torch":
        import torch

        from geoclassify.models.files import load_model

        torch.set_num_threads(args.threads)
        model = load_model(bundled_path(args.model, "torch"))[0]

        def run(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return model(torch.from_numpy(x)).argmax(1).numpy()
    else:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(bundled_path(args.model, "onnx")), options,
                                       providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return session.run(None, {name: x})[0].argmax(1)

    chip, stride = card.tile_size, args.stride or card.tile_size
    with rasterio.open(args.scene) as src:
        rows, cols = -(-src.height // stride), -(-src.width // stride)
        profile = dict(driver="GTiff", height=rows, width=cols, count=1, dtype="uint8", crs=src.crs,
                       transform=src.transform * src.transform.scale(stride, stride), tiled=True, compress="deflate")
        classes = np.zeros((rows, cols), np.uint8)
        offset = (chip - stride) // 2  # the chip centred on its output pixel
        width = (cols - 1) * stride + chip  # the padded row: from -offset to past the last chip
        for r in range(rows):
            top = r * stride - offset
            r0, r1 = max(top, 0), min(top + chip, src.height)
            band = np.empty((len(card.bands), chip, width), np.float32)
            band[:] = mean.reshape(-1, 1, 1)
            band[:, r0 - top:r1 - top, offset:offset + src.width] = src.read(
                list(card.bands), window=Window(0, r0, src.width, r1 - r0))[:, :, :width - offset]
            chips = np.stack([band[:, :, c * stride:c * stride + chip] for c in range(cols)])
            for first in range(0, cols, args.batch):
                x = (chips[first:first + args.batch] - mean) / std
                classes[r, first:first + args.batch] = run(np.ascontiguousarray(x, np.float32))
    with rasterio.open(args.output, "w", **profile) as dst:
        dst.write(classes, 1)
    print(f"{args.output}: {cols}x{rows}, {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
