"""Shared fixtures: the shipped real rasters and small model files made from them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import rasterio
import torch

from geoclassify.models.card import ModelCard
from geoclassify.models.factory import create_model
from geoclassify.models.files import save_model

pytest_plugins = [
    "tests.deploy_fixtures",  # trained, exported and quantized models (evaluate/export tests)
    "tests.dask_fixtures",  # Dask schedulers and workers on 127.0.0.1
]

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def rgb_byte() -> Path:
    """Landsat 7 RGB subset, 791x718, EPSG:32618, 300 m pixels, nodata 0 around the scene."""
    return DATA / "RGB.byte.tif"


@pytest.fixture(scope="session")
def rgb_byte_10m(rgb_byte):
    """RGB.byte.tif's pixels on a 10 m grid at its upper-left corner (the bundled 10 m model reads them as they
    are): (pixels (3, h, w) uint8, valid (h, w) from its mask, transform, crs)."""
    with rasterio.open(rgb_byte) as ds:
        rgb, valid, crs, corner = ds.read(), ds.dataset_mask() > 0, ds.crs, ds.transform
    return rgb, valid, rasterio.Affine(10, 0, corner.c, 0, -10, corner.f), crs


@pytest.fixture(scope="session")
def naip() -> Path:
    """NAIP RGBN, 934x723 at 5 m, EPSG:26914 (the demo scene)."""
    return ROOT / "examples" / "data" / "naip_farmland.tif"


def make_card(**overrides) -> ModelCard:
    fields = dict(architecture="compact_cnn", task="classification", class_names=("water", "land"),
                  class_colors=((0, 0, 255), (0, 160, 0)), bands=(1, 2, 3), mean=(60.0, 60.0, 60.0),
                  std=(40.0, 40.0, 40.0), tile_size=32, gsd=None)
    fields.update(overrides)
    return ModelCard(**fields)


@pytest.fixture(scope="session")
def chip_model(tmp_path_factory) -> Path:
    """A small chip classifier (random weights, fixed seed) for 32-pixel chips at any pixel size."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "chips.safetensors"
    save_model(create_model("compact_cnn", 3, 2, widths=(8, 16)), make_card(arch_kwargs={"widths": [8, 16]}), path)
    return path


@pytest.fixture(scope="session")
def seg_model(tmp_path_factory) -> Path:
    """A 3-class TinyFCN with a 7-pixel receptive field, weights scaled so classes vary with the input."""
    torch.manual_seed(1)
    model = create_model("tiny_fcn", 3, 3)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    card = make_card(architecture="tiny_fcn", task="segmentation", class_names=("a", "b", "c"),
                     class_colors=((255, 0, 0), (0, 255, 0), (0, 0, 255)), tile_size=64, receptive_margin=4)
    path = tmp_path_factory.mktemp("models") / "seg.safetensors"
    save_model(model, card, path)
    return path


@pytest.fixture()
def scene_copy(tmp_path, rgb_byte):
    """Write a modified copy of RGB.byte.tif: scene_copy(name, data=None, **profile_changes)."""

    def make(name: str, data=None, window=None, **changes) -> Path:
        with rasterio.open(rgb_byte) as src:
            profile = src.profile
            arr = src.read(window=window) if data is None else data
            if window is not None:
                profile.update(width=window.width, height=window.height, transform=src.window_transform(window))
        profile.update(count=arr.shape[0], dtype=str(arr.dtype), **changes)
        out = tmp_path / name
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(arr)
        return out

    return make


@pytest.fixture()
def copy_of(tmp_path):
    def make(path: Path, name: str) -> Path:
        out = tmp_path / name
        shutil.copy(path, out)
        return out

    return make


class OnProgress:
    """A progress reporter that calls `callback(windows done so far)` at every update of a run's bar (per batch in
    a local run, per strip on a cluster): a test's hook into a running prediction."""

    def __init__(self, callback):
        self.callback = callback

    def bar(self, total, desc, unit):
        from geoclassify.progress import SilentBar

        reporter = self

        class Bar(SilentBar):
            done = 0

            def update(self, n: int = 1) -> None:
                self.done += n
                reporter.callback(self.done)

        return Bar()


def interrupt_after(windows: int) -> OnProgress:
    """Stop the run as Ctrl-C does once `windows` windows are done."""

    def check(done: int) -> None:
        if done >= windows:
            raise KeyboardInterrupt

    return OnProgress(check)
