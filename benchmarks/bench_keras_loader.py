"""The Keras path's tf.data pipeline: streaming vs cached vs all chips preloaded; epoch time and peak memory.

    /work/venv-keras/bin/python benchmarks/bench_keras_loader.py --config examples/configs/agri_s2_chips.yaml

Each mode runs in a fresh process and iterates the training pipeline for `--epochs` epochs (decode, shuffle,
augmentation, normalisation, batching, CutMix, prefetch; no model, so the loader's own cost is measured):
- `stream`: chips decoded by geoclassify's reader in tf.data's parallel map, every epoch;
- `cache`: the same with `.cache(file)` in a fresh folder: the first epoch decodes and writes, later ones read;
- `preload`: every chip decoded into one array first (`from_tensor_slices`), then the same pipeline.
Peak memory is the process's peak resident set (VmHWM); `data_mib` is that peak minus the resident set after
TensorFlow was imported and before any chip was read; `load` is the time before the first epoch (for
`preload`, decoding every chip). Prints one JSON line per mode, then a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("stream", "cache", "preload")


def memory_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_mode(args: argparse.Namespace) -> dict:
    import numpy as np

    from geoclassify.training.keras import import_keras

    tf, _ = import_keras()
    from geoclassify.training.config import load_config
    from geoclassify.training.keras.data import ChipSplit, Skips, make_dataset, prepare_batches
    from geoclassify.training.sources import chip_source

    config = load_config(args.config)
    info, splits = chip_source(config)
    samples = [s for name in ("train", "val", "test") for s in splits[name]] if args.split == "all" else splits["train"]
    size = config.data.tile_size
    shape = (size, size, len(info.bands))
    split = ChipSplit("train", samples, list(config.data.bands), size, seed=0)
    options = dict(mean=info.mean, std=info.std, batch_size=args.batch_size, n_classes=len(info.classes),
                   train=True, augment=True, cutmix=0.5, seed=0)
    tf.constant(0)  # TensorFlow's runtime is up before the baseline
    baseline = memory_mib("VmRSS")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        if args.mode == "preload":
            images = np.stack([split.read(i)[0] for i in range(split.count)])
            labels = np.asarray([s.label for s in split.samples], np.int32)
            ds = prepare_batches(tf.data.Dataset.from_tensor_slices((images, labels)), count=split.count,
                                 dtype=info.dtype, **options)
        else:
            ds = make_dataset(split, shape=shape, dtype=info.dtype, skips=Skips(),
                              cache_dir=cache if args.mode == "cache" else None, **options)
        load_seconds = time.perf_counter() - start  # preload: decoding every chip before the first epoch
        seconds, images_seen = [], 0
        for _ in range(args.epochs):
            start = time.perf_counter()
            images_seen = sum(int(x.shape[0]) for x, _ in ds)
            seconds.append(time.perf_counter() - start)
    peak = memory_mib("VmHWM")
    return {"mode": args.mode, "chips": split.count, "images_per_epoch": images_seen,
            "load_seconds": round(load_seconds, 2),
            "epoch_seconds": [round(s, 2) for s in seconds], "peak_rss_mib": round(peak),
            "data_mib": round(peak - baseline), "baseline_rss_mib": round(baseline)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--split", choices=["train", "all"], default="train")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one mode, in this process
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args)))
        return
    rows = []
    for mode in args.modes:
        cmd = [sys.executable, __file__, "--config", args.config, "--epochs", str(args.epochs), "--batch-size",
               str(args.batch_size), "--split", args.split, "--mode", mode]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print("| mode | chips | load (s) | epoch times (s) | peak RSS (MiB) | data (MiB) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['chips']} | {r['load_seconds']} | {', '.join(map(str, r['epoch_seconds']))} "
              f"| {r['peak_rss_mib']} | {r['data_mib']} |")


if __name__ == "__main__":
    main()
