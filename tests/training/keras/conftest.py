"""The Keras trainer runs in subprocesses (TensorFlow never in the pytest process, which imports torch).

One real training run (ResNet-50, 2 epochs of 64 real 7-band Ag-Net chips, on-disk cache) is shared by the tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from geoclassify.training.keras import keras_available
from tests.training.conftest import chip_config

BIN = Path(sys.executable).parent / "geoclassify"
needs_keras = pytest.mark.skipif(not keras_available(), reason="TensorFlow/Keras not installed (the keras extra)")


def geoclassify(*args: str, timeout: int = 900, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs)


def keras_config(chips: Path, **optim) -> dict:
    values = chip_config(chips, **{"epochs": 2, "cutmix": 0.5, **optim})
    values["model"] = {"framework": "keras", "arch": "resnet50"}
    return values


def write_config(path: Path, values: dict) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.fixture(scope="session")
def keras_run(tmp_path_factory, agnet_chips):
    """(run directory, config file, cache directory, chip folder) of one Keras training run."""
    root = tmp_path_factory.mktemp("keras")
    chips = shutil.copytree(agnet_chips, root / "chips")
    config = write_config(root / "run.yaml", keras_config(chips))
    cache, run = root / "cache", root / "run"
    proc = geoclassify("train", "--framework", "keras", "--arch", "resnet50", "--config", config, "--out", run,
                       "--cache-dir", cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run, config, cache, chips
