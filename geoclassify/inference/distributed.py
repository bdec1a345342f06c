"""The window loop on a dask.distributed cluster: tasks get paths and strips, each worker keeps the model loaded.

`--scheduler tcp://HOST:PORT` connects to a running cluster, `--scheduler local:N` starts N worker
processes here. A task runs `predict_strips` over a block of consecutive strips and returns their model
outputs; the writer in this process takes them in order (see `predict_scene`). A worker
that dies takes its tasks with it and the scheduler runs them again elsewhere: the output is the same.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from concurrent.futures import CancelledError
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlsplit

from geoclassify.errors import ClusterError, ConfigError, GeoclassifyError
from geoclassify.inference.batching import pixels_per_call
from geoclassify.inference.config import LoopOptions, ModelSource, absolute
from geoclassify.inference.layouts import Layout, Strip
from geoclassify.inference.predictor import Predictor, model_identity
from geoclassify.inference.runners import BatchCallback, StripOutput, StripOutputs, predict_strips
from geoclassify.io.gdal_cache import bounded_gdal_cache
from geoclassify.io.raster import Scene
from geoclassify.io.reader import StripReader
from geoclassify.models.card import ModelCard
from geoclassify.models.files import backend_of
from geoclassify.version import __version__

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger("geoclassify")

CONNECT_SECONDS = 5  # to reach a scheduler
WORKERS_SECONDS = 10  # for a reachable scheduler to have a worker
NO_WORKER_SECONDS = 60  # a run with no worker left for this long gives up
BLOCKS_PER_THREAD = 4  # blocks per worker thread, at least: enough to balance the load and rerun little
MAX_STRIPS_PER_BLOCK = 8


@dataclass(frozen=True)
class BlockJob:
    """What every task of one scene shares: the scene's read plan (paths and grids, no open dataset), the model,
    the layout (a pure plan) and the window loop's options."""

    scene: Scene
    model: ModelSource
    layout: Layout
    loop: LoopOptions


_predictors: dict[tuple, Predictor] = {}
_predictors_lock = threading.Lock()


def worker_predictor(model: ModelSource) -> Predictor:
    """The model, loaded once per worker process and kept while its file is unchanged."""
    key = (model, repr(model_identity(model.path, model.card)))
    with _predictors_lock:
        if key not in _predictors:
            _predictors.clear()
            _predictors[key] = model.load()
        return _predictors[key]


def set_threads(model: ModelSource) -> None:
    """Give a torch model `threads` threads in the calling thread (OpenMP settings are per thread)."""
    from geoclassify.models.files import is_onnx

    if model.threads and not is_onnx(model.path):
        import torch

        torch.set_num_threads(model.threads)


def run_block(job: BlockJob, strips: tuple[Strip, ...]) -> list[StripOutput]:
    """A task: read and predict consecutive strips of a scene on a worker."""
    try:
        predictor = worker_predictor(job.model)
        set_threads(job.model)
        with bounded_gdal_cache(job.scene.block_row_bytes), StripReader(job.scene, job.loop.read_workers) as reader:
            return [out for _, out in predict_strips(reader, job.layout, list(strips), predictor, job.loop)]
    except GeoclassifyError as exc:
        error = exc
    # raised outside the handler, without the errors it replaced: rasterio's GDAL errors do not pickle, and Dask
    # would send back a bare Exception instead of the geoclassify error the client reports
    error.__cause__ = error.__context__ = None
    raise error


def split_blocks(strips: list[Strip], threads: int) -> list[tuple[Strip, ...]]:
    """Consecutive strips in blocks: a few per worker thread, a few strips each (one task reads ahead within a
    block)."""
    per_block = max(1, min(MAX_STRIPS_PER_BLOCK, len(strips) // (BLOCKS_PER_THREAD * max(threads, 1))))
    return [tuple(strips[i : i + per_block]) for i in range(0, len(strips), per_block)]


class DaskRunner:
    """Runs the window loop as tasks on a dask.distributed cluster and yields their outputs in strip order."""

    def __init__(self, client: "Client", model: ModelSource, card: ModelCard):
        self.client, self.model, self.card = client, model.absolute(), card
        self.identity = model_identity(self.model.path, self.model.card)
        self.pixels_per_call = pixels_per_call(backend_of(self.model.path),
                                               "cuda" if self.model.device == "cuda" else "cpu")

    def run_strips(self, scene: Scene, layout: Layout, strips: list[Strip], loop: LoopOptions,
                   on_batch: BatchCallback | None = None) -> StripOutputs:
        """Batches run on the workers: progress comes per strip (`on_batch` is not called)."""
        job = BlockJob(replace(scene, path=absolute(scene.path)), self.model, layout, loop)
        threads = sum(self.client.nthreads().values())
        blocks = iter(split_blocks(strips, threads))
        in_flight: deque = deque()

        def submit_next() -> None:
            block = next(blocks, None)
            if block is not None:
                in_flight.append((block, self.client.submit(run_block, job, block, pure=False)))

        for _ in range(2 * threads + 1):  # every thread busy, and its next block waiting
            submit_next()
        try:
            while in_flight:
                block, future = in_flight.popleft()
                outputs = self._result(future, block)
                submit_next()
                yield from zip(block, outputs)
        finally:
            self.client.cancel([f for _, f in in_flight])

    def _result(self, future, block: tuple[Strip, ...]) -> list[StripOutput]:
        """Wait for a block; give up when the cluster has had no worker for a while."""
        from distributed.scheduler import KilledWorker

        alone_since = None
        while True:
            try:
                return future.result(timeout=5)
            except GeoclassifyError:
                raise  # the task's own error: the scene, not the cluster (some are OSErrors)
            except TimeoutError:
                if self.client.nthreads():
                    alone_since = None
                    continue
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since > NO_WORKER_SECONDS:
                    raise ClusterError(f"the Dask cluster has had no worker for {NO_WORKER_SECONDS} s") from None
            except KilledWorker as exc:
                raise ClusterError(f"the workers running scene rows {block[0].row}-{block[-1].row + block[-1].height} "
                                   f"kept dying (out of memory?): {exc}") from None
            except (CancelledError, OSError) as exc:
                raise ClusterError(f"lost the Dask scheduler during the run: {exc}") from None


def check_workers(client: "Client") -> None:
    """Refuse workers that cannot import geoclassify, or run another version of it than this client."""

    def probe() -> str | None:  # defined here, so it travels by value: the worker needs no geoclassify to run it
        try:
            import geoclassify  # the package as installed on the worker (its face), not this process's modules
        except ImportError:
            return None
        return geoclassify.__version__

    versions = client.run(probe)
    missing = sorted(w for w, v in versions.items() if v is None)
    if missing:
        raise ClusterError(f"geoclassify is not installed on Dask worker(s) {', '.join(missing)}; install "
                           f"geoclassify {__version__} (the version of this client) on every worker")
    other = sorted(f"{w} has {v}" for w, v in versions.items() if v != __version__)
    if other:
        raise ClusterError(f"geoclassify version mismatch: this client has {__version__}, worker "
                           f"{'; '.join(other)}; install the same version everywhere")


def check_reachable(address: str) -> None:
    """Fail at once when nothing listens at a tcp:// address (the Dask client would retry until its timeout)."""
    parts = urlsplit(address)
    if parts.scheme != "tcp" or not parts.hostname or not parts.port:
        return
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=CONNECT_SECONDS):
            pass
    except OSError as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}; start it with "
                           f"`dask scheduler` or check --scheduler") from None


def connect(address: str) -> "Client":
    """A client of a running scheduler, with at least one worker, all of them running this geoclassify."""
    from distributed import Client

    check_reachable(address)
    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {CONNECT_SECONDS} s: {exc}; "
                           "start it with `dask scheduler` or check --scheduler") from None
    try:
        try:
            client.wait_for_workers(1, timeout=WORKERS_SECONDS)
        except TimeoutError:
            raise ClusterError(f"the Dask scheduler at {address} has no workers; start some with "
                               f"`dask worker {address}`") from None
        check_workers(client)
    except BaseException:
        client.close()
        raise
    return client


def model_threads(spec: str) -> int | None:
    """The model's threads per worker: `local:N` shares this machine's cores among its N workers."""
    return max(1, (os.cpu_count() or 1) // local_workers(spec)) if spec.startswith("local:") else None


def local_workers(spec: str) -> int:
    """N of a `local:N` scheduler spec: the worker processes of a local cluster.

    Raises:
        ConfigError: N is not a whole number of at least 1.
    """
    try:
        n = int(spec.removeprefix("local:"))
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"--scheduler {spec}: local:N needs a number of worker processes N >= 1, like local:2")
    return n


@contextmanager
def dask_client(spec: str) -> Iterator["Client"]:
    """`local:N`: a LocalCluster of N worker processes, one thread each, closed afterwards;
    `tcp://HOST:PORT` (or any Dask address): a running cluster."""
    if spec.startswith("local:"):
        n = local_workers(spec)
        from distributed import Client, LocalCluster

        log.info("starting a local Dask cluster of %d worker processes", n)
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                          silence_logs=logging.ERROR) as cluster, \
                Client(cluster, set_as_default=False) as client:
            yield client
        return
    if "://" not in spec:
        raise ConfigError(f"--scheduler must be tcp://HOST:PORT (a running `dask scheduler`) or local:N, not {spec!r}")
    client = connect(spec)
    try:
        yield client
    finally:
        client.close()
