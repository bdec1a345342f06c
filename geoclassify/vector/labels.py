"""Connected regions of a class strip: 4-connected pixels of one class, labelled in row-major order per class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class StripLabels:
    """Region labels of one strip: 0 outside the mask, 1..n regions (pieces of raster-wide regions)."""

    labels: np.ndarray  # (h, w) int32
    classes: np.ndarray  # (n + 1,) class of each label; index 0 unused
    first: np.ndarray  # (n + 1,) row-major raster index of each label's first pixel; index 0 unused

    @property
    def count(self) -> int:
        """Number of regions n."""
        return len(self.classes) - 1


def present_classes(values: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-D integer array, sorted (a bincount for small unsigned types)."""
    if values.dtype.kind == "u" and values.dtype.itemsize <= 2:
        return np.flatnonzero(np.bincount(values, minlength=1)).astype(values.dtype)
    return np.unique(values)


def first_pixels(lab: np.ndarray) -> np.ndarray:
    """Row-major index of the first pixel of labels 1..n of `ndimage.label` output (numbered in that order)."""
    flat = lab.ravel()
    where = np.flatnonzero(flat)
    values = flat[where]
    new = np.ones(len(values), bool)
    if len(values) > 1:
        new[1:] = values[1:] > np.maximum.accumulate(values)[:-1]
    return where[new]


def label_regions(classes: np.ndarray, mask: np.ndarray, row: int) -> StripLabels:
    """Label the 4-connected regions of each class among the `mask` pixels of a strip starting at `row`."""
    labels = np.zeros(classes.shape, np.int32)
    class_parts, first_parts = [np.zeros(1, classes.dtype)], [np.zeros(1, np.int64)]
    offset, count = row * classes.shape[1], 0
    for value in present_classes(classes[mask]):
        lab, n = ndimage.label(mask & (classes == value))
        inside = lab > 0
        labels[inside] = lab[inside] + count
        count += n
        class_parts.append(np.full(n, value, classes.dtype))
        first_parts.append(first_pixels(lab) + offset)
    return StripLabels(labels, np.concatenate(class_parts), np.concatenate(first_parts))


def _pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distinct (low, high) label pairs of neighbouring pixels `a`, `b` with different nonzero labels."""
    m = (a != b) & (a > 0) & (b > 0)
    lo = np.minimum(a[m], b[m]).astype(np.int64)
    hi = np.maximum(a[m], b[m]).astype(np.int64)
    codes = np.unique((lo << 32) | hi)
    return np.column_stack([codes >> 32, codes & 0xFFFFFFFF])


def neighbour_pairs(labels: np.ndarray) -> np.ndarray:
    """Distinct (low, high) pairs of labels that touch along a pixel edge, shape (k, 2)."""
    pairs = np.concatenate([_pairs(labels[:, :-1], labels[:, 1:]), _pairs(labels[:-1], labels[1:])])
    return np.unique(pairs, axis=0) if len(pairs) else pairs
