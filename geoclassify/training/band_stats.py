"""Per-band mean and standard deviation accumulated image by image, without stacking the images."""

from __future__ import annotations

import numpy as np

from geoclassify.errors import InputError


class RunningBandStats:
    """Adds (height, width, bands) images one at a time (Chan et al.'s pairwise update, float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None
        self.dtype = ""

    def add(self, image: np.ndarray) -> None:
        """Add a (height, width, bands) image (raw units); the first image added sets `dtype`."""
        pixels = image.reshape(-1, image.shape[-1]).astype(np.float64)
        n, mean = len(pixels), pixels.mean(0)
        m2 = ((pixels - mean) ** 2).sum(0)
        if self.mean is None:
            self.count, self.mean, self.m2, self.dtype = n, mean, m2, image.dtype.name
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2 + delta**2 * self.count * n / total
        self.count = total

    def result(self) -> tuple[list[float], list[float]]:
        """(mean, std) per band; std at least 1e-6 so that normalising never divides by zero."""
        if self.mean is None or self.m2 is None:
            raise InputError("no image to compute band statistics from")
        return self.mean.tolist(), np.maximum(np.sqrt(self.m2 / self.count), 1e-6).tolist()
