"""The plugin zip installed into a fresh QGIS profile and run by `qgis_process.bin` (QGIS's command line)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import ROOT, leftovers, read_raster, run_cli

QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"


@pytest.fixture(scope="module")
def qgis_env(tmp_path_factory, cli) -> dict:
    """A QGIS profile with the built plugin zip installed and enabled, and the CLI path set."""
    if not os.path.isfile(QGIS_PROCESS):
        pytest.fail("qgis_process.bin not found: install Debian's qgis package (make test-qgis does)")
    root = tmp_path_factory.mktemp("qgis_config")
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_qgis_plugin.py"), "--out", str(dist)],
                           capture_output=True, text=True, check=True).stdout.strip()
    profile = root / "profiles" / "default"
    plugins = profile / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(built) as zf:  # what the Plugin Manager does with the zip
        zf.extractall(plugins)
    (profile / "QGIS").mkdir()
    (profile / "QGIS" / "QGIS3.ini").write_text(
        f"[PythonPlugins]\ngeoclassify_qgis=true\n\n[Processing]\nConfiguration\\GEOCLASSIFY_CLI={cli}\n",
        encoding="utf-8")
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(root), QT_QPA_PLATFORM="offscreen")
    env.pop("QGIS_PLUGINPATH", None)
    return env


def qgis_process(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([QGIS_PROCESS, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_qgis_process_lists_the_algorithms(qgis_env):
    listing = qgis_process(qgis_env, "list").stdout
    for alg in ("geoclassify:classify\tClassify raster", "geoclassify:polygonize\tPolygonize classification",
                "geoclassify:info\tShow model info", "geoclassify:setup\tSet up geoclassify"):
        assert alg in listing


def test_qgis_process_classify_equals_the_cli(qgis_env, cli, naip, tmp_path):
    """The demo scene (real NAIP, 5 m, resampled to the model's 10 m) through QGIS and through the CLI."""
    out = tmp_path / "qgis classes.tif"
    proc = qgis_process(qgis_env, "--json", "run", "geoclassify:classify", "--", f"INPUT={naip}", f"OUTPUT={out}",
                        "STRIDE=16", f"POLYGONS={tmp_path / 'qgis fields.gpkg'}")
    results = _json(proc.stdout)["results"]
    assert results["OUTPUT"] == str(out) and results["POLYGONS"] == str(tmp_path / "qgis fields.gpkg")
    run_cli(cli, "predict", naip, "-o", tmp_path / "cli.tif", "--stride", 16)
    got, transform, crs = read_raster(out)
    want, want_transform, want_crs = read_raster(tmp_path / "cli.tif")
    assert got.shape == want.shape == (23, 30)
    np.testing.assert_array_equal(got, want)
    assert transform == want_transform and crs == want_crs and 'AUTHORITY["EPSG","26914"]]' in crs
    assert (tmp_path / "qgis classes.tif.aux.xml").read_text() == (tmp_path / "cli.tif.aux.xml").read_text()
    assert leftovers(tmp_path) == ["cli.tif", "cli.tif.aux.xml", "qgis classes.tif", "qgis classes.tif.aux.xml",
                                   "qgis fields.gpkg"]


def test_qgis_process_info_and_a_failure(qgis_env, naip, tmp_path):
    card = _json(qgis_process(qgis_env, "--json", "run", "geoclassify:info").stdout)
    assert "classes: 0=non_agricultural, 1=agricultural" in card["results"]["CARD"]
    card = _json(qgis_process(qgis_env, "--json", "run", "geoclassify:info", "--", "BUNDLED_MODEL=aerial-landcover")
                 .stdout)  # a bundled model by name
    assert "task: segmentation" in card["results"]["CARD"]
    failed = qgis_process(qgis_env, "run", "geoclassify:classify", "--", f"INPUT={naip}",
                          f"MODEL={tmp_path / 'missing.safetensors'}", f"OUTPUT={tmp_path / 'c.tif'}", check=False)
    assert failed.returncode != 0
    assert "model file not found" in failed.stdout + failed.stderr
    assert list(tmp_path.iterdir()) == []


def _json(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{"):])
