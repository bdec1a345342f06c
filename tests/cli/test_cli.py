"""The CLI through click's CliRunner and as a real subprocess: exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geoclassify import __version__
from geoclassify.cli.main import cli

BIN = Path(sys.executable).parent / "geoclassify"


def run(*args: str):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_info_prints_the_card(chip_model):
    result = run("info", chip_model)
    assert result.exit_code == 0 and "classes: 0=water, 1=land" in result.output
    as_json = json.loads(run("info", chip_model, "--json").output)
    assert as_json["class_names"] == ["water", "land"]


def test_models_lists_architectures():
    result = run("models", "--architectures")
    assert result.exit_code == 0 and "compact_cnn" in result.output and "tiny_fcn" in result.output
    assert "efficientnet_lite2" in result.output


def test_predict_writes_output(chip_model, rgb_byte, tmp_path):
    out = tmp_path / "out.tif"
    result = run("predict", rgb_byte, "-o", out, "--model", chip_model, "--stride", "16")
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        assert ds.width == 50


def unwritable_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create files in (root ignores permissions, /sys is read-only)."""
    if os.geteuid() == 0:
        return Path("/sys")
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o500)
    return ro


def test_unwritable_output_directory(chip_model, rgb_byte, tmp_path):
    out = unwritable_dir(tmp_path) / "out.tif"
    result = run("predict", rgb_byte, "-o", out, "--model", chip_model)
    assert result.exit_code == 1 and "cannot write in" in result.output
    assert not out.exists()


@pytest.mark.parametrize("case", ["missing", "not_raster", "truncated", "exists", "no_dir", "bad_model", "bands"])
def test_bad_input_exits_1_with_one_line_and_writes_nothing(case, chip_model, rgb_byte, tmp_path):
    scene, out, model = rgb_byte, tmp_path / "out.tif", chip_model
    extra: list[str] = []
    expect = {"missing": "not found", "not_raster": "cannot open", "truncated": "damaged or truncated|cannot open",
              "exists": "--overwrite", "no_dir": "does not exist", "bad_model": "not a geoclassify model",
              "bands": "expects 3 band"}[case]
    if case == "missing":
        scene = tmp_path / "nope.tif"
    elif case == "not_raster":
        scene = tmp_path / "notes.tif"
        scene.write_text("this is not a raster\n")
    elif case == "truncated":
        scene = tmp_path / "cut.tif"
        scene.write_bytes(rgb_byte.read_bytes()[:600_000])
    elif case == "exists":
        out.write_bytes(b"old")
    elif case == "no_dir":
        out = tmp_path / "missing_dir" / "out.tif"
    elif case == "bad_model":
        model = tmp_path / "model.safetensors"
        model.write_bytes(b"\x00" * 100)
    elif case == "bands":
        extra = ["--bands", "1,2"]
    before = sorted(tmp_path.iterdir())
    result = run("predict", scene, "-o", out, "--model", model, *extra)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    import re

    assert re.search(expect, lines[0]), lines[0]
    assert sorted(tmp_path.iterdir()) == before


def test_quiet_after_the_subcommand_silences_progress(chip_model, rgb_byte, tmp_path):
    args = ["predict", str(rgb_byte), "--model", str(chip_model)]
    loud = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "a.tif")])
    quiet = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "b.tif"), "-q"])
    assert loud.exit_code == quiet.exit_code == 0
    assert "win/s" in loud.output and "wrote" in loud.output
    assert quiet.output == ""


def test_usage_error_exits_2(rgb_byte):
    assert run("predict", rgb_byte).exit_code == 2
    assert run("predict", rgb_byte, "-o", "x.tif", "--bands", "a,b").exit_code == 2
    assert run("predict", rgb_byte, "-o", "x.tif", "--device", "tpu").exit_code == 2


def test_verbose_shows_traceback(tmp_path, rgb_byte):
    result = CliRunner().invoke(cli, ["-v", "predict", str(tmp_path / "nope.tif"), "-o", str(tmp_path / "o.tif")])
    assert result.exit_code == 1 and "Traceback" in result.output


def test_subprocess_default_model_on_the_demo_scene(naip, tmp_path):
    """The installed console script, the bundled model, a 5 m scene resampled to the model's 10 m."""
    out = tmp_path / "demo.tif"
    env = dict(os.environ)
    proc = subprocess.run([str(BIN), "predict", str(naip), "-o", str(out), "--stride", "16"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "resampling" in proc.stderr and "predict" in proc.stderr  # log line and progress bar on stderr
    with rasterio.open(out) as ds:
        assert json.loads(ds.tags(1)["CLASS_NAMES"]) == ["non_agricultural", "agricultural"]
        assert ds.res == pytest.approx((160.0, 160.0)) and ds.crs.to_epsg() == 26914
        classes = ds.read(1)
    assert set(np.unique(classes)) <= {0, 1, 255}
    fail = subprocess.run([str(BIN), "predict", str(naip), "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert fail.returncode == 1 and "exists" in fail.stderr and "Traceback" not in fail.stderr


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_without_gpu_is_a_clear_error(chip_model, rgb_byte, tmp_path):
    result = run("predict", rgb_byte, "-o", tmp_path / "o.tif", "--model", chip_model, "--device", "cuda")
    assert result.exit_code == 1 and "no CUDA GPU" in result.output
    assert list(tmp_path.iterdir()) == []


def test_progress_format_json_gives_one_line_per_update(chip_model, rgb_byte, tmp_path):
    """`--progress-format json` (for programs such as the QGIS plugin): JSON progress lines, plain log lines."""
    result = CliRunner().invoke(cli, ["--progress-format", "json", "predict", str(rgb_byte), "-o",
                                      str(tmp_path / "a.tif"), "--model", str(chip_model), "--batch-size", "8",
                                      "--vector", str(tmp_path / "a.gpkg"), "--probabilities", str(tmp_path / "p.tif")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"wrote {tmp_path / 'p.tif'} (probabilities of water, land, one band per class)" in lines
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert "\r" not in result.output and "win/s" not in result.output
    predict = [r for r in records if r["progress"] == "predict"]
    assert predict[0]["done"] == 0 and predict[-1]["done"] == predict[-1]["total"] > 0
    assert [r["done"] for r in predict] == sorted(r["done"] for r in predict) and predict[0]["unit"] == "win"
    assert any(line.startswith("wrote ") for line in lines)
    bar = CliRunner().invoke(cli, ["predict", str(rgb_byte), "-o", str(tmp_path / "b.tif"), "--model", str(chip_model)])
    assert "win/s" in bar.output and '"progress"' not in bar.output  # the default again


def test_json_progress_throttles_and_reports_the_end():
    import io

    from geoclassify.progress import JsonBar, SilentBar, reporter

    out = io.StringIO()
    with JsonBar(1000, "polygonize", "row", file=out) as bar:
        for _ in range(999):
            bar.update(1)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["done"] == 0 and records[-1] == {"progress": "polygonize", "done": 999, "total": 1000,
                                                       "unit": "row"}
    assert len(records) < 10
    assert isinstance(reporter("json", quiet=True).bar(5, "predict", "win"), SilentBar)  # -q wins over the format
    assert isinstance(reporter("json").bar(5, "predict", "win"), JsonBar)


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "geoclassify", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and __version__ in proc.stdout
