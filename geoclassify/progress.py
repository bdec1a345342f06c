"""Progress reports: a tqdm bar for people, or JSON lines for programs (`geoclassify --progress-format json`).

In JSON mode each update is one line on stderr, e.g.
`{"progress": "predict", "done": 120, "total": 690, "unit": "win"}`, at most one every
`JSON_INTERVAL` seconds plus the first and the last; the log lines around them stay plain text.
The QGIS plugin reads these lines to drive its progress bar.
"""

from __future__ import annotations

import json
import sys
import time

from tqdm import tqdm

FORMATS = ("bar", "json")
JSON_INTERVAL = 0.2  # seconds between JSON lines

_format = "bar"


def set_format(name: str) -> None:
    if name not in FORMATS:
        raise ValueError(f"progress format must be one of {', '.join(FORMATS)}, not {name!r}")
    global _format
    _format = name


def get_format() -> str:
    return _format


class JsonProgress:
    """The part of tqdm's interface the pipelines use (update, close, context manager), as JSON lines."""

    def __init__(self, total: int | None, desc: str, unit: str, disable: bool = False, file=None):
        self.total, self.desc, self.unit, self.disable = total, desc, unit, disable
        self.file = file if file is not None else sys.stderr
        self.n = 0
        self._emitted: int | None = None  # `n` of the last line written
        self._last = 0.0
        self._emit()

    def _emit(self) -> None:
        if self.disable:
            return
        record = {"progress": self.desc, "done": self.n, "total": self.total, "unit": self.unit}
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        self._emitted, self._last = self.n, time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self._last >= JSON_INTERVAL or (self.total is not None and self.n >= self.total):
            self._emit()

    def close(self) -> None:
        """Report the final count if the last line did not."""
        if self._emitted != self.n:
            self._emit()

    def __enter__(self) -> "JsonProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_bar(total: int | None, desc: str, unit: str, disable: bool = False):
    """A progress bar on stderr in the format chosen on the command line (tqdm by default)."""
    if _format == "json":
        return JsonProgress(total, desc, unit, disable)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, disable=disable)
