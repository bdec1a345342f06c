"""The bundled model on products as the archives deliver them, against the 8-bit scene they were made from.

Input: the windows `benchmarks/build_s2_products.py` writes (real Sentinel-2 L2A true-colour chips of held-out
blocks, mosaicked on their tile's grid; their L2A and Landsat C2 L2 digital numbers rebuilt from the 8-bit
values). For each window it predicts, with the bundled model at stride 64 (one class per chip, on the chip grid)
and at stride 16 (a finer map):

- `tci.tif`, the 8-bit scene (the reference);
- `l2a/item.json`, the STAC item of the L2A band files (stacked as a VRT, DNs converted to the model's values);
- `--stack l2a/B04.tif l2a/B03.tif l2a/B02.tif --product sentinel2-l2a`;
- `landsat/item.json`, the Landsat C2 L2 item;
- `http://127.0.0.1:PORT/.../l2a/item.json`, the same item over loopback HTTP (tests.range_server).

It prints, per input, the share of output pixels whose class equals the 8-bit scene's, and the accuracy on the
window's labelled chips (the chip's folder, agri or non_agri) at stride 64. Then, over loopback HTTP: the bytes
fetched to read one 256 x 256 window of a band COG against the file's size, and the time of a whole predict
local vs HTTP (fresh processes, alternating, median of `--repeats`).

    .venv/bin/python benchmarks/build_s2_products.py --out /tmp/s2-products
    .venv/bin/python benchmarks/bench_products.py --data /tmp/s2-products
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geoclassify.io.remote import gdal_path, remote_read_env  # noqa: E402
from tests.range_server import serve  # noqa: E402

GEOCLASSIFY = [sys.executable, "-m", "geoclassify", "-q", "predict"]


def predict(scene: list[str], out: Path, stride: int) -> tuple[np.ndarray, float]:
    """Run `geoclassify predict` in a fresh process; the classes and the wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([*GEOCLASSIFY, *scene, "-o", str(out), "--stride", str(stride), "--overwrite"], check=True,
                   cwd=ROOT)
    elapsed = time.perf_counter() - start
    with rasterio.open(out) as ds:
        return ds.read(1), elapsed


def inputs(window: Path, url: str | None) -> dict[str, list[str]]:
    """The scene arguments of each input of a window."""
    l2a = window / "l2a"
    out = {"8-bit TCI": [str(window / "tci.tif")], "L2A STAC item": [str(l2a / "item.json")],
           "L2A --stack --product": ["--stack", *(str(l2a / f"{b}.tif") for b in ("B04", "B03", "B02")),
                                     "--product", "sentinel2-l2a"]}
    if (window / "landsat" / "item.json").exists():
        out["Landsat C2 L2 STAC item"] = [str(window / "landsat" / "item.json")]
    if url:
        out["L2A STAC item over HTTP"] = [url]
    return out


def correct(classes: np.ndarray, labels: list[dict]) -> tuple[int, int]:
    """Of the labelled chips, how many stride-64 classes (one per chip) are right, and how many chips (a chip
    without a class counts as wrong)."""
    hits = [classes[c["row"], c["col"]] == (1 if c["label"] == "agri" else 0) for c in labels]
    return int(np.sum(hits)), len(hits)


def window_read_bytes(server, path: Path, root: Path) -> tuple[int, int, int]:
    """Bytes and requests to open a band COG over HTTP and read a 256 x 256 window; the file's size."""
    server.reset()
    remote = gdal_path(f"{server.url}/{path.relative_to(root)}")
    with remote_read_env(remote), rasterio.open(remote) as ds:
        ds.read(1, window=Window(256, 256, 256, 256))
    return server.bytes_sent, server.requests, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/tmp/s2-products"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-products"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    windows = sorted(p.parent for p in args.data.glob("*/tci.tif"))
    totals: dict[tuple[int, str], list[int]] = {}  # (stride, input) -> [agreeing px, px, right chips, chips]
    with serve(args.data) as server:
        for window in windows:
            url = f"{server.url}/{window.relative_to(args.data)}/l2a/item.json"
            labels = json.loads((window / "labels.json").read_text())
            print(f"\n## {window.name}: {len(labels)} labelled chips", flush=True)
            for stride in (64, 16):
                reference = None
                for name, scene in inputs(window, url).items():
                    classes, seconds = predict(scene, args.out / f"{window.name}_{stride}.tif", stride)
                    reference = classes if reference is None else reference
                    total = totals.setdefault((stride, name), [0, 0, 0, 0])
                    total[0] += int((classes == reference).sum())
                    total[1] += classes.size
                    line = f"stride {stride:2d}  {name:26s} agreement with 8-bit {(classes == reference).mean():.4%}"
                    if stride == 64:
                        right, n = correct(classes, labels)
                        total[2] += right
                        total[3] += n
                        line += f"  accuracy {right}/{n}"
                    print(f"{line}  {seconds:.1f} s", flush=True)
        print("\n## All blocks")
        for (stride, name), (agree, pixels, right, n) in totals.items():
            line = f"stride {stride:2d}  {name:26s} agreement {agree / pixels:.4%} of {pixels} px"
            print(line + (f"  accuracy {right / n:.4f} ({right}/{n} chips)" if n else ""))
        window = windows[0]
        band = window / "l2a" / "B04.tif"
        sent, requests, size = window_read_bytes(server, band, args.data)
        print(f"\nwindow read 256x256 of {window.name}/l2a/{band.name} over HTTP: {sent} of {size} bytes "
              f"({sent / size:.1%}) in {requests} requests")
        url = f"{server.url}/{window.relative_to(args.data)}/l2a/item.json"
        local, remote = [], []
        for _ in range(args.repeats):
            local.append(predict([str(window / "l2a" / "item.json")], args.out / "local.tif", 16)[1])
            remote.append(predict([url], args.out / "remote.tif", 16)[1])
        mid_local, mid_remote = statistics.median(local), statistics.median(remote)
        print(f"predict {window.name}/l2a/item.json --stride 16, median of {args.repeats} fresh processes: local "
              f"{mid_local:.2f} s, loopback HTTP {mid_remote:.2f} s, ratio {mid_remote / mid_local:.2f}")

if __name__ == "__main__":
    main()
