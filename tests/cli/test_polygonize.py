"""`geoclassify polygonize` and `predict --vector` through click: outputs, exit codes, messages."""

from __future__ import annotations

import numpy as np
import pyogrio
import rasterio
from click.testing import CliRunner

from geoclassify.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def predict_classes(chip_model, rgb_byte, tmp_path, *extra):
    out = tmp_path / "classes.tif"
    return out, run("predict", rgb_byte, "-o", out, "--model", chip_model, "--stride", "16", *extra)


def test_predict_with_vector_writes_polygons_with_confidence(chip_model, rgb_byte, tmp_path):
    vector = tmp_path / "fields.gpkg"
    out, result = predict_classes(chip_model, rgb_byte, tmp_path, "--probabilities", tmp_path / "p.tif",
                                  "--vector", vector, "--min-area-pixels", "2", "--layer", "fields")
    assert result.exit_code == 0, result.output
    df = pyogrio.read_dataframe(vector, layer="fields")
    assert len(df) and set(df.class_name) <= {"water", "land"}
    assert df.mean_confidence.between(0, 1).all() and df.crs.to_epsg() == 32618


def test_polygonize_command(chip_model, rgb_byte, tmp_path):
    classes, _ = predict_classes(chip_model, rgb_byte, tmp_path)
    out = tmp_path / "fields.fgb"
    result = run("polygonize", classes, "-o", out, "--classes", "water", "--simplify", "500", "--block-rows", "5")
    assert result.exit_code == 0, result.output
    assert set(pyogrio.read_dataframe(out).class_name) == {"water"}


def test_existing_vector_output_is_refused_before_predicting(chip_model, rgb_byte, tmp_path):
    vector = tmp_path / "fields.gpkg"
    vector.write_text("keep")
    out, result = predict_classes(chip_model, rgb_byte, tmp_path, "--vector", vector)
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert not out.exists() and vector.read_text() == "keep"


def test_polygon_option_without_vector_is_a_usage_error(chip_model, rgb_byte, tmp_path):
    _, result = predict_classes(chip_model, rgb_byte, tmp_path, "--min-area", "100")
    assert result.exit_code == 2 and "--min-area needs --vector" in result.output


def test_both_sieve_thresholds_are_a_usage_error(rgb_byte, tmp_path):
    result = run("polygonize", rgb_byte, "-o", tmp_path / "x.gpkg", "--min-area", "1", "--min-area-pixels", "1")
    assert result.exit_code == 2


def test_float_raster_exits_1_with_one_line_and_writes_nothing(rgb_byte, tmp_path):
    with rasterio.open(rgb_byte) as src:
        profile = dict(src.profile, count=1, dtype="float32", nodata=None)
        data = src.read(1).astype(np.float32)
    floats = tmp_path / "float.tif"
    with rasterio.open(floats, "w", **profile) as dst:
        dst.write(data, 1)
    out = tmp_path / "out.gpkg"
    result = run("polygonize", floats, "-o", out)
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "integer classes" in result.output
    assert not out.exists() and not list(tmp_path.glob(".out.gpkg*"))
