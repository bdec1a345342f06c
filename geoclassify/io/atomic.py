"""Atomic file output: write to a temporary file (or directory) beside the target, then rename it into place.

Every writer of geoclassify goes through here: rasters (io.writer), vectors (vector.writers), model files,
run records and reports, so a failure or Ctrl-C never leaves a half-written file at the target path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from geoclassify.errors import OutputError
from geoclassify.io.failures import write_error


def temp_beside(path: Path, suffix: str) -> Path:
    """Create an empty, uniquely named temporary file in the target's directory."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def publish(tmp: Path, path: Path) -> None:
    """Give the temporary file normal permissions (mkstemp makes it private) and rename it over `path`."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


@contextmanager
def atomic_target(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; on success it is renamed over `path`, on error deleted."""
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_files(path: Path, replaces: Iterable[Path] = ()) -> Iterator[Path]:
    """Yield a path with the target's name in a private directory beside it, for writers that make several files
    (a Shapefile and its side files). On success, the files `replaces` are removed and every file in the directory
    is renamed into the target's directory; on error nothing is published. The directory is removed either way.

    Raises:
        OutputError: the target's directory cannot be written.
    """
    try:
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise OutputError(f"cannot write in {path.parent}: {exc.strerror}") from None
    try:
        yield tmpdir / path.name
        try:
            for stale in replaces:
                stale.unlink(missing_ok=True)
            for part in sorted(tmpdir.iterdir()):
                publish(part, path.parent / part.name)
        except OSError as exc:
            raise write_error(path, exc, "publishing") from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it: readers see the old file or the whole new one."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)
