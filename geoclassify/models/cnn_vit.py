"""CNN-ViT hybrid: a CNN extracts local features, a transformer encoder over the feature tokens adds
global context, and the class token feeds the head. Position embeddings adapt to any input size."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from geoclassify.models.layers import conv_bn_relu
from geoclassify.models.registry import register_model


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with a skip connection (a 1x1 projection when stride or width changes), then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(cin, cout, stride),
                                  nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout
                     else nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, cin, h, w) features -> (n, cout, h / stride, w / stride)."""
        return F.relu(self.body(x) + self.skip(x))


class CNNViT(nn.Module):
    """CNN stages down to 1/8 resolution, then `depth` transformer layers over the feature tokens."""

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, ...] = (64, 128, 256),
                 dim: int = 384, depth: int = 6, heads: int = 6, mlp_ratio: float = 4.0, dropout: float = 0.1,
                 base_grid: int = 8) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu(in_channels, widths[0])]
        cin = widths[0]
        for width in widths:
            layers += [ResidualBlock(cin, width, 2), ResidualBlock(width, width, 1)]
            cin = width
        self.cnn = nn.Sequential(*layers)
        self.proj = nn.Conv2d(cin, dim, 1)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, dim, base_grid, base_grid))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(n, bands, h, w) normalised images -> (n, 1 + (h / 8) * (w / 8), dim) tokens, the class token first.

        The position embeddings are resized (bicubic) when the feature grid is not `base_grid` square.
        """
        feats = self.proj(self.cnn(x))
        pos: torch.Tensor = self.pos_embed
        if pos.shape[-2:] != feats.shape[-2:]:
            pos = F.interpolate(pos, size=feats.shape[-2:], mode="bicubic", align_corners=False)
        feats = (feats + pos).flatten(2).transpose(1, 2)
        return torch.cat([self.cls_token.expand(len(x), -1, -1), feats], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, bands, h, w) normalised images -> (n, classes) logits."""
        out = self.encoder(self.tokens(x))
        return self.head(self.norm(out[:, 0]))


@register_model("cnn_vit", task="classification", description="CNN-ViT hybrid (CNN local features, ViT global context)")
def cnn_vit(in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """A CNNViT; `kwargs` are its arguments (widths, dim, depth, heads, mlp_ratio, dropout, base_grid)."""
    return CNNViT(in_channels, num_classes, **kwargs)
