"""Progress reports: a tqdm bar for people, JSON lines for programs, or nothing; one reporter is passed in.

The CLI makes one reporter from `geoclassify --progress-format bar|json` and `-q`, and hands it to predict,
polygonize and train. In JSON mode each update is one line on stderr, e.g.
`{"progress": "predict", "done": 120, "total": 690, "unit": "win"}`, at most one every `JSON_INTERVAL` seconds
plus the first and the last; the log lines around them stay plain text. The QGIS plugin reads these lines to
drive its progress bar.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Protocol

FORMATS = ("bar", "json")
JSON_INTERVAL = 0.2  # seconds between JSON lines


class ProgressBar(Protocol):
    """The part of tqdm's interface the pipelines use."""

    def update(self, n: int = 1) -> object:
        """Add `n` to the count done."""
        ...

    def set_postfix(self, **values: object) -> object:
        """Figures shown beside the count (e.g. loss=0.31)."""
        ...

    def close(self) -> None:
        """End the bar."""
        ...

    def __enter__(self) -> ProgressBar: ...

    def __exit__(self, *exc: object) -> None: ...


class ProgressReporter(Protocol):
    """Makes the progress bars of a run: `bar(total, desc, unit)`, e.g. bar(690, "predict", "win")."""

    def bar(self, total: int | None, desc: str, unit: str) -> ProgressBar:
        """A new bar counting `total` `unit`s (None: unknown), labelled `desc`; use it in a `with` block."""
        ...


class SilentBar:
    """A bar that shows nothing."""

    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def set_postfix(self, **values: object) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""

    def __enter__(self) -> SilentBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JsonBar(SilentBar):
    """Progress as JSON lines on `file` (stderr by default)."""

    def __init__(self, total: int | None, desc: str, unit: str, file: IO[str] | None = None):
        self.total, self.desc, self.unit = total, desc, unit
        self.file = file if file is not None else sys.stderr
        self.n = 0
        self.postfix: dict[str, str] = {}
        self._emitted: int | None = None  # `n` of the last line written
        self._last = 0.0
        self._emit()

    def _emit(self) -> None:
        record: dict[str, object] = {"progress": self.desc, "done": self.n, "total": self.total, "unit": self.unit}
        if self.postfix:
            record["info"] = self.postfix
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        self._emitted, self._last = self.n, time.monotonic()

    def update(self, n: int = 1) -> None:
        """Add `n` to the count; write a line if JSON_INTERVAL has passed since the last one, or on reaching total."""
        self.n += n
        if time.monotonic() - self._last >= JSON_INTERVAL or (self.total is not None and self.n >= self.total):
            self._emit()

    def set_postfix(self, **values: object) -> None:
        """Figures shown beside the count (e.g. loss=0.31), sent with the next line."""
        self.postfix = {k: str(v) for k, v in values.items()}

    def close(self) -> None:
        """Report the final count if the last line did not."""
        if self._emitted != self.n:
            self._emit()


class Silent:
    """No progress (`-q`, and the default of the library's entry points)."""

    def bar(self, total: int | None, desc: str, unit: str) -> ProgressBar:
        """A bar that shows nothing."""
        return SilentBar()


class TqdmBars:
    """tqdm bars on stderr, for people."""

    def bar(self, total: int | None, desc: str, unit: str) -> ProgressBar:
        """A tqdm bar on stderr."""
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)


class JsonLines:
    """JSON lines on stderr, for programs (the QGIS plugin)."""

    def bar(self, total: int | None, desc: str, unit: str) -> ProgressBar:
        """A bar writing JSON lines on stderr (its first line at once, with done 0)."""
        return JsonBar(total, desc, unit)


SILENT = Silent()


def reporter(format: str, quiet: bool = False) -> ProgressReporter:
    """The reporter for `--progress-format` (bar or json); `quiet` (-q) shows no progress.

    Raises:
        ValueError: an unknown format.
    """
    if format not in FORMATS:
        raise ValueError(f"progress format must be one of {', '.join(FORMATS)}, not {format!r}")
    if quiet:
        return SILENT
    return JsonLines() if format == "json" else TqdmBars()
