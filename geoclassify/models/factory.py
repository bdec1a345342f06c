"""Building architectures: `create_model` and `list_models`, with the built-in architectures loaded.

The registry (`geoclassify.models.registry`) imports no architecture; this module imports the built-in ones
(on first use, so that importing it stays cheap), which registers them, and then builds from the registry.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch.nn as nn

from geoclassify.errors import ModelFileError
from geoclassify.models import registry
from geoclassify.models.registry import RegisteredModel

BUILTIN_MODULES = ("geoclassify.models.cnn_vit", "geoclassify.models.compact", "geoclassify.models.segmentation",
                   "geoclassify.models.timm_models")  # importing one registers its architectures


def load_builtin() -> None:
    """Import the built-in architecture modules, which registers their architectures."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def list_models() -> list[RegisteredModel]:
    """The built-in architectures and any other registered ones.

    Returns:
        The registered architectures, sorted by name.
    """
    load_builtin()
    return registry.list_models()


def create_model(name: str, in_channels: int, num_classes: int, pretrained: bool | str = False,
                 **kwargs: Any) -> nn.Module:
    """Build an architecture by registry name, any timm classifier as `timm:<name>`, or a U-Net over any
    timm encoder as `unet:<name>`.

    Args:
        name: a registered architecture, `timm:<timm model>` or `unet:<timm encoder>`.
        in_channels: input bands.
        num_classes: output classes.
        pretrained: True downloads published weights (timm models, needs internet); a path loads a
            local weights file, skipping tensors whose shapes differ (the head, a first conv for other bands).
        **kwargs: passed to the architecture's factory.

    Returns:
        The model, in training mode.

    Raises:
        ModelFileError: the architecture is unknown, timm cannot build it, it has no published weights
            (`pretrained=True`), or the local weights file is missing or holds no state dict.
    """
    load_builtin()
    hub = pretrained is True
    if name.startswith("timm:"):
        from geoclassify.models.timm_models import create_timm

        model = create_timm(name[5:], in_channels, num_classes, pretrained=hub, **kwargs)
    elif name.startswith("unet:"):
        from geoclassify.models.segmentation import create_unet

        model = create_unet(name[5:], in_channels, num_classes, pretrained=hub, **kwargs)
    else:
        entry = registry.lookup(name)
        if hub and not entry.hub:
            raise ModelFileError(f"{name} has no published weights; give a local weights file to --pretrained")
        model = entry.factory(in_channels=in_channels, num_classes=num_classes, **({"pretrained": True} if hub else {}),
                              **kwargs)
    if isinstance(pretrained, str) and pretrained:
        from geoclassify.models.weights import load_pretrained

        load_pretrained(model, pretrained)
    return model


def count_parameters(model: nn.Module) -> int:
    """The number of parameters of `model`.

    Args:
        model: any torch module.

    Returns:
        The total number of elements of its parameters.
    """
    return sum(p.numel() for p in model.parameters())
