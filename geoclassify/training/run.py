"""Run directories: resolved config, provenance, per-epoch metrics, checkpoints and model files."""

from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from geoclassify.errors import OutputError
from geoclassify.io.atomic import write_atomic
from geoclassify.training.config import TrainConfig, config_from_dict
from geoclassify.version import __version__

CONFIG, CHECKPOINT, METRICS_CSV, METRICS_JSON = "config.yaml", "checkpoint.pt", "metrics.csv", "metrics.json"


def git_commit() -> str | None:
    """The commit of the geoclassify checkout this module runs from; None outside a git checkout or without git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(**frameworks: Any) -> dict[str, Any]:
    """Python, platform, geoclassify and the command line, plus the framework's versions (default: torch, timm)."""
    if not frameworks:
        import timm
        import torch

        frameworks = {"torch": torch.__version__, "timm": timm.__version__, "cuda": torch.cuda.is_available()}
    return {"python": platform.python_version(), "platform": platform.platform(), **frameworks,
            "geoclassify": __version__, "argv": sys.argv}


class RunDir:
    """One training run's folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def create(self, config: TrainConfig, env: dict[str, Any] | None = None) -> None:
        """Make the folder and write the resolved config and provenance (`env`: see `environment`)."""
        if self.path.exists() and any(self.path.iterdir()):
            raise OutputError(f"run directory {self.path} exists and is not empty; use --resume {self.path} "
                              "to continue it, or another --out")
        if not self.path.parent.is_dir():
            raise OutputError(f"directory {self.path.parent} for the run does not exist; create it first")
        self.path.mkdir(exist_ok=True)
        write_atomic(self.path / CONFIG, config.to_yaml().encode())
        info = {"git_commit": git_commit(), "environment": env or environment()}
        write_atomic(self.path / "run.json", json.dumps(info, indent=2).encode())

    def load_config(self) -> TrainConfig:
        """The run's resolved config (config.yaml), to resume it.

        Raises:
            OutputError: the folder has no config.yaml (not a run directory).
            ConfigError: the config holds an unknown key.
        """
        import yaml

        file = self.path / CONFIG
        if not file.is_file():
            raise OutputError(f"{self.path} is not a geoclassify run directory (no {CONFIG})")
        return config_from_dict(yaml.safe_load(file.read_text()))

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Write the per-epoch metrics so far as metrics.json and metrics.csv (columns: every key seen, in order)."""
        write_atomic(self.path / METRICS_JSON, json.dumps(history, indent=2).encode())
        buf = io.StringIO()
        keys = list(dict.fromkeys(k for row in history for k in row))
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
        write_atomic(self.path / METRICS_CSV, buf.getvalue().encode())

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Save the training state (torch.save) as checkpoint.pt, replacing the previous one atomically."""
        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        write_atomic(self.path / CHECKPOINT, buf.getvalue())

    def load_checkpoint(self) -> dict[str, Any]:
        """The training state of checkpoint.pt, on the CPU (weights_only: tensors and plain containers).

        Raises:
            OutputError: the run has no checkpoint.pt.
        """
        import torch

        file = self.path / CHECKPOINT
        if not file.is_file():
            raise OutputError(f"{self.path} has no {CHECKPOINT} to resume from")
        return torch.load(file, map_location="cpu", weights_only=True)
