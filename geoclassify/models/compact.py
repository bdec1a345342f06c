"""Compact built-in architectures: a chip classifier and a small fully convolutional segmenter."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from geoclassify.models.layers import conv_bn_relu
from geoclassify.models.registry import register_model


class CompactCNN(nn.Module):
    """A small VGG-style CNN with global average pooling: one class per chip."""

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (32, 64, 128, 192),
                 convs_per_stage: int = 2, stem_stride: int = 1, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu(in_channels, widths[0], stride=stem_stride)]
        cin = widths[0]
        for i, width in enumerate(widths):
            if i > 0:
                layers += [conv_bn_relu(cin if j == 0 else width, width) for j in range(convs_per_stage)]
            layers.append(nn.MaxPool2d(2))
            cin = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, bands, h, w) normalised images -> (n, classes) logits."""
        return self.head(self.features(x))


class TinyFCN(nn.Module):
    """A small fully convolutional segmenter with a limited receptive field (2 * depth + 1 pixels)."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for _ in range(depth):
            layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True)]
            cin = width
        layers.append(nn.Conv2d(cin, num_classes, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, bands, h, w) normalised images -> (n, classes, h, w) logits."""
        return self.body(x)


@register_model("compact_cnn", task="classification", description="small VGG-style chip classifier")
def compact_cnn(in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """A CompactCNN; `kwargs` are its arguments (widths, convs_per_stage, stem_stride, dropout)."""
    return CompactCNN(in_channels, num_classes, **kwargs)


@register_model("tiny_fcn", task="segmentation", description="small fully convolutional segmenter")
def tiny_fcn(in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """A TinyFCN; `kwargs` are its arguments (width, depth)."""
    return TinyFCN(in_channels, num_classes, **kwargs)
