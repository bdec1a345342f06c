"""The fully convolutional form of a chip classifier: class logits for every cell of a feature map.

A classifier whose head is global average pooling and then one linear layer gives a chip the logits
`W @ mean(features) + b = mean(W @ features + b)`: the mean over the chip's feature cells of per-cell logits. Run
over a large tile, the per-cell logits (`CellLogits`) give every chip of the tile whose cells line up with the
feature grid, by averaging the chip's cells: the features of overlapping chips are computed once, as OverFeat's
fully convolutional sliding windows did (Sermanet et al. 2014, arXiv:1312.6229). The result differs from running
each chip alone only where the network looks past the chip's edge: there a lone chip sees zero padding and a tile
sees the neighbouring pixels (measured in benchmarks/RESULTS.md, "Fine chip maps").

Recognised heads: geoclassify's compact_cnn (`features`, then `head` = average pool, flatten, dropout, linear) and
timm classifiers whose `global_pool` averages and whose classifier is one linear layer (without an input resize).
"""

from __future__ import annotations

import torch
import torch.nn as nn


class CellLogits(nn.Module):
    """(n, bands, h, w) normalised images -> (n, classes, h / cell, w / cell) logits of each feature cell."""

    def __init__(self, features: nn.Module, linear: nn.Linear):
        super().__init__()
        self.features = features
        self.classify = nn.Conv2d(linear.in_features, linear.out_features, 1, device=linear.weight.device,
                                  dtype=linear.weight.dtype)
        with torch.no_grad():
            self.classify.weight.copy_(linear.weight.reshape(*linear.weight.shape, 1, 1))
            if linear.bias is not None and self.classify.bias is not None:
                self.classify.bias.copy_(linear.bias)
            elif self.classify.bias is not None:
                self.classify.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-cell logits of a batch of tiles."""
        return self.classify(self.features(x))


Parts = tuple[nn.Module, nn.Module, nn.Linear]  # features, the head on them (pool and linear), its linear layer


def _compact_parts(model: nn.Module) -> Parts | None:
    head, features = getattr(model, "head", None), getattr(model, "features", None)
    if not (isinstance(features, nn.Module) and isinstance(head, nn.Sequential) and len(head) >= 2):
        return None
    *pool, linear = list(head)
    averages = isinstance(pool[0], nn.AdaptiveAvgPool2d) and pool[0].output_size in (1, (1, 1))
    rest_is_identity = all(isinstance(m, (nn.Flatten, nn.Dropout, nn.Identity)) for m in pool[1:])
    if averages and rest_is_identity and isinstance(linear, nn.Linear):
        return features, head, linear
    return None


class _TimmPart(nn.Module):
    """One of a timm model's methods as a module: `forward_features` or `forward_head`."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.method)(x)


def _timm_parts(model: nn.Module) -> Parts | None:
    pool = getattr(model, "global_pool", None)
    if pool is None or not hasattr(model, "forward_features") or model._forward_pre_hooks:
        return None  # not timm's, or a chip resized inside the model (its cells do not line up with the scene)
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None  # type: ignore[operator]
    if getattr(pool, "pool_type", None) == "avg" and isinstance(classifier, nn.Linear):
        return _TimmPart(model, "forward_features"), _TimmPart(model, "forward_head"), classifier
    return None


def _checked_parts(model: nn.Module, in_channels: int, chip: int) -> Parts | None:
    """The parts of a recognised head, where the model's logits on a chip of noise are the mean of its cells'
    logits (a head that does more between the pooling and the linear layer, as MobileNetV3's, is not one)."""
    parts = _compact_parts(model) or _timm_parts(model)
    if parts is None:
        return None
    weight = parts[2].weight
    x = torch.randn(2, in_channels, chip, chip, generator=torch.Generator().manual_seed(0)).to(weight)
    try:
        with torch.inference_mode():
            expected, cells = model(x), CellLogits(parts[0], parts[2])(x)
    except RuntimeError:
        return None
    same = cells.ndim == 4 and torch.allclose(cells.mean(dim=(2, 3)), expected, rtol=1e-3, atol=1e-3)
    return parts if same else None


def cell_logits(model: nn.Module, in_channels: int, chip: int) -> CellLogits | None:
    """The fully convolutional form of a chip classifier, or None where its head is not recognised.

    Args:
        model: a chip classifier in eval mode (dropout is then the identity).
        in_channels: its input bands.
        chip: its chip side in pixels (the form is checked on a chip of noise against the model's logits).

    Returns:
        A module sharing the model's weights: (n, bands, h, w) -> (n, classes, h / cell, w / cell).
    """
    parts = _checked_parts(model, in_channels, chip)
    return CellLogits(parts[0], parts[2]).eval() if parts is not None else None


class ChipAndCellLogits(nn.Module):
    """(n, bands, h, w) normalised images -> ((n, classes) chip logits, (n, classes, h / cell, w / cell) cell
    logits), the features computed once: what `geoclassify export` writes for a chip classifier with a fully
    convolutional form (ONNX outputs `logits` and `cell_logits`)."""

    def __init__(self, features: nn.Module, head: nn.Module, linear: nn.Linear):
        super().__init__()
        self.head = head
        self.cells = CellLogits(features, linear)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Chip and cell logits of a batch."""
        features = self.cells.features(x)
        return self.head(features), self.cells.classify(features)


def chip_and_cell_logits(model: nn.Module, in_channels: int, chip: int) -> ChipAndCellLogits | None:
    """The model with its per-cell logits as a second output, or None where its head is not recognised (see
    `cell_logits`)."""
    parts = _checked_parts(model, in_channels, chip)
    return ChipAndCellLogits(*parts).eval() if parts is not None else None
