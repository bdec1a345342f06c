"""The core install: the freshly built wheel in an empty venv, no extras, runs the bundled models without torch.

Builds the wheel from this checkout (`pip wheel --no-deps`), installs it into a new venv with pip (its core
dependencies from the package index, as a user's `pip install geoclassify` does), and runs the CLI there.
The same classes as the full install's torch backend are expected on the demo scene.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geoclassify.models.bundled import BUNDLED, bundled_path
from geoclassify.optional import EXTRAS
from tests.conftest import ROOT

NOT_IN_CORE = sorted({module for extra in ("torch", "distributed", "quantize", "report") for module in EXTRAS[extra]})


def run(*command: str | Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{command}: {proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from this checkout with the build tools of the test environment."""
    folder = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", folder, ROOT)
    (built,) = folder.glob("geoclassify-*.whl")
    return built


@pytest.fixture(scope="module")
def core(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel and its core dependencies only; its bin folder."""
    env = tmp_path_factory.mktemp("core") / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    run(env / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    return env / "bin"


def test_the_wheel_ships_every_bundled_model_for_both_backends(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in BUNDLED.values():
        assert f"geoclassify/weights/{model.stem}.safetensors" in names
        assert f"geoclassify/weights/{model.stem}.onnx" in names


def test_core_install_has_no_torch_and_its_dependencies_are_consistent(core):
    found = run(core / "python", "-c", "import importlib.util, sys, json; "
                "print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m)]))", *NOT_IN_CORE)
    assert json.loads(found.stdout) == []
    run(core / "python", "-m", "pip", "check")


def test_core_install_predicts_the_same_classes_as_the_torch_backend(core, naip, tmp_path):
    core_out, torch_out = tmp_path / "core.tif", tmp_path / "torch.tif"
    run(core / "geoclassify", "-q", "predict", naip, "-o", core_out, "--stride", "16")
    run(sys.executable, "-m", "geoclassify", "-q", "predict", naip, "-o", torch_out, "--stride", "16",
        "--backend", "torch")
    with rasterio.open(core_out) as a, rasterio.open(torch_out) as b:
        assert a.shape == b.shape
        assert a.crs == b.crs and a.transform == b.transform
        core_classes, torch_classes = a.read(1), b.read(1)
    assert np.array_equal(core_classes, torch_classes)
    assert set(np.unique(core_classes)) >= {0, 1}  # both classes on the farmland scene


def test_core_install_polygonizes_and_lists_models(core, naip, tmp_path):
    classes = tmp_path / "classes.tif"
    run(core / "geoclassify", "-q", "predict", naip, "-o", classes, "--stride", "32", "--vector", tmp_path / "f.gpkg")
    assert (tmp_path / "f.gpkg").stat().st_size > 0
    listed = json.loads(run(core / "geoclassify", "models", "--json").stdout)
    assert [m["name"] for m in listed] == list(BUNDLED)


@pytest.mark.parametrize(("args", "extra"), [
    (["predict", "NAIP", "-o", "OUT", "--backend", "torch"], "torch"),
    (["predict", "NAIP", "-o", "OUT", "--scheduler", "local:1"], "distributed"),
    (["export", "agri-s2-rgb", "-o", "OUT"], "torch"),
    (["models", "--architectures"], "torch"),
    (["evaluate", "-m", "agri-s2-rgb", "--data", "NAIP", "--out", "OUT"], "report"),
    (["benchmark", "--models", "agri-s2-rgb", "--data", "NAIP", "--out", "OUT"], "report"),
    (["quantize", "MODEL_ONNX", "--calibration", "NAIP", "-o", "OUT"], "quantize"),
    (["predict", "NAIP", "-o", "OUT", "--device", "cuda"], "torch"),
    (["predict", "NAIP", "NAIP", "-o", "OUT/", "-m", "MODEL_TORCH"], "torch"),
])
def test_core_install_names_the_extra_a_command_needs(core, naip, tmp_path, args, extra):
    files = {"NAIP": str(naip), "OUT": str(tmp_path / "out"), "OUT/": f"{tmp_path / 'out'}/",
             "MODEL_ONNX": str(bundled_path("agri-s2-rgb", "onnx")), "MODEL_TORCH": str(bundled_path("agri-s2-rgb"))}
    proc = run(core / "geoclassify", *[files.get(a, a) for a in args], check=False)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.endswith(f"pip install 'geoclassify[{extra}]'"), line
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def core_with_report(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel with the report extra (evaluate), still without torch; its bin folder."""
    env = tmp_path_factory.mktemp("report") / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    run(env / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"{wheel}[report]")
    return env / "bin"


def test_evaluate_runs_an_onnx_model_with_the_report_extra_and_no_torch(core_with_report, naip, tmp_path):
    labels = tmp_path / "torch_landcover.tif"  # the torch backend's map of the scene, as the labels to score
    run(sys.executable, "-m", "geoclassify", "-q", "predict", naip, "-m", "aerial-landcover", "--backend", "torch",
        "-o", labels)
    run(core_with_report / "geoclassify", "-q", "evaluate", "-m", "aerial-landcover", "--data", naip,
        "--labels", labels, "--out", tmp_path / "report")
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["model"].endswith(".onnx") and metrics["pixels"] == 934 * 723
    assert metrics["pixel_accuracy"] > 0.9999  # ONNX Runtime in the core against torch: the same classes
    found = run(core_with_report / "python", "-c", "import importlib.util; print(importlib.util.find_spec('torch'))")
    assert found.stdout.strip() == "None"
