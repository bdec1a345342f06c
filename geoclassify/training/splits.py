"""Splits by place: a sample's group (its place) decides its split, never the sample itself."""

from __future__ import annotations

import hashlib
from typing import Sequence, TypeVar

from geoclassify.errors import ConfigError
from geoclassify.training.config import DataConfig

T = TypeVar("T")
SPLITS = ("train", "val", "test")


def unit_hash(text: str) -> float:
    """A stable number in [0, 1) for a text."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:12], 16) / 16**12


def assign_split(group: str, data: DataConfig) -> str:
    """test: groups named in data.test_groups (or a hashed fraction of groups); then val; else train."""
    forced = any(group.startswith(g) for g in data.test_groups)
    if forced or (not data.test_groups and unit_hash(group) < data.test_fraction):
        return "test"
    return "val" if unit_hash("val/" + group) < data.val_fraction else "train"


def split_groups(items: Sequence[T], groups: Sequence[str], data: DataConfig, hint: str) -> dict[str, list[T]]:
    """Split items by their groups; an empty split is an error that says what to change (`hint`)."""
    out: dict[str, list[T]] = {name: [] for name in SPLITS}
    for item, group in zip(items, groups):
        out[assign_split(group, data)].append(item)
    for name, part in out.items():
        if not part:
            raise ConfigError(f"the {name} split is empty: {hint}")
    return out
