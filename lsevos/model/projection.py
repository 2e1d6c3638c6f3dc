"""Embeddings as pictures (Fig. 4 of the paper): the three principal components of an embedding map as RGB."""

from __future__ import annotations

import numpy as np


def embedding_to_rgb(embedding: np.ndarray) -> np.ndarray:
    """`embedding float [E,H,W]` -> `uint8 [H,W,3]`: pixels projected on the first three principal axes,
    each axis stretched to 0..255 (a constant axis, or fewer than three dimensions, gives grey 128)."""
    dims, height, width = embedding.shape
    points = embedding.reshape(dims, -1).T.astype(np.float64)
    centred = points - points.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ axes[:3].T
    rgb = np.full((points.shape[0], 3), 128.0)
    for channel in range(projected.shape[1]):
        values = projected[:, channel]
        spread = values.max() - values.min()
        if spread > 1e-9 * max(1.0, np.abs(values).max()):
            rgb[:, channel] = 255.0 * (values - values.min()) / spread
    return np.round(rgb).astype(np.uint8).reshape(height, width, 3)
