"""Start-up: a command imports what it uses (the polygon stack only for polygons, torch only for torch models)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "timm", "torchvision", "pyarrow", "pyogrio", "shapely", "scipy", "dask", "geopandas", "matplotlib")


def modules_after(*args: str) -> set[str]:
    code = ("import json, sys\nfrom geoclassify.cli.main import cli\n"
            f"cli({list(args)!r}, standalone_mode=False)\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_predict_with_the_default_model_and_no_polygons_imports_nothing_heavy(naip, tmp_path):
    assert modules_after("-q", "predict", str(naip), "-o", str(tmp_path / "c.tif")) == set()


@pytest.mark.parametrize("args", [["models"], ["info", "aerial-scenes"], ["--help"]])
def test_listing_and_cards_import_nothing_heavy(args):
    assert modules_after(*args) == set()


def test_polygons_bring_their_stack_and_no_torch(naip, tmp_path):
    loaded = modules_after("-q", "predict", str(naip), "-o", str(tmp_path / "c.tif"), "--vector",
                           str(tmp_path / "f.gpkg"))
    assert {"pyogrio", "shapely"} <= loaded and "torch" not in loaded
