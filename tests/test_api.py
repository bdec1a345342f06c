"""The public API, as the README shows it: a scene into classes, probabilities and polygons."""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import rasterio

import geoclassify as gc


def test_readme_example_runs_on_the_public_names(chip_model, rgb_byte, tmp_path):
    runner = gc.LocalRunner(gc.load_predictor(str(chip_model), device="cpu"))
    outputs = gc.SceneOutputs(tmp_path / "classes.tif", probabilities=tmp_path / "probs.tif",
                              vector=tmp_path / "fields.gpkg")
    result = gc.predict_scene(str(rgb_byte), outputs, runner, gc.PredictConfig(stride=16),
                              polygons=gc.PolygonizeOptions(min_area_pixels=2))
    with rasterio.open(outputs.classes) as ds:
        classes = ds.read(1)
    assert sum(result.class_counts.values()) == (classes != 255).sum() > 0
    polygons = gpd.read_file(outputs.vector)
    assert len(polygons) == result.polygons.features > 0
    assert set(polygons["class_name"]) <= {"water", "land"} and "mean_confidence" in polygons


def test_every_public_name_resolves_and_import_loads_no_torch():
    assert all(getattr(gc, name) is not None for name in gc.__all__)
    code = "import sys, geoclassify; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
