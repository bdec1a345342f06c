"""Resumable predictions: partial outputs at fixed names beside the targets, and a manifest of finished steps.

A prediction writes its rasters to `.NAME.partial.tif` beside each target and, at checkpoints, saves
them and records in `.NAME.partial.json` how many row bands (steps) are finished and written. After an
interruption (Ctrl-C, kill, crash) `--resume` reopens the partial rasters and continues after the last
recorded step; the manifest's fingerprint (scene, model, options) must match the new run's.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import rasterio
from rasterio.errors import RasterioError

from geoclassify import __version__
from geoclassify.errors import ConfigError
from geoclassify.io.atomic import atomic_target

log = logging.getLogger("geoclassify")

MANIFEST_VERSION = 1


def partial_path(output: str | os.PathLike, suffix: str = ".partial.tif") -> Path:
    """Where the partial file of `output` lives: hidden, beside it, at a name a later run can find."""
    output = Path(output)
    return output.with_name(f".{output.name}{suffix}")


def file_identity(path: str | os.PathLike) -> dict:
    """Absolute path, size and modification time: enough to tell a changed input from the same one."""
    path = str(path)
    if path.startswith("/vsi") or "://" in path:
        return {"path": path}
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def readable(path: Path) -> bool:
    try:
        rasterio.open(path).close()
    except RasterioError:
        return False
    return True


@dataclass
class Progress:
    """What a checkpoint records: finished steps, windows seen and skipped, pixels per class so far."""

    steps_done: int = 0
    windows: int = 0
    skipped: int = 0
    counts: list[int] = field(default_factory=list)


class PartialRun:
    """The partial rasters of one prediction and its manifest."""

    def __init__(self, outputs: list[str | os.PathLike], fingerprint: dict):
        self.rasters = [partial_path(o) for o in outputs]
        self.manifest = partial_path(outputs[0], ".partial.json")
        self.fingerprint = json.loads(json.dumps({"geoclassify": __version__, **fingerprint}))  # as saved

    def exists(self) -> bool:
        return self.manifest.exists() or any(p.exists() for p in self.rasters)

    def start(self, resume: bool) -> Progress:
        """Clean up a stale partial run, or (with `resume`) return where the previous one stopped."""
        if not self.exists():
            if resume:
                log.info("no interrupted run of %s to resume: starting from the beginning", self.rasters[0].name)
            return Progress()
        if not resume:
            log.warning("removing the partial output of an interrupted run (%s); use --resume to continue such a "
                        "run instead", self.rasters[0])
            self.discard()
            return Progress()
        progress = self._load()
        if progress is None:
            log.warning("the partial output %s cannot be resumed (incomplete or damaged): starting over",
                        self.rasters[0])
            self.discard()
            return Progress()
        log.info("resuming %s after %d finished row bands (%d windows)", self.rasters[0], progress.steps_done,
                 progress.windows)
        return progress

    def _load(self) -> Progress | None:
        try:
            saved = json.loads(self.manifest.read_text())
        except (OSError, ValueError):
            return None
        if saved.get("manifest") != MANIFEST_VERSION or not all(readable(p) for p in self.rasters):
            return None
        differs = sorted(k for k in set(saved["fingerprint"]) | set(self.fingerprint)
                         if saved["fingerprint"].get(k) != self.fingerprint.get(k))
        if differs:
            raise ConfigError(f"cannot resume into {self.rasters[0]}: it was started with another "
                              f"{', '.join(differs)}; run the same command as before with --resume, "
                              "or without --resume to start over")
        return Progress(**saved["progress"])

    def save(self, progress: Progress) -> None:
        """Record finished steps; call after the partial rasters are saved, so they hold at least that much."""
        text = json.dumps({"manifest": MANIFEST_VERSION, "fingerprint": self.fingerprint,
                           "progress": asdict(progress)}, indent=1)
        with atomic_target(self.manifest, ".tmp") as tmp:
            tmp.write_text(text)

    def discard(self) -> None:
        for p in (*self.rasters, *(Path(f"{r}.aux.xml") for r in self.rasters), self.manifest):
            p.unlink(missing_ok=True)
