"""Pure tensor helpers the network and the losses share: the grid of normalised pixel centres and the
similarity of two embeddings.

They live with the model, which needs them at inference (the centre map of `LSENet`, the fusion of
`lsevos.model.fusion`); `lsevos.losses` imports them from here.
"""

from __future__ import annotations

import torch


def pixel_coordinates(
    height: int, width: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """`[2, H, W]` normalised pixel centres: channel 0 x = (j + 0.5) / W, channel 1 y = (i + 0.5) / H."""
    ys = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y])


def similarity(a: torch.Tensor, b: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """`2 / (1 + exp(||a - b||^2))` along `dim` (broadcasting): 1 for equal embeddings, -> 0 far apart."""
    squared = ((a - b) ** 2).sum(dim=dim)
    return 2.0 * torch.sigmoid(-squared)
