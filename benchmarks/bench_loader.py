"""Streaming vs preloaded training data: throughput and memory, the same chips, model and augmentation.

    .venv/bin/python benchmarks/bench_loader.py stream  --config examples/configs/aid_scenes.yaml
    .venv/bin/python benchmarks/bench_loader.py preload --config examples/configs/aid_scenes.yaml

`stream` decodes chips on the fly in DataLoader workers (geoclassify's ChipStream); `preload` decodes
every chip into one array first, then serves it through a map-style dataset with the same workers,
augmentation and normalisation. Both train compact_cnn for `--epochs` and time the last epoch.
`--no-train` only iterates the loader (no model), to measure what the loader itself holds.
`--split all` uses every chip of the set (train, validation and test), the largest set there is.
Memory is the proportional set size (PSS) of the process and its workers, sampled every 0.1 s
(PSS counts shared pages once across processes); `data_mib` is the peak minus the PSS before any
data was loaded (with training, it includes activations and optimizer state). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from geoclassify.models.registry import create_model
from geoclassify.training.augment import build_augment
from geoclassify.training.chips import band_stats, read_image, scan_chip_folders, split_by_place
from geoclassify.training.config import load_config
from geoclassify.training.streams import ChipStream, collate


def pss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class PeakMemory(threading.Thread):
    """Samples the PSS of this process and its children until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = 0.0, True

    def current(self) -> float:
        me = os.getpid()
        return pss_mib(me) + sum(pss_mib(c) for c in children(me))

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.current())
            time.sleep(0.1)


class Preloaded(Dataset):
    """All chips decoded up front; augmentation and normalisation as in ChipStream."""

    def __init__(self, samples, bands, mean, std, seed):
        self.images = np.stack([read_image(s.path, bands) for s in samples])
        self.labels = [s.label for s in samples]
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.augment = build_augment(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        image = self.augment(image=self.images[i])["image"]
        x = (image.astype(np.float32) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), self.labels[i]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["stream", "preload"])
    ap.add_argument("--config", default="examples/configs/aid_scenes.yaml")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--split", choices=["train", "all"], default="train")
    ap.add_argument("--no-train", action="store_true", help="iterate the loader only (the loader's own memory)")
    args = ap.parse_args()
    config = load_config(args.config)
    classes, samples = scan_chip_folders(config.data)
    train = split_by_place(samples, config.data)["train"] if args.split == "train" else samples
    stats = band_stats(train, config.data.bands)
    torch.manual_seed(0)
    model = create_model("compact_cnn", stats.count, len(classes)).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    sampler = PeakMemory()
    baseline = sampler.current()
    sampler.start()
    start = time.perf_counter()
    if args.mode == "stream":
        dataset = ChipStream(train, config.data.bands, stats.mean, stats.std, shuffle=True, augment=True)
        loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers, collate_fn=collate,
                            persistent_workers=True, prefetch_factor=2)
    else:
        dataset = Preloaded(train, config.data.bands, stats.mean, stats.std, seed=0)
        loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers, shuffle=True,
                            persistent_workers=True, prefetch_factor=2)
    setup = time.perf_counter() - start
    for epoch in range(1, args.epochs + 1):
        if args.mode == "stream":
            dataset.set_epoch(epoch)
        t0, seen = time.perf_counter(), 0
        for batch in loader:
            x, y = batch[0], batch[1]
            seen += len(y)
            if args.no_train:
                continue
            loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        rate = seen / (time.perf_counter() - t0)
    sampler.running = False
    sampler.join()
    print(json.dumps({"mode": args.mode, "config": args.config, "images": len(train), "workers": args.workers,
                      "train": not args.no_train,
                      "setup_s": round(setup, 1), "last_epoch_images_per_s": round(rate, 1),
                      "baseline_pss_mib": round(baseline, 1), "peak_pss_mib": round(sampler.peak, 1),
                      "data_mib": round(sampler.peak - baseline, 1)}))


if __name__ == "__main__":
    main()
