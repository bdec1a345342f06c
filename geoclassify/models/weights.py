"""Loading pretrained weights into a freshly built model: a local file, or ImageNet EfficientNet-Lite weights."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn

from geoclassify.errors import ModelFileError

log = logging.getLogger("geoclassify")


def load_pretrained(model: nn.Module, pretrained: str) -> None:
    """Load a local weights file (safetensors or torch state dict), skipping tensors whose shape differs
    (the classifier head, or a first conv for another number of bands).

    Args:
        model: the freshly built model; its matching tensors are overwritten in place.
        pretrained: the weights file: `.safetensors`, or a torch checkpoint holding a state dict (or a dict
            with one under "state_dict").

    Raises:
        ModelFileError: the file is missing, or a torch checkpoint that holds no state dict.
    """
    path = Path(pretrained)
    if not path.is_file():
        raise ModelFileError(f"pretrained weights file not found: {path}")
    state: dict[str, torch.Tensor]
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
        loaded = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
        if not isinstance(loaded, dict):
            raise ModelFileError(f"{path} holds a {type(loaded).__name__}, not a state dict of named tensors")
        state = loaded
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(own) - set(usable))
    model.load_state_dict(usable, strict=False)
    log.info("loaded %d tensors from %s; %d left at random init (e.g. %s)", len(usable), path, len(skipped),
             ", ".join(skipped[:3]) or "none")


RGB = ("red", "green", "blue")  # the order of ImageNet's input channels


def adapt_first_conv(weight: torch.Tensor, band_names: Sequence[str], in_channels: int) -> tuple[torch.Tensor, str]:
    """An RGB first convolution for another set of bands.

    Each band named red, green or blue keeps that channel's ImageNet filters; every other band starts from the
    mean of the three (so a near-infrared band first responds like overall brightness). Without band names, the
    first three of three or more bands are taken as red, green, blue (one or two unnamed bands: the mean).

    Args:
        weight: (out, 3, k, k) filters of the RGB model.
        band_names: the input bands' common names, one per band (or none).
        in_channels: the input bands.

    Returns:
        ((out, in_channels, k, k) filters, what was done, in words for the model card).

    Raises:
        ModelFileError: band names given, but not one per band.
    """
    if band_names and len(band_names) != in_channels:
        raise ModelFileError(f"{len(band_names)} band names ({', '.join(band_names)}) for {in_channels} bands")
    unnamed = [*RGB] + [f"band {i + 1}" for i in range(3, in_channels)] if in_channels >= 3 else [
        f"band {i + 1}" for i in range(in_channels)]
    names = [n.lower() for n in band_names] or unnamed
    mean = weight.mean(dim=1)
    channels = [weight[:, RGB.index(n)] if n in RGB else mean for n in names]
    kept = [f"{n} (band {i + 1})" for i, n in enumerate(names) if n in RGB]
    others = [n for n in names if n not in RGB]
    said = f"first convolution adapted to {in_channels} bands: ImageNet filters kept for {', '.join(kept) or 'none'}"
    if others:
        said += f"; {', '.join(others)} initialised with the mean of the RGB filters"
    return torch.stack(channels, dim=1).contiguous(), said


def load_lite_imagenet(model: nn.Module, arch: str, in_channels: int, band_names: Sequence[str] = ()) -> dict[str, str]:
    """Load an installed package's ImageNet EfficientNet-Lite weights into `model`.

    Args:
        model: a freshly built EfficientNet-Lite classifier, or a U-Net over an EfficientNet-Lite encoder.
        arch: its architecture name (`efficientnet_lite0`, `unet:efficientnet_lite1` ...).
        in_channels: its input bands (other than red, green, blue in that order: the first convolution is adapted,
            `adapt_first_conv`).
        band_names: the bands' common names.

    Returns:
        Provenance for the model card: weights, package, file, licence (and the first convolution's adaptation).

    Raises:
        ModelFileError: the package is not installed, or the weights do not cover the model's backbone.
    """
    from geoclassify.models.imagenet import lite_imagenet_state, lite_variant, stage_lengths

    variant = lite_variant(arch)
    if variant is None:
        raise ModelFileError(f"{arch} is not an EfficientNet-Lite0/1/2")
    target: nn.Module = getattr(model, "encoder", model)
    state, provenance = lite_imagenet_state(variant, stage_lengths(target))
    if in_channels != 3 or (band_names and [n.lower() for n in band_names] != list(RGB)):  # BGR, false colour...
        state["conv_stem.weight"], provenance["first_conv"] = adapt_first_conv(state["conv_stem.weight"], band_names,
                                                                                in_channels)
    own = target.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    left = sorted(k for k in own if k not in usable and not k.startswith("classifier."))
    if left:
        raise ModelFileError(f"the {variant} ImageNet weights leave {len(left)} tensors of {arch} unset "
                             f"(e.g. {', '.join(left[:3])})")
    target.load_state_dict(usable, strict=False)
    log.info("started %s from ImageNet weights (%s): %d tensors", arch, provenance["package"], len(usable))
    return provenance
