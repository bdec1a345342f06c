"""Fixtures for evaluation, export and quantization tests (registered in tests/conftest.py).

A compact CNN trained for a few epochs on the shipped Ag-Net chips (real Landsat 8 pixels, real CDL
labels), its run directory, its ONNX export and its INT8 quantization, shared by the whole session.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.training.conftest import AGNET, agnet_chips, agnet_scene, chip_config  # noqa: F401 - fixtures

WIDTHS = [16, 32]


@pytest.fixture(scope="session")
def agnet_config(agnet_chips, tmp_path_factory) -> Path:  # noqa: F811
    """A training config (YAML) over the Ag-Net chips, split by tile."""
    values = chip_config(agnet_chips, epochs=4, lr=0.003, label_smoothing=0.0)
    values["model"] = {"arch": "compact_cnn", "kwargs": {"widths": WIDTHS}}
    path = tmp_path_factory.mktemp("config") / "agnet.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.fixture(scope="session")
def agnet_run(agnet_config, tmp_path_factory) -> Path:
    """A run directory: metrics.csv per epoch and best.safetensors."""
    from geoclassify.training.config import load_config
    from geoclassify.training.trainer import train

    run = tmp_path_factory.mktemp("runs") / "agnet_compact"
    train(load_config(agnet_config), str(run))
    return run


@pytest.fixture(scope="session")
def agnet_model(agnet_run) -> Path:
    return agnet_run / "best.safetensors"


@pytest.fixture(scope="session")
def agnet_onnx(agnet_model, tmp_path_factory) -> Path:
    from geoclassify.export.onnx_export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "agnet.onnx"
    export_onnx(str(agnet_model), str(path))
    return path


@pytest.fixture(scope="session")
def agnet_int8(agnet_onnx, agnet_chips, tmp_path_factory) -> Path:  # noqa: F811
    from geoclassify.export.quantize import quantize_onnx

    path = tmp_path_factory.mktemp("onnx") / "agnet.int8.onnx"
    quantize_onnx(str(agnet_onnx), str(agnet_chips), str(path), chips=64)
    return path


@pytest.fixture(scope="session")
def agnet_labels() -> Path:
    """The CDL label raster of the scene tile `agnet_scene` (same 128 x 128 grid, no georeferencing)."""
    return AGNET / "target" / "cdl_2015245_10_12.tif"


@pytest.fixture(scope="session")
def foreign_onnx(agnet_onnx, tmp_path_factory) -> tuple[Path, Path]:
    """The export with its metadata removed (like an ONNX file from elsewhere), and its card as JSON."""
    import onnx

    from geoclassify.models.onnx_file import read_onnx_card

    folder = tmp_path_factory.mktemp("foreign")
    proto = onnx.load(str(agnet_onnx))
    del proto.metadata_props[:]
    onnx.save(proto, str(folder / "foreign.onnx"))
    card = folder / "card.json"
    card.write_text(json.dumps(json.loads(read_onnx_card(agnet_onnx).to_json())))
    return folder / "foreign.onnx", card
