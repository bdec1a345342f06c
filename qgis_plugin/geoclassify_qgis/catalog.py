"""The bundled models a geoclassify CLI offers, as `geoclassify models --json` lists them, and their default stride.

Plain Python (no QGIS imports). The list is asked once per CLI (its path and modification time: a reinstall asks
again) with a timeout, and cached for the QGIS session; a missing or failing CLI gives the default model alone
(FALLBACK) with the reason, so that the algorithms still load.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field

from . import runner

QUERY_TIMEOUT = 15.0  # seconds; the call takes about 0.3-4 s (a cold start of the CLI's Python on a slow disk)
DEFAULT_NAME = "agri-s2-rgb"


@dataclass(frozen=True)
class BundledModel:
    """One entry of `geoclassify models --json` (the keys the plugin uses)."""

    name: str
    default: bool = False
    task: str = "classification"
    architecture: str = ""
    classes: tuple[str, ...] = ()
    colors: tuple[tuple[int, int, int], ...] = ()
    band_names: tuple[str, ...] = ()
    gsd: float | None = None
    tile_size: int = 0
    stride: int | None = None  # the CLI's suggestion for a fine map (chip classifiers); None for segmentation
    data: str = ""

    @classmethod
    def from_json(cls, entry: dict) -> "BundledModel":
        """An entry of the JSON list; ValueError when it lacks a name or has values of the wrong kind."""
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ValueError(f"not a model entry: {entry!r:.80}")
        try:
            stride = entry.get("stride")
            return cls(name=entry["name"], default=bool(entry.get("default")), task=str(entry.get("task") or ""),
                       architecture=str(entry.get("architecture") or ""),
                       classes=tuple(str(c) for c in entry.get("classes") or ()),
                       colors=tuple((int(r), int(g), int(b)) for r, g, b in entry.get("colors") or ()),
                       band_names=tuple(str(b) for b in entry.get("band_names") or ()),
                       gsd=None if entry.get("gsd") is None else float(entry["gsd"]),
                       tile_size=int(entry.get("tile_size") or 0), stride=None if stride is None else int(stride),
                       data=str(entry.get("data") or ""))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"model {entry['name']}: {exc}") from None

    def summary(self) -> str:
        """One line for the algorithm's help: task, classes, bands, pixel size."""
        classes = ", ".join(self.classes[:8]) + (f", \u2026 ({len(self.classes)} classes)" if len(self.classes) > 8
                                                 else "")
        gsd = f"{self.gsd:g} m pixels" if self.gsd else "the scene's own pixel size"
        kind = "one class per chip" if self.task == "classification" else "one class per pixel"
        bands = ", ".join(self.band_names) or "?"
        return f"{self.name}{' (default)' if self.default else ''}: {kind}; {classes}; bands {bands}; {gsd}"


FALLBACK = BundledModel(name=DEFAULT_NAME, default=True, task="classification", architecture="compact_cnn",
                        classes=("non_agricultural", "agricultural"), band_names=("red", "green", "blue"), gsd=10.0,
                        tile_size=64, stride=16)


@dataclass
class Catalog:
    """The models to offer, the default first; `problem` says why it is FALLBACK alone (no CLI, or it failed)."""

    models: list[BundledModel] = field(default_factory=lambda: [FALLBACK])
    problem: str | None = None

    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def get(self, name: str) -> BundledModel | None:
        return next((m for m in self.models if m.name == name), None)


def parse_models(text: str) -> list[BundledModel]:
    """`geoclassify models --json` output as models, the default first; ValueError if it is not such a list."""
    data = json.loads(text)
    if not isinstance(data, list) or not data:
        raise ValueError("not a non-empty JSON list")
    models = [BundledModel.from_json(entry) for entry in data]
    return sorted(models, key=lambda m: not m.default)  # stable: the CLI's order otherwise


def _cache_key(command: list[str]) -> tuple:
    try:
        mtime = os.stat(command[0]).st_mtime_ns
    except OSError:
        mtime = None
    return (*command, mtime)


_CACHE: dict[tuple, Catalog] = {}


def _cli_json(command: list[str], args: list[str], timeout: float) -> str:
    """stdout of `command ARGS` (quick queries); RuntimeError with the CLI's reason when it fails."""
    try:
        proc = subprocess.run([*command, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              env=runner.cli_environment(), encoding="utf-8", errors="replace",
                              **runner.popen_options())
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`geoclassify {' '.join(args)}` did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise RuntimeError(f"cannot start {command[0]}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise RuntimeError(runner.error_message(proc.stderr.splitlines() + proc.stdout.splitlines(),
                                                proc.returncode))
    return proc.stdout


def load_catalog(setting: str | None, timeout: float = QUERY_TIMEOUT) -> Catalog:
    """The bundled models of the CLI that `setting` names (runner.locate_cli), asked once per CLI and cached."""
    try:
        command = runner.locate_cli(setting)
    except runner.CliNotFound as exc:
        return Catalog(problem=str(exc))  # not cached: finding the CLI costs nothing
    key = _cache_key(command)
    if key not in _CACHE:
        try:
            _CACHE[key] = Catalog(parse_models(_cli_json(command, ["models", "--json"], timeout)))
        except (RuntimeError, ValueError) as exc:
            _CACHE[key] = Catalog(problem=f"could not list the bundled models ({exc}); offering the default model")
    return _CACHE[key]


def clear_cache() -> None:
    """Forget the models listed so far (after a set-up installed another geoclassify)."""
    _CACHE.clear()


def fine_stride(task: str, tile_size: int) -> int | None:
    """The stride of a fine map from a chip classifier, as the CLI suggests it: a quarter of the chip."""
    return max(1, tile_size // 4) if task == "classification" and tile_size > 0 else None


def model_file_stride(command: list[str], model_file: str, timeout: float = QUERY_TIMEOUT) -> int | None:
    """fine_stride for a model file, from its card (`geoclassify info --json FILE`); None if it cannot be read."""
    try:
        card = json.loads(_cli_json(command, ["info", "--json", model_file], timeout))
        return fine_stride(str(card.get("task")), int(card.get("tile_size") or 0))
    except (RuntimeError, ValueError, TypeError, AttributeError):
        return None
