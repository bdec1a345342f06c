"""Fixtures for the plugin's tests, run in QGIS's Python by pytest-qgis (see `make test-qgis`).

The plugin calls a real geoclassify CLI: GEOCLASSIFY_TEST_CLI (default: the repository's .venv/bin/geoclassify,
made by `make setup`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = ROOT / "qgis_plugin"
sys.path.insert(0, str(PLUGIN_DIR))

NAIP = ROOT / "examples" / "data" / "naip_farmland.tif"
RGB_BYTE = ROOT / "tests" / "data" / "RGB.byte.tif"
WHEELS = Path(__file__).resolve().parent / ".wheels"  # scripts/qgis_wheels.py's output (gitignored): deps/ a cache


def cli_path() -> Path:
    return Path(os.environ.get("GEOCLASSIFY_TEST_CLI", ROOT / ".venv" / "bin" / "geoclassify"))


@pytest.fixture(scope="session")
def cli() -> str:
    path = cli_path()
    if not path.is_file():
        pytest.fail(f"no geoclassify CLI at {path}: run `make setup` or set GEOCLASSIFY_TEST_CLI")
    return str(path)


@pytest.fixture(scope="session")
def provider(qgis_processing, cli):
    """The plugin's provider, registered as QGIS registers it, with the CLI path in its setting."""
    from qgis.core import QgsApplication

    from geoclassify_qgis.provider import GeoclassifyProvider
    from geoclassify_qgis.settings import set_cli_setting

    registry = QgsApplication.processingRegistry()
    if registry.providerById("geoclassify") is None:
        registry.addProvider(GeoclassifyProvider())
    set_cli_setting(cli)
    yield registry  # look the provider up by id: a test re-registers it
    set_cli_setting(cli)


@pytest.fixture
def cli_setting(provider, cli):
    """Set the CLI path for one test; restored afterwards."""
    from geoclassify_qgis.settings import set_cli_setting

    yield set_cli_setting
    set_cli_setting(cli)


@pytest.fixture(scope="session")
def wheels(cli) -> tuple[Path, Path]:
    """(the project's wheel, built now from the working tree; a folder of its core dependencies' wheels).

    Made by scripts/qgis_wheels.py with the CLI's environment building the wheel; the dependencies are downloaded
    (for this Python, the one the set-up uses) from the package index once, then reused from tests_qgis/.wheels.
    """
    builder = Path(cli).parent / "python"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "qgis_wheels.py"), "--out", str(WHEELS),
                           "--builder", str(builder)], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.fail(f"scripts/qgis_wheels.py failed:\n{proc.stdout}\n{proc.stderr}")
    wheel, deps = proc.stdout.split("\n")[:2]
    return Path(wheel), Path(deps)


@pytest.fixture(scope="session")
def naip(tmp_path_factory) -> Path:
    """A copy of the NAIP demo scene (4 bands, 934x723, 5 m): QGIS writes statistics beside a raster it opens."""
    path = tmp_path_factory.mktemp("scenes") / NAIP.name
    shutil.copyfile(NAIP, path)
    return path


@pytest.fixture(scope="session")
def small_scene(tmp_path_factory) -> Path:
    """A 256x256-pixel corner of the NAIP demo scene (4 bands, 5 m): a few model windows, fast."""
    from osgeo import gdal

    path = tmp_path_factory.mktemp("scenes") / "naip_small.tif"
    gdal.Translate(str(path), str(NAIP), srcWin=[0, 0, 256, 256])
    return path


@pytest.fixture(scope="session")
def single_band(tmp_path_factory) -> Path:
    """Band 1 of the NAIP scene alone: the default RGB model does not fit it."""
    from osgeo import gdal

    path = tmp_path_factory.mktemp("scenes") / "one_band.tif"
    gdal.Translate(str(path), str(NAIP), bandList=[1], srcWin=[0, 0, 256, 256])
    return path


def run_cli(cli: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI on its own, for comparisons."""
    proc = subprocess.run([cli, "-q", *map(str, args)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def read_raster(path):
    """(pixels, geotransform, projection WKT) of band 1."""
    from osgeo import gdal

    ds = gdal.Open(str(path))
    assert ds is not None, path
    return ds.GetRasterBand(1).ReadAsArray(), ds.GetGeoTransform(), ds.GetProjection()


def leftovers(folder: Path) -> list[str]:
    """Everything in a folder, hidden files and staging folders included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
