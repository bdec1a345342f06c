"""PyTorch IterableDatasets over chip folders and scene windows, decoded on the fly in DataLoader workers.

The workers send pixels in the data's own type (uint8 stays uint8) and labels as small integers;
`BatchNormalizer` turns them into normalised float32 on the training device. A batch in flight
between processes is 4x smaller for 8-bit data than normalised float32 would be.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from torch.utils.data import IterableDataset, get_worker_info

from geoclassify.io.atomic import atomic_target
from geoclassify.training.augment import build_augment
from geoclassify.training.chips import Sample, read_image
from geoclassify.training.class_mapping import IGNORE
from geoclassify.training.scenes import Block, SceneReader, block_windows, random_windows


class ChipStream(IterableDataset):
    """Streams (image, label) samples, decoded on the fly in each worker, in a per-epoch order.

    Unreadable images are not fatal: they come out as ("bad", reason) and the collate function
    counts them. The epoch lives in shared memory so persistent workers see `set_epoch`.
    """

    def __init__(self, samples: list[Sample], bands: list[int], *, shuffle: bool, augment: bool, seed: int = 0,
                 cache_dir: str | None = None):
        self.samples, self.bands, self.shuffle, self.augment, self.seed = samples, bands, shuffle, augment, seed
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._epoch = mp.Value("i", 0)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that orders and augments the next pass, in every worker."""
        self._epoch.value = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, sample: Sample) -> np.ndarray:
        """A sample's (height, width, bands) image, from `cache_dir` when it holds it (else decoded and cached there).

        Errors reading or decoding the file pass through (`__iter__` yields them as "bad" samples).
        """
        if self.cache_dir is None:
            return read_image(sample.path, self.bands)
        key = hashlib.sha1(f"{sample.path}|{self.bands}".encode()).hexdigest()
        cached = self.cache_dir / f"{key}.npy"
        if cached.exists():
            return np.load(cached)
        arr = read_image(sample.path, self.bands)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_target(cached, ".tmp.npy") as tmp:  # workers caching the same sample never see half a file
            np.save(tmp, arr)
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
            yield channels_first(image), sample.label


def channels_first(image: np.ndarray) -> torch.Tensor:
    """(height, width, bands) array -> contiguous (bands, height, width) tensor of the same type."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class BatchNormalizer:
    """Raw batches from the streams -> float32 (x - mean) / std and int64 targets on a device."""

    def __init__(self, mean: list[float], std: list[float], device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(-1, 1, 1)

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, bands, height, width) raw pixels -> normalised float32 on the device."""
        return (x.to(self.device, non_blocking=True).to(torch.float32) - self.mean) / self.std

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        """Class indexes (batch,) or (batch, height, width) -> int64 on the device."""
        return y.to(self.device, non_blocking=True).long()


def collate(items: list) -> tuple[torch.Tensor | None, torch.Tensor | None, list[tuple[str, str]]]:
    """Stack good samples; return (kind, reason) of the others: "bad" (unreadable) or "skip" (unusable)."""
    bad = [item for item in items if isinstance(item[0], str)]
    good = [item for item in items if not isinstance(item[0], str)]
    if not good:
        return None, None, bad
    targets = [g[1] for g in good]
    y = torch.stack(targets) if isinstance(targets[0], torch.Tensor) else torch.tensor(targets)
    return torch.stack([g[0] for g in good]), y, bad


class SceneWindowStream(IterableDataset):
    """Streams (image, label map) windows; training windows are drawn anew each epoch."""

    def __init__(self, reader: SceneReader, blocks: list[Block], size: int, *, count: int | None, augment: bool,
                 min_labelled: float, seed: int = 0):
        self.reader, self.blocks, self.size, self.count = reader, blocks, size, count
        self.augment, self.min_labelled, self.seed = augment, min_labelled, seed
        self._epoch = mp.Value("i", 0)
        self._fixed = block_windows(blocks, size) if count is None else None

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that draws and augments the next pass's windows, in every worker."""
        self._epoch.value = epoch

    def __len__(self) -> int:
        if self.count is not None:
            return self.count
        assert self._fixed is not None  # the fixed windows are listed whenever no count is given
        return len(self._fixed)

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        epoch = self._epoch.value
        windows = self._fixed if self._fixed is not None else random_windows(
            self.blocks, self.size, self.count, np.random.default_rng([self.seed, epoch]))
        augment = build_augment(seed=self.seed * 1_000_003 + epoch * 1009 + worker) if self.augment else None
        for scene, row, col in windows[worker::workers]:
            pixels, classes = self.reader.read(scene, row, col, self.size)
            if (classes != IGNORE).mean() < self.min_labelled:
                yield ("skip", f"window {row},{col} of {self.reader.pairs[scene].image}: too few labelled pixels")
                continue
            if augment is not None:
                out = augment(image=pixels, mask=classes)
                pixels, classes = out["image"], out["mask"]
            yield channels_first(pixels), torch.from_numpy(np.ascontiguousarray(classes))
