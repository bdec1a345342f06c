"""The algorithms through processing.run in QGIS, calling the real geoclassify CLI."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import leftovers, read_raster, run_cli
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsProject, QgsRasterLayer, QgsVectorLayer

CLASS_NAMES = ["non_agricultural", "agricultural"]


class Recorder(QgsProcessingFeedback):
    """Keeps what the algorithm reports; cancels itself once progress passes `cancel_above` percent."""

    def __init__(self, cancel_above: float | None = None):
        super().__init__()
        self.errors: list[str] = []
        self.infos: list[str] = []
        self.commands: list[str] = []
        self.steps: list[str] = []
        self.consoles: list[str] = []
        self.percents: list[float] = []
        self.cancel_above = cancel_above
        self.canceled_at: float | None = None
        self.progressChanged.connect(self._on_progress)

    def _on_progress(self, percent: float) -> None:
        self.percents.append(percent)
        if self.cancel_above is not None and percent > self.cancel_above and self.canceled_at is None:
            self.canceled_at = time.monotonic()
            self.cancel()

    def reportError(self, error, fatalError=False):  # noqa: N802, N803
        self.errors.append(error)

    def pushInfo(self, info):  # noqa: N802
        self.infos.append(info)

    def pushCommandInfo(self, info):  # noqa: N802
        self.commands.append(info)

    def setProgressText(self, text):  # noqa: N802
        self.steps.append(text)

    def pushConsoleInfo(self, info):  # noqa: N802
        self.consoles.append(info)


@pytest.fixture(autouse=True)
def _clean_project():
    yield
    QgsProject.instance().removeAllMapLayers()


def owned(layer):
    """The layer, handed to the project (removed after the test).

    A failing Python algorithm's exception stays referenced inside QGIS with its callers' frames, so a layer that
    Python owns would outlive QGIS and crash it at exit; one the project owns is deleted in time.
    """
    return QgsProject.instance().addMapLayer(layer, False)


def run(name: str, params: dict, feedback: Recorder | None = None) -> dict:
    import processing

    return processing.run(f"geoclassify:{name}", params, feedback=feedback or Recorder())


def run_fails(name: str, params: dict, feedback: Recorder | None = None) -> str:
    """Run, expect a failure, return the algorithm's own error message."""
    feedback = feedback or Recorder()
    with pytest.raises(QgsProcessingException) as exc:
        run(name, params, feedback)
    return "\n".join([str(exc.value), *feedback.errors])


def file_colors(path) -> list[tuple[int, int, int]]:
    from osgeo import gdal

    ds = gdal.Open(str(path))  # held while its band and colour table are used (GDAL's bindings need that)
    table = ds.GetRasterBand(1).GetColorTable()
    return [tuple(table.GetColorEntry(i)[:3]) for i in range(len(CLASS_NAMES))]


def feature_count(path) -> int:
    from osgeo import ogr

    ds = ogr.Open(str(path))
    return ds.GetLayer(0).GetFeatureCount()


# --- runs ---------------------------------------------------------------------------------------------------


def test_classify_equals_the_cli(provider, cli, small_scene, tmp_path):
    out = tmp_path / "classes.tif"
    feedback = Recorder()
    result = run("classify", {"INPUT": str(small_scene), "OUTPUT": str(out), "STRIDE": 16, "BATCH_SIZE": 4}, feedback)
    assert result["OUTPUT"] == str(out)
    run_cli(cli, "predict", small_scene, "-o", tmp_path / "reference.tif", "--stride", 16, "--batch-size", 4)
    got, transform, crs = read_raster(out)
    want, want_transform, want_crs = read_raster(tmp_path / "reference.tif")
    np.testing.assert_array_equal(got, want)
    assert transform == want_transform and crs == want_crs and "26914" in crs  # georeferenced like the scene
    assert leftovers(tmp_path) == ["classes.tif", "classes.tif.aux.xml", "reference.tif", "reference.tif.aux.xml"]
    # progress reached the bar, log lines the log, the command line the command log
    assert feedback.percents[-1] == 100  # (progress within the run: see the cancel test, which cancels at 1 %)
    assert any(line.startswith(f"wrote {out} (") for line in feedback.infos)  # the target, not the staged file
    assert any("resampling" in line for line in feedback.infos)
    assert "--progress-format json predict" in feedback.commands[0]


def test_outputs_open_styled(provider, small_scene, tmp_path):
    import processing

    out, polygons, probs = tmp_path / "classes.tif", tmp_path / "fields.gpkg", tmp_path / "probabilities.tif"
    project = QgsProject.instance()
    project.removeAllMapLayers()
    processing.runAndLoadResults("geoclassify:classify", {"INPUT": str(small_scene), "OUTPUT": str(out),
                                                          "POLYGONS": str(polygons), "PROBABILITIES": str(probs),
                                                          "STRIDE": 16, "MIN_AREA": 1000},
                                 feedback=Recorder())
    layers = {Path(layer.source().split("|")[0]).name: layer for layer in project.mapLayers().values()}
    assert set(layers) == {"classes.tif", "fields.gpkg", "probabilities.tif"}
    colors = file_colors(out)

    raster = layers["classes.tif"]
    renderer = raster.renderer()
    assert renderer.type() == "paletted"
    assert [(c.value, c.label) for c in renderer.classes()] == list(enumerate(CLASS_NAMES))
    assert [c.color.getRgb()[:3] for c in renderer.classes()] == colors  # the colours stored in the file

    vector = layers["fields.gpkg"]
    assert isinstance(vector, QgsVectorLayer) and vector.featureCount() > 0
    renderer = vector.renderer()
    assert renderer.type() == "categorizedSymbol" and renderer.classAttribute() == "class_name"
    assert [(c.value(), c.label()) for c in renderer.categories()] == [(n, n) for n in CLASS_NAMES]
    assert [c.symbol().color().getRgb()[:3] for c in renderer.categories()] == colors
    names = {f["class_name"] for f in vector.getFeatures()}
    assert names <= set(CLASS_NAMES)  # every feature falls in a category

    probabilities = layers["probabilities.tif"]
    assert isinstance(probabilities, QgsRasterLayer) and probabilities.bandCount() >= 2  # (+ the mask band)
    project.removeAllMapLayers()


def test_polygonize_and_info(provider, cli, small_scene, tmp_path):
    classes = tmp_path / "classes.tif"
    run_cli(cli, "predict", small_scene, "-o", classes, "--stride", 16)
    out = tmp_path / "polygons.gpkg"
    feedback = Recorder()
    result = run("polygonize", {"INPUT": str(classes), "OUTPUT": str(out), "SIMPLIFY": 5}, feedback)
    assert result["OUTPUT"] == str(out)
    run_cli(cli, "polygonize", classes, "-o", tmp_path / "reference.gpkg", "--simplify", 5)
    assert feature_count(out) == feature_count(tmp_path / "reference.gpkg") > 0
    layer = QgsVectorLayer(str(out), "polygons")
    assert [f.name() for f in layer.fields()][:4] in (["fid", "class_id", "class_name", "area_m2"],
                                                      ["class_id", "class_name", "area_m2", "perimeter_m"])

    card = run("info", {})["CARD"]
    assert "classes: 0=non_agricultural, 1=agricultural" in card and "architecture: compact_cnn" in card


def test_cancel_stops_the_cli_at_once_and_leaves_nothing(provider, naip, tmp_path):
    """A long run (the whole demo scene, stride 2: about 40 000 windows) cancelled once it has started."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    feedback = Recorder(cancel_above=1)
    started = time.monotonic()
    message = run_fails("classify", {"INPUT": str(naip), "OUTPUT": str(out_dir / "classes.tif"),
                                     "POLYGONS": str(out_dir / "fields.gpkg"),
                                     "PROBABILITIES": str(out_dir / "probs.tif"), "STRIDE": 2}, feedback)
    returned = time.monotonic()
    assert feedback.canceled_at is not None, "the run ended before it could be cancelled"
    assert returned - feedback.canceled_at < 3, "cancel did not stop the run at once"
    assert returned - started < 120
    assert "cancelled" in message and "nothing was written" in message
    assert leftovers(out_dir) == []  # no output, no temporary file, no staging folder
    running = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, str(out_dir))]
    assert running == [], "the geoclassify process is still running"


def _cmdline_has(proc: Path, text: str) -> bool:
    try:
        return text in (proc / "cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return False


# --- finding the CLI ----------------------------------------------------------------------------------------


def test_missing_cli_gives_the_helpful_error(cli_setting, small_scene, tmp_path, monkeypatch):
    cli_setting("")
    monkeypatch.setenv("PATH", str(tmp_path))  # no geoclassify on PATH
    message = run_fails("classify", {"INPUT": str(small_scene), "OUTPUT": str(tmp_path / "c.tif")})
    assert "geoclassify command line tool was not found" in message
    assert "make setup" in message and "pip install" in message  # how to install
    assert "Processing \u25b8 Options \u25b8 Providers \u25b8 geoclassify" in message  # where to set the path
    cli_setting(str(tmp_path / "no such env"))
    message = run_fails("info", {})
    assert "does not exist" in message and "Processing \u25b8 Options" in message
    assert not (tmp_path / "c.tif").exists()


def test_cli_found_on_path_and_in_an_environment_folder(cli_setting, cli, tmp_path, monkeypatch):
    cli_setting("")  # the default: geoclassify on PATH
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "geoclassify").symlink_to(cli)
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ["PATH"])
    assert "compact_cnn" in run("info", {})["CARD"]
    env = Path(cli).parent.parent
    if not (env / "pyvenv.cfg").is_file():
        pytest.skip(f"{cli} is not in a virtual environment")
    cli_setting(str(env))  # the Python environment folder, as the setting's name says
    assert "compact_cnn" in run("info", {})["CARD"]


# --- bad input ----------------------------------------------------------------------------------------------


def test_model_that_does_not_fit_the_bands_shows_the_clis_message(provider, cli, single_band, tmp_path):
    import subprocess

    message = run_fails("classify", {"INPUT": str(single_band), "OUTPUT": str(tmp_path / "c.tif")})
    own = subprocess.run([cli, "predict", str(single_band), "-o", str(tmp_path / "d.tif")], capture_output=True,
                         text=True)
    cli_error = [line for line in own.stderr.splitlines() if line.startswith("Error: ")][0][len("Error: "):]
    assert "the model expects 3 band(s)" in cli_error and cli_error in message
    assert leftovers(tmp_path) == []
    missing = run_fails("classify", {"INPUT": str(single_band), "MODEL": str(tmp_path / "none.safetensors"),
                                     "OUTPUT": str(tmp_path / "c.tif")})
    assert "model file not found" in missing


def test_paths_with_spaces_and_non_ascii(provider, small_scene, tmp_path):
    scene_dir = tmp_path / "scènes with spaces" / "ñandú"
    scene_dir.mkdir(parents=True)
    scene = scene_dir / "naïve scène ü.tif"
    shutil.copy(small_scene, scene)
    out_dir = tmp_path / "résultats  (2)"
    out_dir.mkdir()
    layer = owned(QgsRasterLayer(str(scene), "scène"))
    result = run("classify", {"INPUT": layer, "OUTPUT": str(out_dir / "clässes é.tif"),
                              "POLYGONS": str(out_dir / "polígonos ü.gpkg"), "STRIDE": 16})
    assert Path(result["OUTPUT"]).is_file() and Path(result["POLYGONS"]).is_file()
    layer = QgsVectorLayer(result["POLYGONS"], "p")
    assert layer.isValid() and layer.featureCount() > 0
    assert read_raster(result["OUTPUT"])[0].shape == (8, 8)  # 128x128 pixels at 10 m, one per 16
    assert sorted(p.name for p in out_dir.iterdir()) == ["clässes é.tif", "clässes é.tif.aux.xml",
                                                         "polígonos ü.gpkg"]


def test_layer_with_unsaved_edits_is_refused(provider, small_scene, tmp_path):
    scene = tmp_path / "edited.tif"
    shutil.copy(small_scene, scene)
    layer = owned(QgsRasterLayer(str(scene), "edited"))
    assert layer.dataProvider().setEditable(True)
    try:
        message = run_fails("classify", {"INPUT": layer, "OUTPUT": str(tmp_path / "c.tif")})
    finally:
        layer.dataProvider().setEditable(False)
    assert "is being edited" in message and "save the edits" in message
    assert not (tmp_path / "c.tif").exists()


def test_web_layer_is_refused_with_a_clear_message(provider, tmp_path):
    layer = owned(QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmin=0&zmax=19",
                                 "tiles", "wms"))
    assert layer.isValid()
    message = run_fails("classify", {"INPUT": layer, "OUTPUT": str(tmp_path / "c.tif")})
    assert "web or online layer" in message and "Save As" in message
    assert list(tmp_path.iterdir()) == []


def test_non_file_layer_is_exported_first(provider, small_scene, tmp_path):
    """A raster table of a GeoPackage with two (no plain file path): exported to a temporary GeoTIFF."""
    from osgeo import gdal

    gpkg = tmp_path / "rasters.gpkg"
    gdal.Translate(str(gpkg), str(small_scene), format="GPKG", bandList=[1, 2, 3], creationOptions=["RASTER_TABLE=a"])
    gdal.Translate(str(gpkg), str(small_scene), format="GPKG", bandList=[1, 2, 3],
                   creationOptions=["RASTER_TABLE=b", "APPEND_SUBDATASET=YES"])
    layer = owned(QgsRasterLayer(f"GPKG:{gpkg}:b", "table b", "gdal"))
    assert layer.isValid() and layer.bandCount() == 3
    feedback = Recorder()
    result = run("classify", {"INPUT": layer, "OUTPUT": str(tmp_path / "c.tif"), "STRIDE": 16}, feedback)
    assert any("is not a local raster file: exporting it" in line for line in feedback.infos)
    _, transform, crs = read_raster(result["OUTPUT"])
    assert "26914" in crs


def test_virtual_layer_of_one_band_exports_then_fails_on_the_model(provider, tmp_path):
    """A virtual raster (raster calculator, no file) has one band: exported, then the CLI says the model needs three.

    (A constant formula: in QGIS 3.22 a virtual raster that references another layer crashes QGIS at exit.)
    """
    uri = "?crs=EPSG:26914&extent=485899,5205626,487179,5206906&width=256&height=256&formula=100"
    layer = owned(QgsRasterLayer(uri, "constant", "virtualraster"))
    assert layer.isValid(), layer.error().summary()
    feedback = Recorder()
    message = run_fails("classify", {"INPUT": layer, "OUTPUT": str(tmp_path / "c.tif")}, feedback)
    assert any("exporting it" in line for line in feedback.infos)
    assert "the model expects 3 band(s)" in message and "has 1 band(s)" in message
    assert list(tmp_path.iterdir()) == []


# --- as the Processing dialog runs it: a background task ------------------------------------------------------


def run_task(alg_id: str, params: dict, cancel_above: float | None = None):
    """Run in a QgsProcessingAlgRunnerTask on QGIS's task manager (a worker thread), as the algorithm dialog does."""
    from qgis.core import QgsApplication, QgsProcessingAlgRunnerTask, QgsProcessingContext

    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    task = QgsProcessingAlgRunnerTask(alg, params, context, feedback)
    done: dict = {}
    task.executed.connect(lambda ok, results: done.update(ok=ok, results=results, at=time.monotonic()))
    if cancel_above is not None:
        def on_progress(percent):
            if percent > cancel_above and "canceled_at" not in done:
                done["canceled_at"] = time.monotonic()
                task.cancel()  # what the dialog's Cancel button does
        feedback.progressChanged.connect(on_progress)
    QgsApplication.taskManager().addTask(task)
    deadline = time.monotonic() + 300
    while "ok" not in done and time.monotonic() < deadline:
        QgsApplication.processEvents()
        time.sleep(0.02)
    assert "ok" in done, "the task did not finish"
    return done


def test_background_task_runs_and_cancels(provider, small_scene, naip, tmp_path):
    done = run_task("geoclassify:classify", {"INPUT": str(small_scene), "OUTPUT": str(tmp_path / "a.tif"),
                                             "STRIDE": 16})
    assert done["ok"] and Path(done["results"]["OUTPUT"]).is_file()
    out_dir = tmp_path / "cancelled"
    out_dir.mkdir()
    done = run_task("geoclassify:classify", {"INPUT": str(naip), "OUTPUT": str(out_dir / "b.tif"), "STRIDE": 2},
                    cancel_above=1)
    assert "canceled_at" in done and not done["ok"]
    assert done["at"] - done["canceled_at"] < 3
    assert leftovers(out_dir) == []


# --- outputs as Processing gives them -------------------------------------------------------------------------


def test_temporary_outputs(provider, small_scene):
    result = run("classify", {"INPUT": str(small_scene), "OUTPUT": "TEMPORARY_OUTPUT", "POLYGONS": "TEMPORARY_OUTPUT",
                              "STRIDE": 16})
    assert result["OUTPUT"].endswith(".tif") and Path(result["OUTPUT"]).is_file()
    assert result["POLYGONS"].endswith(".gpkg") and QgsVectorLayer(result["POLYGONS"], "p").featureCount() > 0
    assert not [p for p in Path(result["OUTPUT"]).parent.iterdir() if p.name.startswith(".geoclassify-")]


def test_geopackage_layer_destination(provider, cli, small_scene, tmp_path):
    """Processing's "Save to GeoPackage" form: ogr:dbname='file.gpkg' table="name" (geom)."""
    from geoclassify_qgis.algorithms import vector_target

    assert vector_target("/a/b c.gpkg") == ("/a/b c.gpkg", None)
    assert vector_target("ogr:dbname='/a/it\\'s.gpkg' table=\"fields\" (geom)") == ("/a/it's.gpkg", "fields")
    classes = tmp_path / "classes.tif"
    run_cli(cli, "predict", small_scene, "-o", classes, "--stride", 16)
    gpkg = tmp_path / "out.gpkg"
    run("polygonize", {"INPUT": str(classes), "OUTPUT": f"ogr:dbname='{gpkg}' table=\"fields\" (geom)"})
    assert QgsVectorLayer(f"{gpkg}|layername=fields", "fields").featureCount() > 0


def test_output_folder_that_does_not_exist(provider, small_scene, tmp_path):
    message = run_fails("classify", {"INPUT": str(small_scene), "OUTPUT": str(tmp_path / "nope" / "c.tif")})
    assert "does not exist" in message and "nope" in message
    assert list(tmp_path.iterdir()) == []
