"""Outputs that clash with an input or with each other, and output folders that cannot be written: refused before
any work in one line (exit 1), never with advice to --overwrite, nothing written and every input untouched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from rasterio.shutil import copy as rio_copy

from geoclassify.cli.main import cli
from geoclassify.inference.config import SceneOutputs
from geoclassify.inference.pipeline import output_targets
from geoclassify.io.paths import PathClashError, Source, file_keys, refuse_clashes, scene_sources
from tests.cli.test_cli import unwritable_dir


def run(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(result, *words: str) -> str:
    """The one line of a refusal (exit 1), holding `words` and no advice to --overwrite."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "--overwrite" not in lines[0] and "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def scene(tmp_path, rgb_byte) -> Path:
    path = tmp_path / "scene.tif"
    shutil.copy(rgb_byte, path)
    return path


@pytest.fixture()
def model(tmp_path, chip_model) -> Path:
    path = tmp_path / "model.safetensors"
    shutil.copy(chip_model, path)
    return path


def predict(scene, model, *args):
    return run("predict", scene, "--model", model, "--stride", "16", *args)


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"], ["--overwrite", "--resume"]])
@pytest.mark.parametrize("spelling", ["same", "dot", "dotdot", "absolute", "symlink", "hardlink"])
def test_output_that_is_the_scene_is_refused_and_the_scene_kept(spelling, overwrite, scene, model, tmp_path,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    out = {"same": "scene.tif", "dot": "./scene.tif", "dotdot": "sub/../scene.tif", "absolute": str(scene),
           "symlink": "link.tif", "hardlink": "hard.tif"}[spelling]
    if spelling == "symlink":
        os.symlink("scene.tif", "link.tif")
    elif spelling == "hardlink":
        os.link("scene.tif", "hard.tif")
    before = snapshot(tmp_path)
    line = refused(predict("scene.tif", model, "-o", out, *overwrite), "classes output", "is the scene scene.tif")
    assert "must never replace an input" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["probabilities_is_classes", "probabilities_is_classes_sidecar",
                                  "probabilities_is_classes_partial", "vector_is_classes", "vector_is_probabilities",
                                  "vector_shapefile_part"])
def test_two_outputs_on_one_file_are_refused(case, scene, model, tmp_path):
    c, p = tmp_path / "c.tif", tmp_path / "p.tif"
    args = {"probabilities_is_classes": ["-o", c, "--probabilities", tmp_path / "." / "c.tif"],
            "probabilities_is_classes_sidecar": ["-o", c, "--probabilities", tmp_path / "c.tif.aux.xml"],
            "probabilities_is_classes_partial": ["-o", c, "--probabilities", tmp_path / ".c.tif.partial.tif"],
            "vector_is_classes": ["-o", c, "--vector", c, "--format", "gpkg"],
            "vector_is_probabilities": ["-o", c, "--probabilities", p, "--vector", p, "--format", "gpkg"],
            "vector_shapefile_part": ["-o", c, "--probabilities", tmp_path / "v.dbf", "--vector", tmp_path / "v.shp"],
            }[case]
    before = snapshot(tmp_path)
    refused(predict(scene, model, *args, "--overwrite"), "give each output its own file")
    assert snapshot(tmp_path) == before


def test_output_that_is_the_model_or_its_card_is_refused(scene, model, tmp_path):
    before = snapshot(tmp_path)
    refused(predict(scene, model, "-o", model), f"is the model file {model}")
    refused(predict(scene, model, "-o", tmp_path / "c.tif", "--probabilities", model, "--overwrite"), "model file")
    refused(predict(scene, model, "-o", tmp_path / "c.tif", "--vector", model, "--format", "gpkg"), "model file")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("nested", [False, True])
def test_output_that_a_vrt_scene_reads_is_refused(nested, scene, model, tmp_path):
    vrt = tmp_path / "mosaic.vrt"
    rio_copy(scene, vrt, driver="VRT")
    if nested:
        vrt = tmp_path / "outer.vrt"
        rio_copy(tmp_path / "mosaic.vrt", vrt, driver="VRT")
    before = snapshot(tmp_path)
    refused(predict(vrt, model, "-o", scene, "--overwrite"), f"that the scene {vrt} reads")
    refused(predict(vrt, model, "-o", tmp_path / "c.tif", "--probabilities", scene, "--overwrite"), "scene.tif")
    assert snapshot(tmp_path) == before


def test_output_at_a_sidecar_gdal_reads_with_the_scene_is_refused(scene, model, tmp_path):
    """An .aux.xml or .ovr beside the scene would change what GDAL reads as the scene, existing or not."""
    before = snapshot(tmp_path)
    refused(predict(scene, model, "-o", f"{scene}.ovr"), "sidecar", "scene.tif.ovr")
    refused(predict(scene, model, "-o", tmp_path / "c.tif", "--vector", f"{scene}.aux.xml", "--format", "gpkg"),
            "sidecar")
    assert snapshot(tmp_path) == before


def test_polygonize_output_that_is_an_input_is_refused(scene, model, tmp_path):
    classes, probs = tmp_path / "classes.tif", tmp_path / "probs.tif"
    assert predict(scene, model, "-o", classes, "--probabilities", probs).exit_code == 0
    before = snapshot(tmp_path)
    refused(run("polygonize", classes, "-o", classes, "--format", "gpkg", "--overwrite"),
            "vector output", "is the raster")
    refused(run("polygonize", classes, "-o", probs, "--probabilities", probs, "--format", "gpkg", "--overwrite"),
            "is the probabilities raster")
    refused(run("polygonize", classes, "-o", f"{classes}.aux.xml", "--format", "gpkg", "--overwrite"), "sidecar")
    ro = unwritable_dir(tmp_path)
    before = snapshot(tmp_path)
    refused(run("polygonize", classes, "-o", ro / "v.gpkg"), "cannot write in", "vector output")
    assert snapshot(tmp_path) == before


def test_batch_output_that_is_a_scene_of_the_batch_is_refused(model, rgb_byte, tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for name in ("a.tif", "a_classes.tif", "a_probabilities.tif"):
        shutil.copy(rgb_byte, scenes / name)
    before = snapshot(tmp_path)
    refused(run("predict", f"{scenes}/*.tif", "-o", f"{scenes}/", "--model", model, "--stride", "16", "--overwrite"),
            f"the classes output {scenes}/a_classes.tif is the scene")
    refused(run("predict", scenes / "a.tif", scenes / "a_probabilities.tif", "-o", tmp_path / "out", "--model", model,
                "--probabilities", scenes), f"the probabilities output {scenes}/a_probabilities.tif is the scene")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_batch_outputs_clash_with_the_model_and_the_list(model, rgb_byte, tmp_path):
    shutil.copy(rgb_byte, tmp_path / "a.tif")
    listed = tmp_path / "scenes.txt"
    listed.write_text("a.tif\n")
    (tmp_path / "a_classes.tif").symlink_to(model)
    before = snapshot(tmp_path)
    result = run("predict", "--from-list", listed, "-o", tmp_path, "--model", model, "--overwrite")
    refused(result, "the classes output", "is the model file")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("which", ["-o", "--probabilities", "--vector"])
def test_unwritable_or_missing_output_folder_is_refused_before_predicting(which, scene, model, tmp_path,
                                                                           monkeypatch):
    calls = []
    monkeypatch.setattr("geoclassify.inference.pipeline.open_scene", lambda *a: calls.append(a))
    monkeypatch.setattr("geoclassify.inference.config.ModelSource.load", lambda self: calls.append(self))
    outputs = {"-o": tmp_path / "c.tif", "--probabilities": tmp_path / "p.tif", "--vector": tmp_path / "v.gpkg"}
    ro = unwritable_dir(tmp_path)
    before = snapshot(tmp_path)
    for folder, words in ((ro, ("cannot write in", str(ro))), (tmp_path / "missing", ("does not exist",)),
                          (scene, ("is not a folder",))):
        outputs[which] = folder / outputs[which].name
        refused(predict(scene, model, *(a for flag, path in outputs.items() for a in (flag, path))), *words)
    assert calls == [] and snapshot(tmp_path) == before


def test_batch_folder_under_an_unwritable_one_is_refused(scene, model, tmp_path):
    ro = unwritable_dir(tmp_path)
    before = snapshot(tmp_path)
    refused(run("predict", scene, scene, "-o", f"{ro}/new/", "--model", model), "cannot write in", str(ro))
    assert snapshot(tmp_path) == before and not (ro / "new").exists()


def test_case_only_differences(tmp_path):
    """Missing files whose names differ in case are one file only where the folder ignores case; existing ones are
    compared as files."""
    (tmp_path / "Probe").write_text("")
    insensitive = (tmp_path / "PROBE").exists()
    keys = set(file_keys(tmp_path / "a.tif")) & set(file_keys(tmp_path / "A.tif"))
    assert bool(keys) == insensitive
    targets = output_targets(SceneOutputs(tmp_path / "a.tif", tmp_path / "A.tif"))
    if insensitive:
        with pytest.raises(PathClashError):
            refuse_clashes([], targets)
    else:
        refuse_clashes([Source("scene", tmp_path / "probe")], targets)


def test_scene_sources_list_a_vrt_and_its_sources(scene, tmp_path):
    vrt = tmp_path / "m.vrt"
    rio_copy(scene, vrt, driver="VRT")
    paths = {os.path.realpath(s.path) for s in scene_sources(vrt)}
    assert {os.path.realpath(vrt), os.path.realpath(scene), os.path.realpath(f"{scene}.ovr")} <= paths


def test_predict_scene_refuses_the_scene_and_the_model_it_runs(scene, model, tmp_path):
    """The Python API holds the same rule: the scene and the model a runner was loaded from are inputs."""
    from geoclassify.inference.config import PredictConfig
    from geoclassify.inference.pipeline import predict_scene
    from geoclassify.inference.predictor import load_predictor
    from geoclassify.inference.runners import LocalRunner

    runner = LocalRunner(load_predictor(str(model)))
    before = snapshot(tmp_path)
    for outputs, words in ((SceneOutputs(scene), "is the scene"),
                           (SceneOutputs(tmp_path / "c.tif", model), "is the model file"),
                           (SceneOutputs(tmp_path / "c.tif", vector=tmp_path / "c.tif"), "is the classes output")):
        with pytest.raises(PathClashError, match=words):
            predict_scene(str(scene), outputs, runner, PredictConfig(overwrite=True))
    assert snapshot(tmp_path) == before
