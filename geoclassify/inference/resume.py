"""Resumable predictions: partial outputs at fixed names beside the targets, and a manifest of finished strips.

A prediction writes its rasters to `.NAME.partial.tif` beside each target and, at checkpoints, saves
them and records in `.NAME.partial.json` how many strips are finished and written. After an
interruption (Ctrl-C, kill, crash) `--resume` reopens the partial rasters and continues after the last
recorded strip; the manifest's fingerprint (scene, model, options) must match the new run's.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import rasterio
from rasterio.errors import RasterioError

from geoclassify.errors import ConfigError, GeoclassifyError, InterruptedRunError, OutputError
from geoclassify.io.atomic import atomic_target
from geoclassify.io.failures import write_error
from geoclassify.io.identity import file_identity
from geoclassify.io.lock import OutputLock, OutputLocks
from geoclassify.io.raster import Scene
from geoclassify.io.writer import remove_files
from geoclassify.version import __version__

if TYPE_CHECKING:
    import numpy as np

    from geoclassify.inference.config import PredictConfig, SceneOutputs

log = logging.getLogger("geoclassify")

MANIFEST_VERSION = 2  # 2: strips_done (was steps_done)


def partial_path(output: str | os.PathLike, suffix: str = ".partial.tif") -> Path:
    """Where the partial file of `output` lives: hidden, beside it, at a name a later run can find."""
    output = Path(output)
    return output.with_name(f".{output.name}{suffix}")


def output_lock(output: str | os.PathLike) -> OutputLock:
    """The lock of `output` while a run writes it (io.lock), in its hidden lock file beside it."""
    return OutputLock(partial_path(output, ".partial.lock"), Path(output))


def readable(path: Path) -> bool:
    """Whether GDAL can open `path` as a raster (a partial raster cut short by a kill may not open)."""
    try:
        rasterio.open(path).close()
    except RasterioError:
        return False
    return True


@dataclass
class Checkpoint:
    """What a checkpoint records: finished strips, windows seen and skipped, pixels per class so far."""

    strips_done: int = 0
    windows: int = 0
    skipped: int = 0
    counts: list[int] = field(default_factory=list)


class PartialRun:
    """The partial rasters of one prediction and its manifest, locked while this run writes them.

    `start` takes an OS lock on each raster output (`.NAME.partial.lock`, io.lock) before it looks at or removes
    anything: a second run on an output being written is refused (OutputBusyError) and leaves the first's files
    alone. The locks go when the run ends (`release`, called by Checkpoints on commit or failure) or when its
    process dies, so the partial output of a killed run is resumed or replaced by the next run.
    """

    def __init__(self, outputs: list[str | os.PathLike], fingerprint: dict):
        self.rasters = [partial_path(o) for o in outputs]
        self.manifest = partial_path(outputs[0], ".partial.json")
        self.fingerprint = json.loads(json.dumps({"geoclassify": __version__, **fingerprint}))  # as saved
        self.locks = OutputLocks([output_lock(o) for o in outputs])

    def exists(self) -> bool:
        """Whether an earlier run left a manifest or any partial raster."""
        return self.manifest.exists() or any(p.exists() for p in self.rasters)

    def start(self, resume: bool) -> Checkpoint:
        """Lock the outputs, then clean up a stale partial run, or (with `resume`) return where the previous one
        stopped.

        Raises:
            OutputBusyError: another run is writing one of the outputs (nothing is touched).
            ConfigError: a --resume of a run started with other options (the locks are released).
        """
        self.locks.acquire()
        try:
            return self._start(resume)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Release the outputs' locks: another run may write them now."""
        self.locks.release()

    def _start(self, resume: bool) -> Checkpoint:
        if not self.exists():
            if resume:
                log.info("no interrupted run of %s to resume: starting from the beginning", self.rasters[0].name)
            return Checkpoint()
        if not resume:
            log.warning("removing the partial output of an interrupted run (%s); use --resume to continue such a "
                        "run instead", self.rasters[0])
            self.discard()
            return Checkpoint()
        checkpoint = self._load()
        if checkpoint is None:
            log.warning("the partial output %s cannot be resumed (incomplete or damaged): starting over",
                        self.rasters[0])
            self.discard()
            return Checkpoint()
        log.info("resuming %s after %d finished strips (%d windows)", self.rasters[0], checkpoint.strips_done,
                 checkpoint.windows)
        return checkpoint

    def _load(self) -> Checkpoint | None:
        try:
            saved = json.loads(self.manifest.read_text())
        except (OSError, ValueError):
            return None
        if saved.get("manifest") != MANIFEST_VERSION:
            log.warning("%s was written by another version of geoclassify (%s)", self.manifest,
                        saved.get("fingerprint", {}).get("geoclassify", "unknown"))
            return None
        if not all(readable(p) for p in self.rasters):
            return None
        differs = sorted(k for k in set(saved["fingerprint"]) | set(self.fingerprint)
                         if saved["fingerprint"].get(k) != self.fingerprint.get(k))
        if differs:
            raise ConfigError(f"cannot resume into {self.rasters[0]}: it was started with another "
                              f"{', '.join(differs)}; run the same command as before with --resume, "
                              "or without --resume to start over")
        return Checkpoint(**saved["checkpoint"])

    def save(self, checkpoint: Checkpoint) -> None:
        """Record finished strips; call after the partial rasters are saved, so they hold at least that much."""
        text = json.dumps({"manifest": MANIFEST_VERSION, "fingerprint": self.fingerprint,
                           "checkpoint": asdict(checkpoint)}, indent=1)
        try:
            with atomic_target(self.manifest, ".tmp") as tmp:
                tmp.write_text(text)
        except OSError as exc:
            raise write_error(self.manifest, exc) from None

    def discard(self) -> None:
        """Delete the partial rasters, their sidecars and the manifest (those that exist; best effort: one that
        cannot be deleted is named in a warning)."""
        remove_files([*self.rasters, *(Path(f"{r}.aux.xml") for r in self.rasters), self.manifest])


def run_fingerprint(scene: Scene, outputs: SceneOutputs, model: dict, config: PredictConfig, strips: int) -> dict:
    """What must not change between an interrupted run and its --resume; `model` identifies the model (a
    runner's `identity`)."""
    options = dict(bands=list(scene.bands), stride=config.stride, tile_size=config.tile_size, overlap=config.overlap,
                   batch_size=config.batch_size, fully_convolutional=config.fully_convolutional,
                   resample=config.resample, cog=config.cog,
                   probabilities=outputs.probabilities is not None, probabilities_dtype=config.probabilities_dtype,
                   values=None if scene.values is None else [[v.gain, v.bias] for v in scene.values])
    return {"scene": file_identity(scene.path), "model": model, "options": options,
            "grid": [scene.grid.width, scene.grid.height], "strips": strips}


class PartialFiles(Protocol):
    """What checkpoints need of the files being written (an OutputSink): pixels per class so far, and saving,
    publishing, keeping or deleting the partial files."""

    counts: np.ndarray

    def checkpoint(self) -> None:
        """Save the partial files so far."""

    def finish(self) -> SceneOutputs:
        """Finish the files (all that may fail) without publishing them; returns where they are."""

    def publish(self) -> None:
        """Move the finished files into place."""

    def close(self) -> None:
        """Close the partial files and keep them."""

    def abort(self) -> None:
        """Close and delete the partial files."""


class Checkpoints:
    """The sink's partial files and what they hold: saved every `every` seconds, kept or removed on failure."""

    def __init__(self, sink: PartialFiles, partial: PartialRun, done: Checkpoint, strips: int, every: float):
        self.sink, self.partial, self.last, self.strips, self.every = sink, partial, done, strips, every
        self.saved = done.strips_done > 0
        self.saved_at = time.monotonic()
        if done.counts:
            sink.counts[:] = done.counts

    def strip_done(self, index: int, windows: int, skipped: int) -> None:
        """Record strip `index`, its rows written, and its windows (all, and skipped as nodata); save the partial
        files when it is time."""
        c = self.last
        self.last = Checkpoint(index + 1, c.windows + windows, c.skipped + skipped, self.sink.counts.tolist())
        if index + 1 < self.strips and time.monotonic() - self.saved_at >= self.every:
            self.sink.checkpoint()
            self.partial.save(self.last)
            self.saved, self.saved_at = True, time.monotonic()

    def commit(self, before_publish: Callable[[SceneOutputs], None] | None = None) -> None:
        """Finish the rasters, call `before_publish` with where they are (to write the polygons from them: an
        output that fails leaves all unpublished), move them into place and delete the manifest; the outputs are
        unlocked after. On an error they stay locked for `fail`, which must follow (it removes or keeps files)."""
        finished = self.sink.finish()
        if before_publish is not None:
            before_publish(finished)
        self.sink.publish()
        self.partial.discard()
        self.partial.release()

    def fail(self, exc: BaseException, total_windows: int) -> None:
        """Keep the partial files of an interrupted run that saved some; remove them after an input error, and
        after a write error (a file written when a write failed cannot be trusted to hold what the manifest says,
        and removing it gives back the space a full disk lacked). The outputs are unlocked after."""
        try:
            self._fail(exc, total_windows)
        finally:
            self.partial.release()

    def _fail(self, exc: BaseException, total_windows: int) -> None:
        input_error = isinstance(exc, GeoclassifyError) and not isinstance(exc, InterruptedRunError)
        if self.saved and not input_error:
            try:
                self.sink.close()
                self.partial.save(self.last)
            except OutputError as error:
                log.warning("the partial output cannot be kept for --resume (%s): removed", error)
            else:
                log.warning("%d of %d windows done; the partial output is kept: run the same command with "
                            "--resume to continue", self.last.windows, total_windows)
                return
        self.sink.abort()
        self.partial.discard()
