"""Resumable predictions: interrupt (in-process, Ctrl-C and kill of the real CLI), resume, compare with a full run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geoclassify.errors import ConfigError
from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.pipeline import predict_scene
from geoclassify.inference.predictor import load_predictor
from geoclassify.inference.resume import partial_path
from geoclassify.inference.runners import LocalRunner
from tests.conftest import interrupt_after

BIN = Path(sys.executable).parent / "geoclassify"


def read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


CASES = {  # chips: 3 independent strips; segmentation: 31 strips, each restart replays the 2 before it
    "chips": ("chip_model", "naip_1024", dict(stride=24)),
    "segmentation": ("seg_model", "rgb_byte", dict(tile_size=64, overlap=40)),
    "segmentation_uint8": ("seg_model", "rgb_byte", dict(tile_size=64, overlap=40, probabilities_dtype="uint8")),
}


@pytest.mark.parametrize("case", CASES)
def test_interrupted_run_resumes_to_the_same_output(case, request, tmp_path):
    model_name, scene_name, options = CASES[case]
    predictor = LocalRunner(load_predictor(str(request.getfixturevalue(model_name)), device="cpu"))
    scene = str(request.getfixturevalue(scene_name))

    def config(**extra) -> PredictConfig:
        return PredictConfig(checkpoint_seconds=0, **{"probabilities_dtype": "float32", **options}, **extra)

    def outputs(name: str) -> SceneOutputs:
        return SceneOutputs(tmp_path / f"{name}.tif", tmp_path / f"{name}_p.tif")

    full = predict_scene(scene, outputs("full"), predictor, config())
    out = tmp_path / "out.tif"
    with pytest.raises(KeyboardInterrupt):
        predict_scene(scene, outputs("out"), predictor, config(), progress=interrupt_after(full.windows // 2))
    assert not out.exists()
    assert hidden(tmp_path) == [".out.tif.partial.json", ".out.tif.partial.tif", ".out_p.tif.partial.tif"]
    done = json.loads(partial_path(out, ".partial.json").read_text())["checkpoint"]["windows"]
    assert 0 < done < full.windows
    resumed = predict_scene(scene, outputs("out"), predictor, config(resume=True))
    assert resumed.resumed_windows == done and resumed.windows == full.windows
    assert resumed.class_counts == full.class_counts
    assert np.array_equal(read(out), read(tmp_path / "full.tif"))
    assert np.array_equal(read(tmp_path / "out_p.tif"), read(tmp_path / "full_p.tif"), equal_nan=True)
    with rasterio.open(tmp_path / "out_p.tif") as a, rasterio.open(tmp_path / "full_p.tif") as b:
        assert np.array_equal(a.dataset_mask(), b.dataset_mask())  # uint8 probabilities: the nodata mask
    assert hidden(tmp_path) == []


@pytest.fixture()
def interrupted(seg_model, rgb_byte, tmp_path):
    """A segmentation run stopped by Ctrl-C after half of its windows: (predictor, output, config)."""
    predictor = LocalRunner(load_predictor(str(seg_model), device="cpu"))
    out = tmp_path / "out.tif"
    config = PredictConfig(checkpoint_seconds=0)
    with pytest.raises(KeyboardInterrupt):
        predict_scene(str(rgb_byte), SceneOutputs(out), predictor, config, progress=interrupt_after(100))
    assert partial_path(out).exists()
    return predictor, out, config


def test_without_resume_a_stale_partial_is_removed(interrupted, rgb_byte, caplog):
    predictor, out, config = interrupted
    with caplog.at_level("WARNING", logger="geoclassify"):
        result = predict_scene(str(rgb_byte), SceneOutputs(out), predictor, config)
    assert "removing the partial output of an interrupted run" in caplog.text
    assert result.resumed_windows == 0 and out.exists() and hidden(out.parent) == []


def test_resume_refuses_a_run_with_other_options(interrupted, rgb_byte):
    predictor, out, config = interrupted
    with pytest.raises(ConfigError, match="started with another options"):
        predict_scene(str(rgb_byte), SceneOutputs(out), predictor, replace(config, resume=True, overlap=24))
    assert partial_path(out).exists(), "a refused resume keeps the partial output for the right command"


def test_a_damaged_partial_output_is_started_over(interrupted, rgb_byte, caplog):
    predictor, out, config = interrupted
    partial_path(out).write_bytes(b"not a tiff any more")
    with caplog.at_level("WARNING", logger="geoclassify"):
        result = predict_scene(str(rgb_byte), SceneOutputs(out), predictor, replace(config, resume=True))
    assert "cannot be resumed" in caplog.text and result.resumed_windows == 0 and out.exists()


def test_resume_with_nothing_to_resume_starts_from_the_beginning(chip_model, rgb_byte, tmp_path, caplog):
    out = tmp_path / "out.tif"
    with caplog.at_level("INFO", logger="geoclassify"):
        predict_scene(str(rgb_byte), SceneOutputs(out), LocalRunner(load_predictor(str(chip_model), device="cpu")),
                      PredictConfig(resume=True, stride=16))
    assert "no interrupted run" in caplog.text and out.exists()


def wait_for_progress(proc: subprocess.Popen, manifest: Path, strips: int, timeout: float = 120) -> int:
    """Wait until the manifest records at least `strips` finished strips; returns how many."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.communicate()}"
        try:
            done = json.loads(manifest.read_text())["checkpoint"]["strips_done"]
        except (OSError, ValueError):
            done = 0
        if done >= strips:
            return done
        time.sleep(0.02)
    raise AssertionError("the run made no progress")


def ctrl_c_as_in_a_terminal() -> None:
    """In the child: SIGINT handled as in a terminal, even when the tests run as a background job (which
    starts with SIGINT ignored, and Python then installs no KeyboardInterrupt handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_cli_run_stopped_by_ctrl_c_then_killed_resumes_to_the_same_output(seg_model, naip_1024, tmp_path):
    """The real CLI in a subprocess: Ctrl-C at ~25 %, --resume, SIGKILL at ~50 %, --resume to the end."""
    args = [str(BIN), "-q", "predict", str(naip_1024), "--model", str(seg_model), "--tile-size", "48", "--overlap",
            "20", "--checkpoint-seconds", "0", "--probabilities", str(tmp_path / "out_p.tif")]
    full = tmp_path / "full.tif"
    predict_scene(str(naip_1024), SceneOutputs(full, tmp_path / "full_p.tif"),
                  LocalRunner(load_predictor(str(seg_model), device="cpu")), PredictConfig(tile_size=48, overlap=20))
    out = tmp_path / "out.tif"
    manifest = partial_path(out, ".partial.json")
    strips = 37  # rows of 48-pixel tiles 28 pixels apart over 1024 rows

    proc = subprocess.Popen([*args, "-o", str(out)], stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_as_in_a_terminal)
    try:
        wait_for_progress(proc, manifest, strips // 4)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "--resume" in err and "Interrupted" in err, err
    first = json.loads(manifest.read_text())["checkpoint"]["strips_done"]

    proc = subprocess.Popen([*args, "-o", str(out), "--resume"], stderr=subprocess.PIPE, text=True)
    try:
        second = wait_for_progress(proc, manifest, strips // 2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    last = json.loads(manifest.read_text())["checkpoint"]["strips_done"]
    assert first < second <= last < strips and not out.exists()
    assert partial_path(out, ".partial.lock").exists(), "the killed run's lock file stays, but not its lock"

    done = subprocess.run([str(BIN), "predict", str(naip_1024), *args[4:], "-o", str(out), "--resume"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"after {last} finished strips" in done.stderr
    assert np.array_equal(read(out), read(full))
    assert np.array_equal(read(tmp_path / "out_p.tif"), read(tmp_path / "full_p.tif"))
    assert hidden(tmp_path) == []


# Concurrent runs on one target (io.lock) and write failures (io.failures): one line, nothing published.


def test_a_second_run_on_an_output_being_written_is_refused_and_the_first_completes(seg_model, rgb_byte, tmp_path):
    """Run B starts (in-process, then the real CLI) while run A writes out.tif: B is refused in one line without
    touching A's partial files, with and without --overwrite or --resume; A's output equals a clean run's."""

    from geoclassify.io.lock import OutputBusyError
    from tests.conftest import OnProgress

    runner = LocalRunner(load_predictor(str(seg_model), device="cpu"))
    config = PredictConfig(checkpoint_seconds=0, tile_size=64, overlap=40)
    clean = predict_scene(str(rgb_byte), SceneOutputs(tmp_path / "clean.tif"), runner, config)
    out = tmp_path / "out.tif"
    refusals: list[str] = []

    def second_run(done: int) -> None:
        if done < 300 or refusals:
            return
        before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if p.name.startswith(".out.tif")}
        assert ".out.tif.partial.tif" in before and ".out.tif.partial.lock" in before
        for extra in ({}, {"overwrite": True}, {"resume": True}):
            with pytest.raises(OutputBusyError) as refused:
                predict_scene(str(rgb_byte), SceneOutputs(out), runner, replace(config, **extra))
            refusals.append(str(refused.value))
        cli = subprocess.run([str(BIN), "-q", "predict", str(rgb_byte), "--model", str(seg_model), "-o", str(out),
                              "--tile-size", "64", "--overlap", "40", "--overwrite"],
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 1, cli.stderr
        refusals.append(cli.stderr)
        after = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if p.name.startswith(".out.tif")}
        assert after == before, "the refused runs touched nothing"

    result = predict_scene(str(rgb_byte), SceneOutputs(out), runner, config, progress=OnProgress(second_run))
    assert len(refusals) == 4
    for message in refusals:
        assert message.strip().count("\n") == 0, message
        assert f"is writing {out} (its partial output is locked: {tmp_path}/.out.tif.partial.lock)" in message
        assert f"another run (process {os.getpid()})" in message
    assert refusals[-1].startswith("Error: another run")
    assert result.windows == clean.windows and result.class_counts == clean.class_counts
    assert np.array_equal(read(out), read(tmp_path / "clean.tif"))
    assert hidden(tmp_path) == []


def test_a_run_writing_another_runs_probabilities_output_is_refused(chip_model, rgb_byte, tmp_path):
    from geoclassify.io.lock import OutputBusyError
    from tests.conftest import OnProgress

    runner = LocalRunner(load_predictor(str(chip_model), device="cpu"))
    refused: list[str] = []

    def second_run(done: int) -> None:
        if not refused:
            with pytest.raises(OutputBusyError) as error:
                predict_scene(str(rgb_byte), SceneOutputs(tmp_path / "b.tif", tmp_path / "p.tif"), runner,
                              PredictConfig(stride=16))
            refused.append(str(error.value))

    predict_scene(str(rgb_byte), SceneOutputs(tmp_path / "a.tif", tmp_path / "p.tif"), runner,
                  PredictConfig(stride=16), progress=OnProgress(second_run))
    assert f"is writing {tmp_path / 'p.tif'} " in refused[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "a.tif.aux.xml", "p.tif"]


def test_a_partial_file_removed_under_the_run_fails_in_one_line_and_leaves_nothing(seg_model, rgb_byte, tmp_path):
    from geoclassify.errors import OutputError
    from tests.conftest import OnProgress

    out = tmp_path / "out.tif"

    def remove(done: int) -> None:
        if done >= 100:
            partial_path(tmp_path / "out_p.tif").unlink(missing_ok=True)

    with pytest.raises(OutputError) as error:
        predict_scene(str(rgb_byte), SceneOutputs(out, tmp_path / "out_p.tif"),
                      LocalRunner(load_predictor(str(seg_model), device="cpu")),
                      PredictConfig(checkpoint_seconds=0, tile_size=64, overlap=40), progress=OnProgress(remove))
    assert str(error.value) == f"the file was removed while writing {tmp_path}/.out_p.tif.partial.tif"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("checkpoint_seconds", [0, 1000], ids=["at-a-checkpoint", "at-the-commit"])
def test_a_full_disk_fails_in_one_line_and_publishes_nothing(checkpoint_seconds, seg_model, rgb_byte, tmp_path):
    """256 KiB: the classes raster (56 KB) fits, the float32 probabilities (1 MB) do not. Without checkpoints
    GDAL holds every block until the commit's close: the probabilities fail to finish there, and the classes
    raster is not published either. The partial files are removed (see Checkpoints.fail)."""
    from geoclassify.errors import OutputError
    from tests.io.test_writer import tmpfs

    with tmpfs(tmp_path / "full", "256k") as folder:
        with pytest.raises(OutputError) as error:
            predict_scene(str(rgb_byte), SceneOutputs(folder / "out.tif", folder / "p.tif"),
                          LocalRunner(load_predictor(str(seg_model), device="cpu")),
                          PredictConfig(checkpoint_seconds=checkpoint_seconds, tile_size=64, overlap=40,
                                        probabilities_dtype="float32"))
        assert str(error.value) == f"no space left on device while writing {folder}/.p.tif.partial.tif"
        assert os.listdir(folder) == []


def test_probabilities_that_cannot_be_finished_keep_the_classes_unpublished(chip_model, rgb_byte, tmp_path,
                                                                           monkeypatch):
    """The sink finishes every raster before it publishes any (a COG copy of the probabilities failing here)."""
    from geoclassify.errors import OutputError
    from geoclassify.io import writer

    def failing_copy(src, dst, **kwargs):
        if ".p.tif" in str(dst):
            raise OSError(5, "Input/output error")
        return copy(src, dst, **kwargs)

    copy = writer.rio_copy
    monkeypatch.setattr(writer, "rio_copy", failing_copy)
    with pytest.raises(OutputError, match=r"^input/output error while writing .*/\.p\.tif\.partial\.cog\.tif$"):
        predict_scene(str(rgb_byte), SceneOutputs(tmp_path / "out.tif", tmp_path / "p.tif"),
                      LocalRunner(load_predictor(str(chip_model), device="cpu")), PredictConfig(stride=16, cog=True))
    assert list(tmp_path.iterdir()) == []


def test_polygons_that_cannot_be_written_keep_the_rasters_unpublished(chip_model, rgb_byte, tmp_path):
    """The polygons are written from the finished rasters before any output is published: a full disk under the
    vector output leaves no classes or probabilities raster either."""
    from geoclassify.errors import OutputError
    from tests.io.test_writer import tmpfs

    with tmpfs(tmp_path / "full", "64k") as folder:
        with pytest.raises(OutputError) as error:
            predict_scene(str(rgb_byte), SceneOutputs(tmp_path / "out.tif", tmp_path / "p.tif", folder / "v.gpkg"),
                          LocalRunner(load_predictor(str(chip_model), device="cpu")), PredictConfig(stride=16))
        assert str(error.value) == f"no space left on device while writing {folder}/v.gpkg"
        assert os.listdir(folder) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_polygons_are_made_from_the_rasters_published_with_them(chip_model, rgb_byte, tmp_path):
    import geopandas as gpd

    outputs = SceneOutputs(tmp_path / "out.tif", tmp_path / "p.tif", tmp_path / "v.gpkg")
    result = predict_scene(str(rgb_byte), outputs, LocalRunner(load_predictor(str(chip_model), device="cpu")),
                           PredictConfig(stride=16))
    assert result.polygons is not None and result.polygons.features > 0
    polygons = gpd.read_file(outputs.vector)
    assert len(polygons) == result.polygons.features and polygons["mean_confidence"].notna().all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif", "out.tif.aux.xml", "p.tif", "v.gpkg"]


def test_cli_on_a_full_disk_prints_one_line_exits_1_and_leaves_nothing(seg_model, rgb_byte, tmp_path):
    """The real CLI: GDAL's and libtiff's own messages do not reach stderr, the error names the file and cause."""
    from tests.io.test_writer import tmpfs

    with tmpfs(tmp_path / "full", "256k") as folder:
        done = subprocess.run([str(BIN), "-q", "predict", str(rgb_byte), "--model", str(seg_model), "-o",
                               str(folder / "out.tif"), "--probabilities", str(folder / "p.tif"),
                               "--probabilities-dtype", "float32", "--tile-size", "64", "--overlap", "40"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 1
        assert done.stderr == f"Error: no space left on device while writing {folder}/.p.tif.partial.tif\n"
        assert os.listdir(folder) == []


def test_a_dead_runs_partial_and_lock_file_are_replaced_with_overwrite(interrupted, rgb_byte):
    """The lock file a killed run leaves is not locked: the next run replaces (or resumes) its partial output."""
    predictor, out, config = interrupted
    lock_file = partial_path(out, ".partial.lock")
    lock_file.write_text("999999\n")  # as kill -9 leaves it: no process holds its lock
    result = predict_scene(str(rgb_byte), SceneOutputs(out), predictor, replace(config, overwrite=True))
    assert result.resumed_windows == 0 and out.exists() and hidden(out.parent) == []


def test_an_interrupted_run_whose_partial_cannot_be_saved_removes_it(seg_model, rgb_byte, tmp_path, caplog):
    """Ctrl-C after a checkpoint keeps the partial output, unless saving it fails (here: it was removed): then it
    is removed, with a warning saying why, and Ctrl-C still ends the run."""
    from tests.conftest import OnProgress

    out = tmp_path / "out.tif"

    def remove_then_interrupt(done: int) -> None:
        if done >= 200:
            partial_path(out).unlink(missing_ok=True)
            raise KeyboardInterrupt

    with caplog.at_level("WARNING", logger="geoclassify"), pytest.raises(KeyboardInterrupt):
        predict_scene(str(rgb_byte), SceneOutputs(out), LocalRunner(load_predictor(str(seg_model), device="cpu")),
                      PredictConfig(checkpoint_seconds=0, tile_size=64, overlap=40),
                      progress=OnProgress(remove_then_interrupt))
    assert f"cannot be kept for --resume (the file was removed while writing {partial_path(out)}): removed" \
        in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_the_polygons_are_written_keeps_the_finished_rasters_resumable(chip_model, rgb_byte, tmp_path,
                                                                                    monkeypatch):
    """The rasters are finished (COG copies made) but not published when the polygons are written: Ctrl-C there
    keeps only the partial files (no COG copy, no sidecar left), and --resume publishes everything."""
    from geoclassify.vector import polygonize as polygonize_module

    def ctrl_c(*args, **kwargs):
        assert sorted(p.name for p in tmp_path.iterdir() if ".cog." in p.name) == [
            ".out.tif.partial.cog.tif", ".out.tif.partial.cog.tif.aux.xml", ".p.tif.partial.cog.tif"]
        raise KeyboardInterrupt

    runner = LocalRunner(load_predictor(str(chip_model), device="cpu"))
    config = PredictConfig(stride=16, cog=True, checkpoint_seconds=0)
    outputs = SceneOutputs(tmp_path / "out.tif", tmp_path / "p.tif", tmp_path / "v.gpkg")
    with monkeypatch.context() as patch:
        patch.setattr(polygonize_module, "polygonize_raster", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            predict_scene(str(rgb_byte), outputs, runner, config)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.tif.partial.json", ".out.tif.partial.tif",
                                                          ".p.tif.partial.tif"]
    resumed = predict_scene(str(rgb_byte), outputs, runner, replace(config, resume=True))
    clean = predict_scene(str(rgb_byte), SceneOutputs(tmp_path / "clean.tif"), runner, config)
    assert resumed.polygons is not None and resumed.class_counts == clean.class_counts
    assert np.array_equal(read(outputs.classes), read(tmp_path / "clean.tif"))
    assert hidden(tmp_path) == [] and outputs.vector.exists()


def test_a_failed_commit_keeps_the_outputs_locked_until_its_files_are_removed(tmp_path):
    """Between a failed commit and the clean-up of its partial files no other run may take the outputs (it would
    have its new partial files removed)."""
    from geoclassify.errors import OutputError
    from geoclassify.inference.resume import Checkpoints, PartialRun
    from geoclassify.io.lock import OutputBusyError, OutputLock

    out = tmp_path / "out.tif"
    lock_file = partial_path(out, ".partial.lock")

    def locked() -> bool:
        other = OutputLock(lock_file, out)
        try:
            other.acquire()
        except OutputBusyError:
            return True
        other.release()
        return False

    class FullDiskSink:
        counts = np.zeros(2, dtype=np.int64)
        locked_at_abort: bool | None = None

        def finish(self):
            raise OutputError("no space left on device while writing .out.tif.partial.tif")

        def abort(self):
            self.locked_at_abort = locked()

    sink, partial = FullDiskSink(), PartialRun([out], {})
    checkpoints = Checkpoints(sink, partial, partial.start(resume=False), 3, 0)
    with pytest.raises(OutputError) as error:
        checkpoints.commit()
    assert locked()
    checkpoints.fail(error.value, 10)
    assert sink.locked_at_abort is True
    assert not locked() and not lock_file.exists()


def test_outputs_that_cannot_be_opened_do_not_stay_locked(chip_model, rgb_byte, tmp_path, monkeypatch):
    """A run whose output rasters fail to open (after it took their locks) frees the locks as it fails: the next
    run in the same process writes the same outputs."""
    from geoclassify.inference import pipeline

    runner = LocalRunner(load_predictor(str(chip_model), device="cpu"))
    outputs = SceneOutputs(tmp_path / "a.tif", tmp_path / "p.tif")

    def refuse(*args, **kwargs):
        raise OSError("cannot open the partial rasters")

    with monkeypatch.context() as patched:
        patched.setattr(pipeline, "OutputSink", refuse)
        with pytest.raises(OSError, match="cannot open the partial rasters") as failed:
            predict_scene(str(rgb_byte), outputs, runner, PredictConfig(stride=16))
    # the failed run's frames (kept, as a caller handling the error keeps them) must not hold the locks
    predict_scene(str(rgb_byte), outputs, runner, PredictConfig(stride=16))  # flock: refused if still held
    assert outputs.classes.exists() and outputs.probabilities.exists() and failed.traceback
