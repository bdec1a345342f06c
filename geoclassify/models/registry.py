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
    hub: bool = False  # pretrained=True can download hub weights


_REGISTRY: dict[str, RegisteredModel] = {}


def register_model(name: str, task: str, description: str = "", hub: bool = False) -> Callable[[Factory], Factory]:
    """Decorator: register `factory(in_channels, num_classes, **kwargs) -> nn.Module` under `name`.

    `hub`: the factory accepts `pretrained=True` and downloads published weights.
    """

    def wrap(factory: Factory) -> Factory:
        _REGISTRY[name] = RegisteredModel(name, task, factory, description or (factory.__doc__ or "").strip(), hub)
        return factory

    return wrap


def _ensure_builtin() -> None:
    # importing these modules registers the built-in architectures
    import geoclassify.models.cnn_vit  # noqa: F401
    import geoclassify.models.compact  # noqa: F401
    import geoclassify.models.segmentation  # noqa: F401
    import geoclassify.models.timm_models  # noqa: F401


def list_models() -> list[RegisteredModel]:
    _ensure_builtin()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def create_model(name: str, in_channels: int, num_classes: int, pretrained: bool | str = False,
                 **kwargs: Any) -> nn.Module:
    """Build an architecture by registry name, any timm classifier as `timm:<name>`, or a U-Net over any
    timm encoder as `unet:<name>`.

    `pretrained`: True downloads published weights (timm models, needs internet); a path loads a
    local weights file, skipping tensors whose shapes differ (the head, a first conv for other bands).
    """
    _ensure_builtin()
    hub = pretrained is True
    if name.startswith("timm:"):
        from geoclassify.models.timm_models import create_timm

        model = create_timm(name[5:], in_channels, num_classes, pretrained=hub, **kwargs)
    elif name.startswith("unet:"):
        from geoclassify.models.segmentation import create_unet

        model = create_unet(name[5:], in_channels, num_classes, pretrained=hub, **kwargs)
    elif name in _REGISTRY:
        entry = _REGISTRY[name]
        if hub and not entry.hub:
            raise ModelFileError(f"{name} has no published weights; give a local weights file to --pretrained")
        model = entry.factory(in_channels=in_channels, num_classes=num_classes, **({"pretrained": True} if hub else {}),
                              **kwargs)
    else:
        raise ModelFileError(f"unknown architecture {name!r}; known: {', '.join(sorted(_REGISTRY))}, "
                             "timm:<name> or unet:<timm encoder>")
    if isinstance(pretrained, str) and pretrained:
        from geoclassify.models.weights import load_pretrained

        load_pretrained(model, pretrained)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
