"""`geoclassify predict` over many scenes: names, summary, a failing scene among good ones, collisions, resume."""

from __future__ import annotations

import shutil

import numpy as np
import rasterio
from click.testing import CliRunner

from geoclassify.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, ["-q", "predict", *map(str, args)])


def summary_rows(output: str) -> dict[str, str]:
    """The summary table's rows by scene file name: the rest of the line."""
    rows = {}
    for line in output.splitlines():
        first = line.split("  ")[0]
        if first.endswith(".tif"):
            rows[first.rsplit("/", 1)[-1]] = line
    return rows


def test_batch_goes_on_past_a_corrupt_scene_and_exits_1(chip_model, rgb_byte, scene_copy, tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    shutil.copy(rgb_byte, scenes / "a.tif")
    (scenes / "b_corrupt.tif").write_bytes(rgb_byte.read_bytes()[:600_000])
    with rasterio.open(rgb_byte) as src:
        scene_copy("scenes/c_two_bands.tif", data=src.read([1, 2]))  # the model takes 3 bands: refused
    out = tmp_path / "out"
    result = run(scenes / "a.tif", scenes / "b_corrupt.tif", scenes / "c_two_bands.tif", "-o", out,
                 "--model", chip_model, "--stride", "16", "--probabilities", out)
    assert result.exit_code == 1
    rows = summary_rows(result.output)
    assert rows["a.tif"].split()[1] == "791x718" and rows["a.tif"].endswith("ok")
    assert "water 100%" in rows["a.tif"]  # classes found (this random test model sees water everywhere)
    corrupt = rows["b_corrupt.tif"]
    assert "failed: " in corrupt and ("damaged" in corrupt or "cannot open" in corrupt)
    assert "failed: " in rows["c_two_bands.tif"] and "expects 3 band" in rows["c_two_bands.tif"]
    assert "1 of 3 scenes done, 2 failed" in result.output
    assert result.output.strip().splitlines()[-1] == "Error: 2 of 3 scenes failed (see the summary above)"
    assert sorted(p.name for p in out.iterdir()) == ["a_classes.tif", "a_classes.tif.aux.xml",
                                                      "a_probabilities.tif"]
    single = tmp_path / "single.tif"
    assert run(rgb_byte, "-o", single, "--model", chip_model, "--stride", "16").exit_code == 0
    with rasterio.open(single) as a, rasterio.open(out / "a_classes.tif") as b:
        assert np.array_equal(a.read(), b.read())


def test_colliding_output_names_are_refused_before_any_work(chip_model, rgb_byte, tmp_path):
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        shutil.copy(rgb_byte, tmp_path / folder / "scene.tif")
    out = tmp_path / "out"
    result = run(tmp_path / "one" / "scene.tif", tmp_path / "two" / "scene.tif", "-o", out, "--model", chip_model)
    assert result.exit_code == 1
    assert "would both write" in result.output and "scene_classes.tif" in result.output
    assert not out.exists()


def test_globs_lists_vectors_and_resume(chip_model, rgb_byte, tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for name in ("x.tif", "y.tif", "z.tif"):
        shutil.copy(rgb_byte, scenes / name)
    listing = tmp_path / "scenes.txt"
    listing.write_text(f"# scenes to classify\n{scenes / 'x.tif'}\n\n{scenes / '[yz].tif'}\n{scenes / 'x.tif'}\n")
    out = tmp_path / "out"
    args = ["--from-list", listing, "-o", out, "--model", chip_model, "--stride", "32", "--vector", out / "vec"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert list(summary_rows(result.output)) == ["x.tif", "y.tif", "z.tif"]
    names = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert names == sorted([f"{s}_classes.tif" for s in "xyz"] + [f"{s}_classes.tif.aux.xml" for s in "xyz"]
                           + [f"{s}_classes.gpkg" for s in "xyz"])
    again = run(*args)
    assert again.exit_code == 1 and "exist" in again.output and "--resume" in again.output
    for unfinished in (out / "y_classes.tif", out / "vec" / "y_classes.gpkg", out / "vec" / "z_classes.gpkg"):
        unfinished.unlink()  # as if the batch had been stopped while predicting y, and z's polygons were not made
    resumed = run(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    rows = summary_rows(resumed.output)
    assert rows["x.tif"].endswith("done earlier") and rows["y.tif"].endswith("ok")
    assert rows["z.tif"].endswith("done earlier") and (out / "vec" / "z_classes.gpkg").exists()
    glob_run = run(scenes / "*.tif", "-o", tmp_path / "globbed", "--model", chip_model, "--stride", "32")
    assert glob_run.exit_code == 0 and list(summary_rows(glob_run.output)) == ["x.tif", "y.tif", "z.tif"]


def test_batch_output_must_be_a_folder_and_a_missing_list_is_an_error(chip_model, rgb_byte, tmp_path):
    afile = tmp_path / "file.tif"
    afile.write_bytes(b"x")
    result = run(rgb_byte, rgb_byte, "-o", afile, "--model", chip_model)
    assert result.exit_code == 1 and "names a folder" in result.output
    result = run("--from-list", tmp_path / "missing.txt", "-o", tmp_path / "out", "--model", chip_model)
    assert result.exit_code == 1 and "cannot read the scene list" in result.output
    result = run(tmp_path / "nothing*.tif", "-o", tmp_path / "out", "--model", chip_model)
    assert result.exit_code == 1 and "no file matches" in result.output
    assert run("-o", tmp_path / "out").exit_code == 2
