"""Model architectures, the model card and the model files.

- `registry`: `register_model`, `list_models`, the lookup by name; it imports no architecture.
- `factory`: `create_model` and `list_models` with the built-in architectures (`compact`, `cnn_vit`,
  `segmentation`, `timm_models`) loaded.
- `files`: the one reader of model files (`model_format`, `read_model_card`, `load_model`, `save_model`), with
  `onnx_file` and `keras_file` for the ONNX and Keras formats.

Only the card is imported eagerly; the factory (and torch) load on first use.
"""

from __future__ import annotations

from typing import Any

from geoclassify.models.card import ModelCard

__all__ = ["ModelCard", "create_model", "list_models", "register_model"]


def __getattr__(name: str) -> Any:
    if name in ("create_model", "list_models"):
        from geoclassify.models import factory

        return getattr(factory, name)
    if name == "register_model":
        from geoclassify.models import registry

        return registry.register_model
    raise AttributeError(name)
