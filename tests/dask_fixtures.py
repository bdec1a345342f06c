"""Real Dask schedulers and workers on 127.0.0.1, started as `dask scheduler` / `dask worker` processes.

Each process runs in its own session, so that killing it takes its nanny and worker process together;
every fixture stops all it started, whatever the test did.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

DASK = Path(sys.executable).parent / "dask"
START_SECONDS = 60


class LoopbackCluster:
    """A scheduler on 127.0.0.1 (a free port, found through its scheduler file) and the workers added to it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.scheduler_file = folder / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        self.address = self._start_scheduler()

    def _spawn(self, argv: list[str], name: str, env: dict | None = None) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                cwd=self.folder)
        log.close()
        self.procs.append(proc)
        return proc

    def _start_scheduler(self) -> str:
        self._spawn([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(self.scheduler_file)], "scheduler")
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.scheduler_file.exists():
                try:
                    return json.loads(self.scheduler_file.read_text())["address"]
                except (ValueError, KeyError):
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the test scheduler did not start")

    def start_worker(self, name: str, python: list[str] | None = None, env: dict | None = None) -> subprocess.Popen:
        """A worker process of one thread; `python` replaces the `dask` command (a worker in another environment)."""
        command = python + ["-m", "distributed.cli.dask_worker"] if python else [str(DASK), "worker"]
        return self._spawn(command + [self.address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                                      "--name", name, "--memory-limit", "0", "--local-directory", str(self.folder)],
                           name, env)

    def client(self, workers: int):
        from distributed import Client

        client = Client(self.address, timeout=START_SECONDS, set_as_default=False)
        client.wait_for_workers(workers, timeout=START_SECONDS)
        return client

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Signal a process and everything in its session (a worker's nanny and the worker it runs)."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for proc in reversed(self.procs):
            self.kill(proc, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(proc)
                proc.wait()
        self.procs.clear()


@pytest.fixture()
def loopback_cluster(tmp_path_factory):
    """A scheduler without workers (the test adds them); stopped after the test."""
    cluster = LoopbackCluster(tmp_path_factory.mktemp("dask"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """A scheduler and two workers on 127.0.0.1, shared by a module's tests; yields (cluster, client)."""
    cluster = LoopbackCluster(tmp_path_factory.mktemp("dask"))
    try:
        cluster.start_worker("w1")
        cluster.start_worker("w2")
        client = cluster.client(2)
    except BaseException:
        cluster.stop()
        raise
    yield cluster, client
    client.close()
    cluster.stop()


@pytest.fixture(scope="session")
def naip_1024(tmp_path_factory) -> Path:
    """The NAIP demo scene's RGB bands mirrored out to 1024 x 1024 pixels (real texture, more windows)."""
    from tests.conftest import ROOT

    with rasterio.open(ROOT / "examples" / "data" / "naip_farmland.tif") as src:
        data, profile = src.read([1, 2, 3]), src.profile
    data = np.pad(data, ((0, 0), (0, 1024 - data.shape[1]), (0, 1024 - data.shape[2])), mode="symmetric")
    profile.update(width=1024, height=1024, count=3, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    path = tmp_path_factory.mktemp("scenes") / "naip_1024.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path
