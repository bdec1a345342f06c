"""Tiny real training data: 32x32 7-band Landsat 8 chips cut from the shipped Ag-Net tiles, labelled
agricultural / non-agricultural by the majority of their CDL pixels."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from geoclassify.training.class_mapping import IGNORE, load_class_mapping
from geoclassify.training.config import config_from_dict
from geoclassify.training.splits import assign_split

ROOT = Path(__file__).resolve().parents[2]
AGNET = ROOT / "tests" / "data" / "agnet"
TILES = ["10_12", "10_14", "11_12", "11_14", "12_11", "12_14"]


def read_tile(tile: str) -> np.ndarray:
    bands = [rasterio.open(AGNET / "input" / f"lc8_2015245_{tile}_{b}.tif").read(1) for b in range(1, 8)]
    return np.stack(bands)


def write_tif(path: Path, data: np.ndarray) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype) as dst:
        dst.write(data)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Train on one thread: batches of 16 chips of 32 x 32 pixels gain nothing from a second one, and on a busy
    machine a second OpenMP thread waits for a core at every operation. Measured on 2 cores beside another
    process: EfficientNet-B3 on 16 chips 1.8 s a forward pass with 2 threads, 0.1 s with 1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def agnet_chips(tmp_path_factory) -> Path:
    mapping = load_class_mapping(ROOT / "examples" / "cdl_agricultural.yaml")
    root = tmp_path_factory.mktemp("agnet_chips")
    for name in mapping.class_names:
        (root / name).mkdir()
    for tile in TILES:
        image = read_tile(tile)
        labels = mapping.apply(rasterio.open(AGNET / "target" / f"cdl_2015245_{tile}.tif").read(1))
        for i in range(16):
            r, c = (i // 4) * 32, (i % 4) * 32
            votes = labels[r : r + 32, c : c + 32]
            votes = votes[votes != IGNORE]
            label = int(np.bincount(votes, minlength=2).argmax())
            chip = root / mapping.class_names[label] / f"lc8_2015245_{tile}_{i:02d}.tif"
            write_tif(chip, image[:, r : r + 32, c : c + 32])
    return root


@pytest.fixture(scope="session")
def tiny_chips(tmp_path_factory, agnet_chips) -> Path:
    """`agnet_chips` with two chips of each class from each training tile: one training step of 16 chips, and
    every chip of the validation and test tiles (16 each) to measure it on."""
    root = tmp_path_factory.mktemp("tiny_chips")
    data = config_from_dict(chip_config(root)).data
    for folder in sorted(p for p in agnet_chips.iterdir() if p.is_dir()):
        (root / folder.name).mkdir()
        for tile in TILES:
            keep = 2 if assign_split(tile, data) == "train" else None
            for path in sorted(folder.glob(f"lc8_2015245_{tile}_*.tif"))[:keep]:
                shutil.copy(path, root / folder.name / path.name)
    return root


@pytest.fixture(scope="session")
def agnet_scene(tmp_path_factory) -> Path:
    """One Ag-Net tile as a 7-band raster (no georeferencing, as shipped)."""
    path = tmp_path_factory.mktemp("agnet_scene") / "lc8_2015245_10_12.tif"
    write_tif(path, read_tile("10_12"))
    return path


def chip_config(root: Path, **optim) -> dict:
    return {
        "data": {"source": "chips", "path": str(root), "split": "pattern", "group_pattern": r"lc8_\d+_(\d+_\d+)_",
                 "tile_size": 32, "val_fraction": 0.25, "test_fraction": 0.25},
        "optim": {"epochs": 1, "batch_size": 16, "early_stopping": None, **optim},
        "loader": {"workers": 0},
        "device": "cpu",
    }
