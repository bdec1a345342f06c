"""Raster output on real file systems that fail: a full disk, a read-only one, a partial file removed under the run.

The full and read-only disks are tmpfs mounts, which need root (CI runs as root); elsewhere these tests are skipped
with that reason.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from geoclassify.errors import OutputError
from geoclassify.geo.grid import Grid
from geoclassify.io.writer import RasterWriter

GRID = Grid(512, 512, Affine(10, 0, 600000, 0, -10, 5000000), "EPSG:32618")


def noise(count: int = 3) -> np.ndarray:
    """Incompressible float32 rows: 512 x 512 x 3 bands is 3 MiB however deflated."""
    return np.random.default_rng(0).random((count, 512, 512), dtype=np.float32)


@contextmanager
def tmpfs(folder: Path, size: str, read_only: bool = False):
    """A small tmpfs mounted on `folder` for the block; root only."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs (a full or read-only disk) needs root; CI runs these tests as root")
    folder.mkdir(exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture()
def full_disk(tmp_path):
    """A 64 KiB file system: a few tiles of noise fill it."""
    with tmpfs(tmp_path / "full", "64k") as folder:
        yield folder


def test_a_full_disk_fails_in_one_line_naming_the_file_and_leaves_nothing(full_disk):
    out = full_disk / "p.tif"
    with pytest.raises(OutputError) as error:
        with RasterWriter(out, GRID, 3, "float32") as writer:
            for row in range(0, 512, 64):
                writer.write(noise()[:, row:row + 64], row)
            writer.commit()
    message = str(error.value)
    assert message.startswith("no space left on device while writing ") and f"{full_disk}/.p.tif." in message
    assert "\n" not in message
    assert os.listdir(full_disk) == []


def test_closing_a_raster_whose_blocks_cannot_be_written_raises(full_disk):
    """GDAL writes its cached blocks at close and only logs a failure: the close is checked (io.failures)."""
    writer = RasterWriter(full_disk / "p.tif", GRID, 3, "float32", partial=full_disk / ".p.tif.partial.tif")
    writer.write(noise()[:, :64], 0)  # 384 KiB in GDAL's block cache: nothing written yet
    with pytest.raises(OutputError, match=r"^no space left on device while writing .*/\.p\.tif\.partial\.tif$"):
        writer.close()
    writer.abort()


def test_a_read_only_disk_is_named(tmp_path):
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as folder:
        with pytest.raises(OutputError, match=r"^read-only file system while writing .*/ro/\.out\.tif\.partial\.tif$"):
            RasterWriter(folder / "out.tif", GRID, 1, "uint8", partial=folder / ".out.tif.partial.tif")


def test_a_partial_file_removed_under_the_run_is_noticed_at_the_next_checkpoint(tmp_path):
    partial = tmp_path / ".out.tif.partial.tif"
    writer = RasterWriter(tmp_path / "out.tif", GRID, 1, "uint8", partial=partial)
    writer.write(np.ones((64, 512), np.uint8), 0)
    writer.checkpoint()
    partial.unlink()  # another process, or a clean-up script
    writer.write(np.ones((64, 512), np.uint8), 64)
    with pytest.raises(OutputError, match=f"^the file was removed while writing {partial}$"):
        writer.checkpoint()
    writer.abort()
    assert os.listdir(tmp_path) == []


def test_a_partial_file_replaced_under_the_run_is_noticed_at_the_commit(tmp_path):
    partial = tmp_path / ".out.tif.partial.tif"
    writer = RasterWriter(tmp_path / "out.tif", GRID, 1, "uint8", partial=partial)
    writer.write(np.ones((64, 512), np.uint8), 0)
    partial.unlink()
    partial.write_bytes(b"another run's file")
    with pytest.raises(OutputError, match=f"^the file was removed while writing {partial}$"):
        writer.commit()
    writer.abort()
    assert not (tmp_path / "out.tif").exists()


def test_finish_then_publish_is_commit(tmp_path):
    out = tmp_path / "out.tif"
    writer = RasterWriter(out, GRID, 1, "uint8", class_names=["a", "b"], colors=[(0, 0, 0), (9, 9, 9)])
    writer.write(np.ones((512, 512), np.uint8), 0)
    writer.finish()
    assert not out.exists(), "finished, not published"
    writer.publish()
    with rasterio.open(out) as ds:
        assert ds.read(1).sum() == 512 * 512
    assert sorted(os.listdir(tmp_path)) == ["out.tif", "out.tif.aux.xml"]
