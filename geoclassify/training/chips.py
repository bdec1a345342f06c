"""Chip folders (one folder per class), split by place, streamed through an IterableDataset."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from torch.utils.data import IterableDataset, get_worker_info

from geoclassify.errors import ConfigError, InputError
from geoclassify.training.augment import build_augment
from geoclassify.training.config import DataConfig
from geoclassify.training.splits import split_groups

log = logging.getLogger("geoclassify")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
S2_CHIP = re.compile(r"_(T\d\d[A-Z]{3})_.*_(\d+)\.\w+$")
S2_GRID = 172  # 64-pixel chips across a 10980-pixel Sentinel-2 tile


@dataclass(frozen=True)
class Sample:
    path: str
    label: int
    group: str  # the place it comes from: samples of one group never straddle splits


def group_of(path: Path, data: DataConfig) -> str:
    if data.split == "s2-blocks":
        match = S2_CHIP.search(path.name)
        if match is None:
            raise ConfigError(f"split s2-blocks needs Sentinel-2 chip names like *_T32UPE_*_0123.jpg, got {path.name}")
        index = int(match.group(2))
        return f"{match.group(1)}/{index // S2_GRID // data.block}/{index % S2_GRID // data.block}"
    if data.split == "pattern":
        match = re.search(data.group_pattern, path.name) if data.group_pattern else None
        if match is None:
            raise ConfigError(f"data.group_pattern {data.group_pattern!r} does not match {path.name}")
        return match.group(1) if match.groups() else match.group(0)
    if data.split == "name":
        return path.stem
    raise ConfigError(f"data.split must be s2-blocks, pattern or name, not {data.split!r}")


def scan_chip_folders(data: DataConfig) -> tuple[list[str], list[Sample]]:
    """Class names and samples; an empty or missing class folder is an error."""
    root = Path(data.path)
    if not root.is_dir():
        raise ConfigError(f"data.path {root} is not a directory of class folders")
    mapping = data.classes or {d.name: d.name for d in sorted(root.iterdir()) if d.is_dir()}
    if len(mapping) < 2:
        raise ConfigError(f"{root} needs at least two class folders, found {list(mapping.values())}")
    samples = []
    for label, (name, folder) in enumerate(mapping.items()):
        files = sorted(p for p in (root / folder).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ConfigError(f"class folder {root / folder} (class {name!r}) holds no images")
        files = files[: data.max_per_class] if data.max_per_class else files
        samples += [Sample(str(p), label, group_of(p, data)) for p in files]
    return list(mapping), samples


def split_by_place(samples: list[Sample], data: DataConfig) -> dict[str, list[Sample]]:
    """Deterministic train/val/test split by group (a place), never by individual chip."""
    return split_groups(samples, [s.group for s in samples], data, "more places (groups) or other fractions are needed")


def read_image(path: str, bands: list[int]) -> np.ndarray:
    """An image as (height, width, bands) uint8/uint16; GeoTIFF chips through rasterio."""
    if path.lower().endswith((".tif", ".tiff")):
        import rasterio

        with rasterio.open(path) as ds:
            return ds.read(bands or None).transpose(1, 2, 0)
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return arr[:, :, [b - 1 for b in bands]] if bands else arr


@dataclass(frozen=True)
class BandStats:
    mean: list[float]
    std: list[float]
    dtype: str
    count: int


def band_stats(samples: list[Sample], bands: list[int], limit: int = 512) -> BandStats:
    """Per-band mean and std over (up to `limit`) readable training samples, in raw units, and their dtype."""
    picked = [samples[i] for i in np.linspace(0, len(samples) - 1, min(limit, len(samples))).astype(int)]
    arrays = []
    for s in picked:
        try:
            image = read_image(s.path, bands)
            arrays.append(image.reshape(-1, image.shape[2]))
        except Exception:  # noqa: BLE001 - unreadable images are reported while training
            continue
    if not arrays:
        raise InputError("none of the sampled training images could be read")
    stacked = np.concatenate(arrays)
    dtype, count = stacked.dtype.name, stacked.shape[1]
    stacked = stacked.astype(np.float64)
    return BandStats(stacked.mean(0).tolist(), np.maximum(stacked.std(0), 1e-6).tolist(), dtype, count)


class ChipStream(IterableDataset):
    """Streams (image, label) samples, decoded on the fly in each worker, in a per-epoch order.

    Unreadable images are not fatal: they come out as ("bad", reason) and the collate function
    counts them. The epoch lives in shared memory so persistent workers see `set_epoch`.
    """

    def __init__(self, samples: list[Sample], bands: list[int], mean: list[float], std: list[float], *,
                 shuffle: bool, augment: bool, seed: int = 0, cache_dir: str | None = None):
        self.samples, self.bands, self.shuffle, self.augment, self.seed = samples, bands, shuffle, augment, seed
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._epoch = mp.Value("i", 0)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.value = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, sample: Sample) -> np.ndarray:
        if self.cache_dir is None:
            return read_image(sample.path, self.bands)
        key = hashlib.sha1(f"{sample.path}|{self.bands}".encode()).hexdigest()
        cached = self.cache_dir / f"{key}.npy"
        if cached.exists():
            return np.load(cached)
        arr = read_image(sample.path, self.bands)
        tmp = cached.with_suffix(f".{mp.current_process().pid}.tmp.npy")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(tmp, arr)
        tmp.replace(cached)
        return arr

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        epoch = self._epoch.value
        order = (np.random.default_rng([self.seed, epoch]).permutation(len(self.samples)) if self.shuffle
                 else np.arange(len(self.samples)))
        augment = build_augment(seed=self.seed * 1_000_003 + epoch * 1009 + worker) if self.augment else None
        for i in order[worker::workers]:
            sample = self.samples[i]
            try:
                image = self.load(sample)
            except Exception as exc:  # noqa: BLE001 - a damaged file must not stop the run
                yield ("bad", f"{sample.path}: {exc}")
                continue
            if augment is not None:
                image = augment(image=image)["image"]
            x = (image.astype(np.float32) - self.mean) / self.std
            yield torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), sample.label


def collate(items: list) -> tuple[torch.Tensor | None, torch.Tensor | None, list[tuple[str, str]]]:
    """Stack good samples; return (kind, reason) of the others: "bad" (unreadable) or "skip" (unusable)."""
    bad = [item for item in items if isinstance(item[0], str)]
    good = [item for item in items if not isinstance(item[0], str)]
    if not good:
        return None, None, bad
    targets = [g[1] for g in good]
    y = torch.stack(targets) if isinstance(targets[0], torch.Tensor) else torch.tensor(targets)
    return torch.stack([g[0] for g in good]), y, bad
