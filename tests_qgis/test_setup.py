"""Set up geoclassify from QGIS, for real: pip installs the project's wheel (built now) offline from a folder of its
core dependencies' wheels into a new environment in the QGIS profile; Classify raster then runs through it.

pip sees only what the set-up gives it: the machine's own pip configuration (PIP_FIND_LINKS, pip.conf with extra
indexes) is switched off for these tests, so "offline" means the folder alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import read_raster, run_cli
from qgis.core import QgsApplication
from test_algorithms import Recorder, _cmdline_has, run, run_fails, run_task

from geoclassify_qgis import catalog, setup_env
from geoclassify_qgis.settings import cli_setting, environments_root, set_cli_setting


def only_the_given_wheels(patch: pytest.MonkeyPatch) -> None:
    """pip without the machine's configuration: no pip.conf, no PIP_* index or find-links variables."""
    patch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        patch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _hermetic_pip(monkeypatch):
    only_the_given_wheels(monkeypatch)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def in_environment(environment: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(environment / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          timeout=120)


def model_options() -> list[str]:
    """The models the registered Classify raster offers (what the toolbox's dialog shows)."""
    alg = QgsApplication.processingRegistry().algorithmById("geoclassify:classify")
    return alg.parameterDefinition("BUNDLED_MODEL").options()


@pytest.fixture(scope="module")
def setup_result(provider, cli, wheels, tmp_path_factory):
    """One offline set-up from the wheels, as on a first run: no CLI before it. The CLI setting is put back after."""
    wheel, deps = wheels
    registry = QgsApplication.processingRegistry()
    set_cli_setting(str(tmp_path_factory.mktemp("nothing") / "geoclassify"))
    try:
        registry.providerById("geoclassify").refreshAlgorithms()
        assert model_options() == [catalog.DEFAULT_NAME]  # no CLI: the default model alone
        feedback = Recorder()
        started = time.monotonic()
        with pytest.MonkeyPatch.context() as patch:
            only_the_given_wheels(patch)
            result = run("setup", {"WHEEL": str(wheel), "FOLDER": str(deps)}, feedback)
        seconds = time.monotonic() - started
        environment = Path(result["ENVIRONMENT"])
        size = subprocess.run(["du", "-sh", str(environment)], capture_output=True, text=True).stdout.split()[0]
        print(f"\nset-up from local wheels: {seconds:.1f} s, environment {size} ({environment})")
        yield result, feedback, seconds
    finally:
        set_cli_setting(cli)
        catalog.clear_cache()
        registry.providerById("geoclassify").refreshAlgorithms()


def test_set_up_from_local_wheels(setup_result):
    result, feedback, seconds = setup_result
    environment = Path(result["ENVIRONMENT"])
    assert environment.parent == environments_root() and environment.name.startswith("env-")
    assert str(environments_root()).startswith(QgsApplication.qgisSettingsDirPath().rstrip("/"))
    assert cli_setting() == str(environment)  # the algorithms use it now
    assert result["CLI"] == str(environment / "bin" / "geoclassify") and Path(result["CLI"]).is_file()
    assert result["VERSION"] and result["VERSION"] in run_cli(result["CLI"], "--version").stdout
    marker = json.loads((environment / setup_env.MARKER).read_text())
    assert marker["geoclassify"] == result["VERSION"] and "offline" in marker["source"]
    # the core: geoclassify and ONNX Runtime, no torch, nothing of QGIS's or the system's site-packages
    installed = {p["name"].lower() for p in json.loads(subprocess.run(
        [str(environment / "bin" / "python"), "-m", "pip", "list", "--format", "json"], capture_output=True,
        text=True, check=True).stdout)}
    assert {"geoclassify", "onnxruntime", "numpy", "rasterio"} <= installed
    assert "torch" not in installed and "torchvision" not in installed
    assert in_environment(environment, "import torch").returncode != 0
    assert in_environment(environment, "import qgis").returncode != 0
    assert "include-system-site-packages = false" in (environment / "pyvenv.cfg").read_text()
    # progress: steps in the log, pip's lines in the console log, a bar that moves to 100
    assert feedback.steps[0] == "finding a Python interpreter" and "checking the geoclassify command" in feedback.steps
    assert any(line.startswith("installing ") and line.endswith(" packages") for line in feedback.steps)
    assert any(line.startswith("Successfully installed ") for line in feedback.consoles)  # pip's own lines
    assert any(f"geoclassify {result['VERSION']} is set up in {environment}" in line for line in feedback.infos)
    assert feedback.percents[-1] == 100 and len({round(p) for p in feedback.percents if 10 < p < 95}) >= 5
    assert seconds < 300


def test_the_algorithms_run_through_the_new_environment(setup_result, cli, naip, tmp_path):
    """The demo scene with the defaults (the default model, its fine-map stride) equals the CLI's ONNX output."""
    result, _, _ = setup_result
    assert catalog.load_catalog(cli_setting()).problem is None
    assert model_options() == catalog.load_catalog(cli_setting()).names()  # reloaded after the set-up: the CLI's
    assert len(model_options()) == 3
    feedback = Recorder()
    out = tmp_path / "classes.tif"
    run("classify", {"INPUT": str(naip), "OUTPUT": str(out)}, feedback)
    assert feedback.commands[0].startswith(result["CLI"] + " --progress-format json predict")
    assert "--model agri-s2-rgb --stride 16" in feedback.commands[0]
    run_cli(cli, "predict", naip, "-o", tmp_path / "reference.tif", "--model", "agri-s2-rgb", "--stride", 16,
            "--backend", "onnx")
    got, transform, crs = read_raster(out)
    want, want_transform, want_crs = read_raster(tmp_path / "reference.tif")
    assert got.shape == want.shape == (23, 30)
    np.testing.assert_array_equal(got, want)
    assert transform == want_transform and crs == want_crs


@pytest.mark.parametrize("name", ["aerial-scenes", "aerial-landcover"])
def test_the_other_bundled_models_through_the_new_environment(setup_result, cli, small_scene, tmp_path, name):
    model = catalog.load_catalog(cli_setting()).get(name)
    assert model is not None
    run("classify", {"INPUT": str(small_scene), "BUNDLED_MODEL": name, "OUTPUT": str(tmp_path / "classes.tif")})
    stride = ["--stride", model.stride] if model.stride else []
    run_cli(cli, "predict", small_scene, "-o", tmp_path / "reference.tif", "--model", name, *stride,
            "--backend", "onnx")
    np.testing.assert_array_equal(read_raster(tmp_path / "classes.tif")[0], read_raster(tmp_path / "reference.tif")[0])


def test_a_cancelled_set_up_leaves_nothing_and_keeps_the_setting(setup_result, wheels):
    wheel, deps = wheels
    root = environments_root()
    before, setting = listing(root), cli_setting()
    feedback = Recorder(cancel_above=60)  # while pip installs the packages
    message = run_fails("setup", {"WHEEL": str(wheel), "FOLDER": str(deps)}, feedback)
    returned = time.monotonic()
    assert feedback.canceled_at is not None, "the set-up ended before it could be cancelled"
    assert returned - feedback.canceled_at < 10
    assert "cancelled" in message and "nothing was installed" in message
    assert listing(root) == before and cli_setting() == setting
    running = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, str(root))]
    assert running == [], "pip is still running"


def test_a_failing_set_up_says_pips_reason_and_leaves_nothing(setup_result, wheels, tmp_path):
    wheel, deps = wheels
    root = environments_root()
    before, setting = listing(root), cli_setting()
    only_the_wheel = tmp_path / "wheels"
    only_the_wheel.mkdir()
    shutil.copy(wheel, only_the_wheel)
    feedback = Recorder()
    message = run_fails("setup", {"FOLDER": str(only_the_wheel)}, feedback)
    assert message.startswith("pip could not install geoclassify with the wheels in")
    assert "No matching distribution found for" in message and "ERROR:" not in message
    assert listing(root) == before and cli_setting() == setting
    torch = run_fails("setup", {"WHEEL": str(wheel), "FOLDER": str(deps), "EXTRAS": "torch"})  # not in the folder
    assert "pip could not install geoclassify[torch]" in torch and "No matching distribution found for torch" in torch
    assert listing(root) == before and cli_setting() == setting


@pytest.mark.parametrize("params, message", [
    ({"WHEEL": __file__}, "is not a geoclassify wheel"),
    ({"FOLDER": "/no/such/folder"}, "does not exist"),
    ({"EXTRAS": "torch; rm -rf"}, "not an extra's name"),
    ({"INDEX_URL": "https://mirror.example/simple", "FOLDER": str(Path(__file__).parent / ".wheels" / "deps")},
     "not both"),
    ({"PYTHON": "/bin/true", "FOLDER": str(Path(__file__).parent / ".wheels" / "deps")}, "does not run as Python"),
])
def test_bad_input_is_refused_before_any_work(setup_result, params, message):
    root = environments_root()
    before, setting = listing(root), cli_setting()
    assert message in run_fails("setup", params)
    assert listing(root) == before and cli_setting() == setting


def simple_index(wheels: Path, folder: Path) -> str:
    """A package index (PEP 503 "simple" pages, file:// URL) serving the wheels of a folder, as a mirror does."""
    for wheel in wheels.glob("*.whl"):
        project = folder / re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        project.mkdir(parents=True, exist_ok=True)
        with open(project / "index.html", "a", encoding="utf-8") as page:
            page.write(f'<a href="{wheel.as_uri()}">{wheel.name}</a><br>\n')
    return folder.as_uri() + "/"


def test_a_second_set_up_in_a_background_task_replaces_the_first(setup_result, wheels, tmp_path):
    """Last in this module. The wheel with its dependencies from a package index (a local mirror), as the dialog
    runs it (a task on QGIS's task manager, then postProcess in the main thread), from a QGIS whose setting points
    nowhere: set, working, listing its models; the earlier one removed."""
    result, _, _ = setup_result
    wheel, deps = wheels
    index = simple_index(deps, tmp_path / "index")
    first = Path(result["ENVIRONMENT"])
    set_cli_setting(str(tmp_path / "gone"))
    QgsApplication.processingRegistry().providerById("geoclassify").refreshAlgorithms()
    assert model_options() == [catalog.DEFAULT_NAME]
    done = run_task("geoclassify:setup", {"WHEEL": str(wheel), "INDEX_URL": index})
    assert done["ok"], done
    second = Path(done["results"]["ENVIRONMENT"])
    assert json.loads((second / setup_env.MARKER).read_text())["source"].endswith(f"from the package index {index}")
    assert second != first and not first.exists() and second.is_dir()
    assert cli_setting() == str(second) and listing(environments_root()) == [".setup.lock", second.name]
    assert len(model_options()) == 3  # the provider was reloaded with the new CLI's models
    assert "classes: 0=non_agricultural, 1=agricultural" in run("info", {})["CARD"]
