"""Building blocks shared by the architectures."""

from __future__ import annotations

import torch.nn as nn


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """A 3x3 convolution (no bias), batch norm and ReLU.

    Args:
        cin: input channels.
        cout: output channels.
        stride: the convolution's stride.

    Returns:
        The three layers as one module.
    """
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))
