"""Chip folders (one folder per class): scanning, split by place, decoding, band statistics.

No torch here: the PyTorch and Keras trainers both read their chips through this module.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geoclassify.errors import ConfigError, InputError
from geoclassify.training.band_stats import RunningBandStats
from geoclassify.training.config import DataConfig
from geoclassify.training.splits import split_groups

log = logging.getLogger("geoclassify")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
S2_CHIP = re.compile(r"_(T\d\d[A-Z]{3})_.*_(\d+)\.\w+$")
S2_GRID = 172  # 64-pixel chips across a 10980-pixel Sentinel-2 tile


@dataclass(frozen=True)
class Sample:
    """One labelled chip: its file, class index and place."""

    path: str
    label: int
    group: str  # the place it comes from: samples of one group never straddle splits


def group_of(path: Path, data: DataConfig) -> str:
    """The place a chip comes from, by `data.split`: its Sentinel-2 tile and block of `data.block` x `data.block`
    chips (s2-blocks), the first group of `data.group_pattern` (pattern), or the file name itself (name).

    Raises:
        ConfigError: an unknown split, or a chip name that the split's pattern does not match.
    """
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
    """Per-band mean and std in raw units, the images' dtype and the number of bands."""

    mean: list[float]
    std: list[float]
    dtype: str
    count: int


def band_stats(samples: list[Sample], bands: list[int], limit: int = 512) -> BandStats:
    """Per-band mean and std over (up to `limit`) readable training samples, in raw units, and their dtype."""
    picked = [samples[i] for i in np.linspace(0, len(samples) - 1, min(limit, len(samples))).astype(int)]
    stats = RunningBandStats()
    for s in picked:
        try:
            image = read_image(s.path, bands)
        except Exception:  # noqa: BLE001 - unreadable images are reported while training
            continue
        stats.add(image)
    if stats.count == 0:
        raise InputError("none of the sampled training images could be read")
    mean, std = stats.result()
    return BandStats(mean, std, stats.dtype, len(mean))
