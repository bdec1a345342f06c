"""Streaming vs preloaded training data: throughput and memory, the same data, model and augmentation.

    .venv/bin/python benchmarks/bench_loader.py stream  --config examples/configs/aid_scenes.yaml
    .venv/bin/python benchmarks/bench_loader.py preload --config examples/configs/aid_scenes.yaml
    .venv/bin/python benchmarks/bench_loader.py stream  --config examples/configs/agnet_crop_segmentation.yaml

Chip folders: `stream` decodes chips on the fly in DataLoader workers (geoclassify's ChipStream);
`preload` decodes every chip into one array first, then serves it through a map-style dataset with the
same workers, augmentation and normalisation. Both train compact_cnn for `--epochs` and time the last epoch.
Scenes with label rasters (a `data.source: scene` config): both use geoclassify's SceneWindowStream
over the same random windows; `stream` reads each window from the files (SceneReader), `preload`
reads every scene and label raster whole into memory first and cuts the windows from the arrays.
Both train the config's segmentation model.
`--no-train` only iterates the loader (no model), to measure what the loader itself holds.
`--split all` uses all the data (train, validation and test), the largest set there is.
Memory is the proportional set size (PSS) of the process and its workers, sampled every 0.1 s
(PSS counts shared pages once across processes); `data_mib` is the peak minus the PSS before any
data was loaded (after the band statistics and the model were made; with training, it includes activations
and optimizer state). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from geoclassify.models.factory import create_model
from geoclassify.training.augment import build_augment
from geoclassify.training.chips import band_stats, read_image, scan_chip_folders, split_by_place
from geoclassify.training.class_mapping import IGNORE
from geoclassify.training.config import TrainConfig, load_config
from geoclassify.training.scenes import SceneReader, scene_mapping, scene_pairs, split_blocks, window_stats
from geoclassify.training.streams import BatchNormalizer, ChipStream, SceneWindowStream, channels_first, collate


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
    """Samples the PSS of this process and its children until stopped.

    A sample taken while a worker is forked or exits is dropped: the parent's PSS read before a fork
    plus the new child's PSS read after it counts the shared pages twice (up to 100 MiB here)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = 0.0, True

    def current(self) -> float | None:
        """PSS of the process tree in MiB, or None when the set of children changed while sampling."""
        me = os.getpid()
        before = children(me)
        total = pss_mib(me) + sum(pss_mib(c) for c in before)
        return total if children(me) == before else None

    def run(self) -> None:
        while self.running:
            sample = self.current()
            if sample is not None:
                self.peak = max(self.peak, sample)
            time.sleep(0.1)


class Preloaded(Dataset):
    """All chips decoded up front; augmentation as in ChipStream."""

    def __init__(self, samples, bands, seed):
        first = read_image(samples[0].path, bands)
        self.images = np.empty((len(samples), *first.shape), first.dtype)  # one array: nothing held twice
        for i, sample in enumerate(samples):
            self.images[i] = read_image(sample.path, bands)
        self.labels = [s.label for s in samples]
        self.augment = build_augment(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return channels_first(self.augment(image=self.images[i])["image"]), self.labels[i]


class PreloadedScenes(SceneReader):
    """Every scene and label raster read whole first; windows are cut from the arrays."""

    def __init__(self, reader: SceneReader):
        super().__init__(reader.pairs, reader.bands, reader.mapping, reader.data)
        self.arrays = []
        for pair in self.pairs:
            with rasterio.open(pair.image) as image, rasterio.open(pair.labels) as labels:
                if pair.kind != "labels" or labels.shape != image.shape:
                    raise SystemExit("preload: only label rasters on the scene's grid")
                bands = self.bands or list(range(1, image.count + 1))
                pixels = np.empty((len(bands), image.height, image.width), image.dtypes[0])
                for i, band in enumerate(bands):  # band by band into one array: nothing but the data held
                    image.read(band, out=pixels[i])
                self.arrays.append((pixels, labels.read(1), image.read_masks(1) > 0))

    def read(self, scene: int, row: int, col: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        pixels, codes, valid = self.arrays[scene]
        pixels, codes, valid = pixels[:, row:row + size, col:col + size].transpose(1, 2, 0), \
            codes[row:row + size, col:col + size], valid[row:row + size, col:col + size]
        classes = self.mapping.apply(codes, where=self.pairs[scene].labels)
        classes[~valid] = IGNORE
        return pixels, classes


def chip_data(args, config: TrainConfig) -> tuple[Callable[[], Dataset], BatchNormalizer, int, int, dict]:
    """(dataset builder, normalizer, classes, items an epoch, DataLoader options) of a chip-folder config.
    The band statistics are computed here, before memory is measured; the builder loads the data."""
    classes, samples = scan_chip_folders(config.data)
    train = split_by_place(samples, config.data)["train"] if args.split == "train" else samples
    stats = band_stats(train, config.data.bands)
    normalizer = BatchNormalizer(stats.mean, stats.std)
    if args.mode == "stream":
        def build() -> Dataset:
            return ChipStream(train, config.data.bands, shuffle=True, augment=True)
        return build, normalizer, len(classes), len(train), {"collate_fn": collate}
    return lambda: Preloaded(train, config.data.bands, seed=0), normalizer, len(classes), len(train), {"shuffle": True}


def scene_data(args, config: TrainConfig) -> tuple[Callable[[], Dataset], BatchNormalizer, int, int, dict]:
    """The same for a scene config: random windows of the training blocks (all blocks with --split all).
    The statistics come from a reader of their own, closed before the builder opens the scenes again."""
    data = config.data
    pairs = scene_pairs(data)
    blocks = split_blocks(pairs, data)
    chosen = blocks["train"] if args.split == "train" else [b for split in blocks.values() for b in split]
    mapping = scene_mapping(data)
    mean, std, _, _ = window_stats(SceneReader(pairs, list(data.bands), mapping, data), blocks["train"],
                                   data.tile_size)
    gc.collect()

    def build() -> Dataset:
        reader = SceneReader(pairs, list(data.bands), mapping, data)
        if args.mode == "preload":
            reader = PreloadedScenes(reader)
        return SceneWindowStream(reader, chosen, data.tile_size, count=data.windows_per_epoch, augment=True,
                                 min_labelled=data.min_labelled)
    return build, BatchNormalizer(mean, std), len(mapping.class_names), data.windows_per_epoch, {"collate_fn": collate}


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
    scenes = config.data.source == "scene"
    build, normalizer, classes, items, options = (scene_data if scenes else chip_data)(args, config)
    if not args.no_train:
        torch.manual_seed(0)
        model = create_model(config.model.arch if scenes else "compact_cnn", len(normalizer.mean), classes)
        model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
    sampler = PeakMemory()
    baseline = sampler.current()
    sampler.start()
    start = time.perf_counter()
    dataset = build()
    workers = {"persistent_workers": True, "prefetch_factor": 2} if args.workers else {}
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers, **workers, **options)
    setup = time.perf_counter() - start
    for epoch in range(1, args.epochs + 1):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        t0, seen = time.perf_counter(), 0
        for batch in loader:
            x, y = batch[0], batch[1]
            if x is None:
                continue
            seen += len(y)
            if args.no_train:
                continue
            x = normalizer.images(x).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x), normalizer.targets(y), ignore_index=IGNORE)
            opt.zero_grad()
            loss.backward()
            opt.step()
        rate = seen / (time.perf_counter() - t0)
    sampler.running = False
    sampler.join()
    print(json.dumps({"mode": args.mode, "config": args.config, "items_per_epoch": items, "workers": args.workers,
                      "train": not args.no_train,
                      "setup_s": round(setup, 1), "last_epoch_items_per_s": round(rate, 1),
                      "baseline_pss_mib": round(baseline, 1), "peak_pss_mib": round(sampler.peak, 1),
                      "data_mib": round(sampler.peak - baseline, 1)}))


if __name__ == "__main__":
    main()
