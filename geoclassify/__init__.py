"""geoclassify: classify land in satellite and aerial scenes of any size.

The public API. The entry points load on first use (PEP 562), so ``import geoclassify`` (and the CLI's start-up)
does not import torch, rasterio's writers or Dask:

- ``predict_scene(scene, SceneOutputs(classes, probabilities, vector), LocalRunner(load_predictor(model)),
  PredictConfig(...))``: classify a scene into georeferenced rasters (and polygons).
- ``PredictConfig``: the options of a prediction; ``SceneOutputs``: the files of one scene;
  ``load_predictor(path)``: a model file, ready to run; ``LocalRunner``: runs it in this process.
- ``polygonize_raster(raster, output, PolygonizeOptions(...))``: polygons of a classification raster.
- ``create_model(architecture, ...)``: a torch model of a registered architecture.
- ``ModelCard``, ``Grid``, ``GeoclassifyError``: the card inside every model file, a raster's grid, the root
  of every error geoclassify raises.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from geoclassify.errors import GeoclassifyError
from geoclassify.geo.grid import Grid
from geoclassify.version import __version__

_LAZY = {
    "predict_scene": "geoclassify.inference.pipeline",
    "PredictConfig": "geoclassify.inference.config",
    "SceneOutputs": "geoclassify.inference.config",
    "LocalRunner": "geoclassify.inference.runners",
    "load_predictor": "geoclassify.inference.predictor",
    "polygonize_raster": "geoclassify.vector.polygonize",
    "PolygonizeOptions": "geoclassify.vector.polygonize",
    "create_model": "geoclassify.models.factory",
    "ModelCard": "geoclassify.models.card",
}

__all__ = ["predict_scene", "PredictConfig", "SceneOutputs", "LocalRunner", "load_predictor", "polygonize_raster",
           "PolygonizeOptions", "create_model", "ModelCard", "Grid", "GeoclassifyError", "__version__"]

if TYPE_CHECKING:
    from geoclassify.inference.config import PredictConfig, SceneOutputs
    from geoclassify.inference.pipeline import predict_scene
    from geoclassify.inference.predictor import load_predictor
    from geoclassify.inference.runners import LocalRunner
    from geoclassify.models.card import ModelCard
    from geoclassify.models.factory import create_model
    from geoclassify.vector.polygonize import PolygonizeOptions, polygonize_raster


def __getattr__(name: str) -> Any:
    """Import a public entry point on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'geoclassify' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
