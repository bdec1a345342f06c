"""Prediction on a real dask.distributed cluster on 127.0.0.1: same output as a local run, killed workers, bad
set-ups."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geoclassify import __version__
from geoclassify.cli.main import cli
from geoclassify.errors import ClusterError
from geoclassify.inference.config import ModelSource, PredictConfig, SceneOutputs
from geoclassify.inference.distributed import DaskRunner, check_workers, split_blocks
from geoclassify.inference.pipeline import predict_scene
from geoclassify.inference.predictor import load_predictor, read_model_card
from geoclassify.inference.runners import LocalRunner
from tests.conftest import OnProgress, interrupt_after


def read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def runner(client, model: Path, threads: int | None = None) -> DaskRunner:
    return DaskRunner(client, ModelSource(str(model), device="cpu", threads=threads), read_model_card(str(model)))


@pytest.mark.parametrize("case", ["segmentation", "chips", "chips-fully-convolutional"])
def test_distributed_output_equals_local(case, two_workers, seg_model, chip_model, rgb_byte, tmp_path):
    """With as many model threads on the workers as here, every output is identical to the last bit; with one
    thread (oneDNN then picks other kernels for some batch shapes) classes are identical, float32
    probabilities within a few units in the last place."""
    import torch

    _, client = two_workers
    model = seg_model if case == "segmentation" else chip_model
    options = dict(tile_size=48, overlap=20) if case == "segmentation" else dict(stride=12)  # 2 strips of chips
    if case == "chips-fully-convolutional":
        options["fully_convolutional"] = True
    engines = {"local": LocalRunner(load_predictor(str(model), device="cpu")),
               "dask": runner(client, model, threads=torch.get_num_threads()), "dask_1": runner(client, model, 1)}
    results, outputs = {}, {}
    for name, engine in engines.items():
        out, probs = tmp_path / f"{name}.tif", tmp_path / f"{name}_p.tif"
        config = PredictConfig(probabilities_dtype="float32", **options)
        results[name] = predict_scene(str(rgb_byte), SceneOutputs(out, probs), engine, config)
        outputs[name] = (read(out), read(probs))
    (a, pa), (b, pb), (c, pc) = outputs.values()
    assert np.nanstd(pa) > 0.01, "the test model's probabilities must vary for the comparison to mean anything"
    assert np.array_equal(a, b) and np.array_equal(pa, pb, equal_nan=True)
    assert np.array_equal(a, c)
    np.testing.assert_allclose(pa, pc, rtol=0, atol=1e-6)
    assert results["local"].class_counts == results["dask"].class_counts == results["dask_1"].class_counts
    assert results["local"].windows == results["dask"].windows
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def damaged_copy(scene: Path, path: Path) -> Path:
    """A tiled copy whose header is fine but a third of whose tile data is noise: it opens, reading fails."""
    from rasterio.shutil import copy as rio_copy

    rio_copy(scene, path, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start : start + 50_000] = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def test_batch_on_the_cluster_reports_a_scene_that_fails_on_a_worker(two_workers, seg_model, rgb_byte, tmp_path,
                                                                    monkeypatch):
    """Relative paths (the workers run in another folder), a good scene, one whose data is damaged."""
    from geoclassify.inference.jobs import plan_jobs, run_jobs

    _, client = two_workers
    shutil.copy(rgb_byte, tmp_path / "good.tif")
    damaged_copy(rgb_byte, tmp_path / "damaged.tif")
    monkeypatch.chdir(tmp_path)
    jobs = plan_jobs(["good.tif", "damaged.tif"], Path("out"))
    Path("out").mkdir()
    reports = run_jobs(jobs, runner(client, seg_model), PredictConfig())
    assert reports[0].status == "ok"
    assert reports[1].status.startswith("failed: failed to read") and "damaged or truncated" in reports[1].status
    assert sorted(p.name for p in Path("out").iterdir()) == ["good_classes.tif", "good_classes.tif.aux.xml"]


def test_blocks_cover_the_strips_in_order():
    strips = list(range(37))
    for threads in (1, 2, 8, 100):
        blocks = split_blocks(strips, threads)
        assert [s for b in blocks for s in b] == strips
        assert len(blocks) >= min(len(strips), 4 * threads) or len(blocks[0]) == 1


def test_killed_worker_tasks_run_elsewhere(loopback_cluster, seg_model, naip_1024, tmp_path):
    """Kill one of two workers while it holds tasks: the run completes and equals a local run."""
    victim = loopback_cluster.start_worker("victim")
    loopback_cluster.start_worker("survivor")
    client = loopback_cluster.client(2)
    config = PredictConfig(tile_size=48, overlap=20)  # 37 strips of 37 tiles
    local = tmp_path / "local.tif"
    here = LocalRunner(load_predictor(str(seg_model), device="cpu"))
    expected = predict_scene(str(naip_1024), SceneOutputs(local), here, config)
    held: list = []

    def kill_victim(done: int) -> None:
        if held:
            return
        names = {w["name"]: addr for addr, w in client.scheduler_info()["workers"].items()}
        address = names["victim"]
        held.append(len(client.processing()[address]) + sum(address in ws for ws in client.who_has().values()))
        loopback_cluster.kill(victim)

    out = tmp_path / "dask.tif"
    try:
        result = predict_scene(str(naip_1024), SceneOutputs(out), runner(client, seg_model), config,
                               progress=OnProgress(kill_victim))
        workers_left = [w["name"] for w in client.scheduler_info()["workers"].values()]
    finally:
        client.close()
    assert held and held[0] > 0, "the killed worker held no task: the test did not test a rerun"
    assert workers_left == ["survivor"]
    assert result.windows == expected.windows and result.class_counts == expected.class_counts
    assert np.array_equal(read(out), read(local))


def test_cli_local_cluster_equals_local_run(chip_model, rgb_byte, tmp_path):
    outs = []
    for extra in ([], ["--scheduler", "local:2"]):
        out = tmp_path / f"out{len(extra)}.tif"
        result = CliRunner().invoke(cli, ["-q", "predict", str(rgb_byte), "-o", str(out), "--model", str(chip_model),
                                          "--stride", "12", *extra])
        assert result.exit_code == 0, result.output
        outs.append(read(out))
    assert np.array_equal(*outs)


def test_unreachable_scheduler_fails_fast_and_writes_nothing(chip_model, rgb_byte, tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    result = CliRunner().invoke(cli, ["-q", "predict", str(rgb_byte), "-o", str(tmp_path / "o.tif"), "--model",
                                      str(chip_model), "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert time.monotonic() - start < 10
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}")
    assert list(tmp_path.iterdir()) == []


def test_bad_scheduler_spec_is_refused(chip_model, rgb_byte, tmp_path):
    for spec in ("local:0", "local:x", "127.0.0.1:8786"):
        result = CliRunner().invoke(cli, ["-q", "predict", str(rgb_byte), "-o", str(tmp_path / "o.tif"),
                                          "--model", str(chip_model), "--scheduler", spec])
        assert result.exit_code == 1 and "--scheduler" in result.output, result.output
    assert list(tmp_path.iterdir()) == []


def other_geoclassify(folder: Path, version: str) -> Path:
    """A copy of this geoclassify that says it is another version, as an older install on a worker would."""
    from tests.conftest import ROOT

    site = folder / "other_site"
    shutil.copytree(ROOT / "geoclassify", site / "geoclassify", ignore=shutil.ignore_patterns("weights", "__pycache__"))
    module = site / "geoclassify" / "version.py"
    module.write_text(module.read_text().replace(f'__version__ = "{__version__}"', f'__version__ = "{version}"'))
    return site


def site_packages() -> str:
    import distributed

    return str(Path(distributed.__file__).parent.parent)


def test_workers_without_geoclassify_or_with_another_version_are_refused(loopback_cluster, tmp_path):
    """Worker environments: `python -S` on the venv's site-packages (no geoclassify: its editable install is a
    .pth file that -S skips), then a copy of geoclassify that claims version 0.0.1."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    bare_env = dict(env, PYTHONPATH=site_packages())
    if subprocess.run([sys.executable, "-S", "-c", "import geoclassify"], env=bare_env, cwd=loopback_cluster.folder,
                      stderr=subprocess.DEVNULL).returncode == 0:  # as the worker will run
        pytest.skip("geoclassify is installed into site-packages itself (not editable): no bare environment here")
    bare = loopback_cluster.start_worker("bare", [sys.executable, "-S"], bare_env)
    client = loopback_cluster.client(1)
    try:
        with pytest.raises(ClusterError, match=r"geoclassify is not installed on Dask worker\(s\) tcp://127\.0\.0\.1"):
            check_workers(client)
        loopback_cluster.kill(bare)
        other = other_geoclassify(tmp_path, "0.0.1")
        loopback_cluster.start_worker("old", env=dict(env, PYTHONPATH=str(other)))
        deadline = time.monotonic() + 60
        while [w["name"] for w in client.scheduler_info()["workers"].values()] != ["old"]:
            assert time.monotonic() < deadline, "the second worker did not replace the first"
            time.sleep(0.2)
        with pytest.raises(ClusterError, match=rf"version mismatch: this client has {__version__}, worker "
                                               r"tcp://127\.0\.0\.1:\d+ has 0\.0\.1"):
            check_workers(client)
    finally:
        client.close()


def test_a_local_run_interrupted_resumes_on_the_cluster(two_workers, seg_model, rgb_byte, tmp_path):
    _, client = two_workers
    local = LocalRunner(load_predictor(str(seg_model), device="cpu"))
    config = PredictConfig(tile_size=48, overlap=20, checkpoint_seconds=0)
    full = predict_scene(str(rgb_byte), SceneOutputs(tmp_path / "full.tif"), local, config)
    out = tmp_path / "out.tif"

    with pytest.raises(KeyboardInterrupt):
        predict_scene(str(rgb_byte), SceneOutputs(out), local, config, progress=interrupt_after(full.windows // 2 + 1))
    from dataclasses import replace

    import torch

    resumed = predict_scene(str(rgb_byte), SceneOutputs(out), runner(client, seg_model, torch.get_num_threads()),
                            replace(config, resume=True))
    assert 0 < resumed.resumed_windows < full.windows
    assert np.array_equal(read(out), read(tmp_path / "full.tif"))
