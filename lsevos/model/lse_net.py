"""The location-sensitive embedding network: backbone + FP, AE, LE and LSE heads.

Heads on the backbone features (resolution `h, w` = input / output stride):
- FP: foreground logit (1 channel);
- AE: appearance embedding (`embed_dim` channels);
- LE: location embedding (2 channels: x then y offset from the pixel to its instance centre, in units of
  the input width and height);
- centre map = normalised pixel coordinates ((j + 0.5) / w, (i + 0.5) / h) + LE, the predicted instance
  centre of each pixel -> 1x1 convolution (`embed_dim` channels) -> concatenated with AE -> ASPP -> LSE
  (`embed_dim` channels), the location-sensitive embedding.
All outputs are upsampled bilinearly to the input resolution.

`forward(image, heads=...)` computes only what the named outputs need ("fp", "ae", "le", "lse"; default
all four): "lse" runs the AE and LE heads too (its input), but only the requested outputs are upsampled
and returned; the other fields of the `LSEOutput` are None. A requested output is bitwise the same as in
the full forward (the same operations in the same order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lsevos.errors import ConfigError
from lsevos.model.aspp import ASPP
from lsevos.model.backbones import build_backbone
from lsevos.model.geometry import pixel_coordinates

OUTPUTS = ("fp", "ae", "le", "lse")


@dataclass
class LSEOutput:
    """Outputs at input resolution: `fg_logit [B,1,H,W]`, `ae [B,E,H,W]`, `le [B,2,H,W]`, `lse [B,E,H,W]`;
    None for an output that was not requested."""

    fg_logit: torch.Tensor | None = None
    ae: torch.Tensor | None = None
    le: torch.Tensor | None = None
    lse: torch.Tensor | None = None


class LSENet(nn.Module):
    """`LSENet(backbone, embed_dim, pretrained)`; `forward(image float [B,3,H,W] in [0,1], heads=OUTPUTS)
    -> LSEOutput`.

    `model_config` holds the constructor arguments so that a checkpoint can rebuild the network.
    """

    def __init__(self, backbone: str = "tiny", embed_dim: int = 64, pretrained: bool = False):
        super().__init__()
        self.model_config = {"backbone": backbone, "embed_dim": embed_dim, "pretrained": pretrained}
        self.backbone = build_backbone(backbone, pretrained)
        channels, rates = self.backbone.out_channels, self.backbone.aspp_rates
        width = self.backbone.head_width
        self.fp_head = ASPP(channels, 1, rates, width)
        self.ae_head = ASPP(channels, embed_dim, rates, width)
        self.le_head = ASPP(channels, 2, rates, width)
        self.centre_conv = nn.Conv2d(2, embed_dim, 1)
        self.lse_head = ASPP(2 * embed_dim, embed_dim, rates, width)

    def forward(self, image: torch.Tensor, heads: Sequence[str] = OUTPUTS) -> LSEOutput:
        unknown = [name for name in heads if name not in OUTPUTS]
        if unknown or not heads:
            raise ConfigError(f"LSENet heads {list(heads)}: choose one or more of {', '.join(OUTPUTS)}")
        height, width = image.shape[-2:]
        features = self.backbone(image)
        fg_logit = ae = le = lse = None
        if "fp" in heads:
            fg_logit = self.fp_head(features)
        if "ae" in heads or "lse" in heads:
            ae = self.ae_head(features)
        if "le" in heads or "lse" in heads:
            le = self.le_head(features)
        if "lse" in heads:
            rows, columns = features.shape[-2:]
            centre_map = pixel_coordinates(rows, columns, features.device, features.dtype).unsqueeze(0) + le
            lse = self.lse_head(torch.cat([ae, self.centre_conv(centre_map)], dim=1))

        def upsample(name: str, x: torch.Tensor | None) -> torch.Tensor | None:
            if name not in heads:
                return None
            return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)

        return LSEOutput(
            fg_logit=upsample("fp", fg_logit),
            ae=upsample("ae", ae),
            le=upsample("le", le),
            lse=upsample("lse", lse),
        )
