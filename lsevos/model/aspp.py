"""Atrous spatial pyramid pooling head (DeepLab-v2 style): parallel dilated 3x3 convolutions, summed."""

from __future__ import annotations

import torch
from torch import nn


class ASPP(nn.Module):
    """`[B, in_channels, h, w] -> [B, out_channels, h, w]`: sum of one 3x3 convolution per dilation rate.

    Each branch is conv3x3(dilation r) -> ReLU -> conv1x1, so every head is a small non-linear
    predictor on the shared features; `hidden` is the width of that middle layer.
    """

    def __init__(self, in_channels: int, out_channels: int, rates: tuple[int, ...], hidden: int):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, hidden, 3, padding=rate, dilation=rate),
                nn.ReLU(inplace=True),
                nn.Conv2d(hidden, out_channels, 1),
            )
            for rate in rates
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out
