"""A registry of architectures: `register_model`, `create_model`, `list_models`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch.nn as nn

from geoclassify.errors import ModelFileError

Factory = Callable[..., nn.Module]


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    task: str
    factory: Factory
    description: str


_REGISTRY: dict[str, RegisteredModel] = {}


def register_model(name: str, task: str, description: str = "") -> Callable[[Factory], Factory]:
    """Decorator: register `factory(in_channels, num_classes, **kwargs) -> nn.Module` under `name`."""

    def wrap(factory: Factory) -> Factory:
        _REGISTRY[name] = RegisteredModel(name, task, factory, description or (factory.__doc__ or "").strip())
        return factory

    return wrap


def _ensure_builtin() -> None:
    import geoclassify.models.compact  # noqa: F401  (registers the built-in architectures)


def list_models() -> list[RegisteredModel]:
    _ensure_builtin()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def create_model(name: str, in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build an architecture by registry name."""
    _ensure_builtin()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ModelFileError(f"unknown architecture {name!r}; known: {known}")
    return _REGISTRY[name].factory(in_channels=in_channels, num_classes=num_classes, **kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
