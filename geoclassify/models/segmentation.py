"""Segmentation: a U-Net decoder over any timm encoder (CNNs and Swin Transformers alike)."""

from __future__ import annotations

from typing import Any

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from geoclassify.errors import ModelFileError
from geoclassify.models.layers import conv_bn_relu
from geoclassify.models.registry import register_model


class UNet(nn.Module):
    """timm encoder (`features_only`) + U-Net decoder: upsample, concatenate the skip, two convs."""

    def __init__(self, encoder: str, in_channels: int, num_classes: int, decoder_width: int = 64,
                 pretrained: bool = False, **encoder_kwargs: Any) -> None:
        super().__init__()
        try:
            self.encoder = timm.create_model(encoder, features_only=True, pretrained=pretrained,
                                             in_chans=in_channels, **encoder_kwargs)
        except RuntimeError as exc:
            raise ModelFileError(f"timm cannot build encoder {encoder!r}: {exc}") from None
        feature_info: Any = self.encoder.feature_info  # timm's FeatureInfo (typed as a submodule by nn.Module)
        self.channels: list[int] = feature_info.channels()
        blocks, deeper = [], self.channels[-1]
        for skip in reversed(self.channels[:-1]):
            blocks.append(nn.Sequential(conv_bn_relu(deeper + skip, decoder_width),
                                        conv_bn_relu(decoder_width, decoder_width)))
            deeper = decoder_width
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(deeper, num_classes, 1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features as NCHW (Swin encoders return NHWC)."""
        out = []
        for f, c in zip(self.encoder(x), self.channels):
            out.append(f.permute(0, 3, 1, 2) if f.shape[1] != c and f.shape[-1] == c else f)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, bands, h, w) normalised images -> (n, classes, h, w) logits (upsampled to the input size)."""
        feats = self.features(x)
        y = feats[-1]
        for block, skip in zip(self.blocks, reversed(feats[:-1])):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)


def create_unet(encoder: str, in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """A U-Net over the timm encoder `encoder` (`unet:NAME` in the factory).

    Args:
        encoder: a timm model name that supports `features_only`.
        in_channels: the bands of the input.
        num_classes: the classes of the output.
        **kwargs: UNet's arguments (decoder_width, pretrained) and the encoder's own.

    Returns:
        The model.

    Raises:
        ModelFileError: timm cannot build the encoder.
    """
    return UNet(encoder, in_channels, num_classes, **kwargs)


@register_model("unet_resnet34", task="segmentation", description="U-Net over a ResNet-34 encoder", hub=True)
def unet_resnet34(in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """A U-Net over a ResNet-34 encoder; `kwargs` as for UNet.

    Raises:
        ModelFileError: timm cannot build the encoder.
    """
    return UNet("resnet34", in_channels, num_classes, **kwargs)


@register_model("unet_swin_t", task="segmentation",
                description="U-Net over a Swin-T encoder (tile size fixed: img_size)", hub=True)
def unet_swin_t(in_channels: int, num_classes: int, img_size: int = 256, window_size: int = 8,
                **kwargs: Any) -> nn.Module:
    """Swin-T; `img_size / 32` must be a multiple of `window_size` (256 and 8 by default)."""
    return UNet("swin_tiny_patch4_window7_224", in_channels, num_classes, img_size=img_size, window_size=window_size,
                **kwargs)
