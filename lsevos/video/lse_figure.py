"""The LSE of one frame as a picture (Fig. 4 style): the zoomed-in crop, FP and the LSE in RGB."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from lsevos.data.io import atomic_output, read_frame
from lsevos.model.projection import embedding_to_rgb
from lsevos.video.boxes import Box, crop_and_resize, enlarge_box


def lse_panels(
    checkpoint: str | os.PathLike, frame: np.ndarray, box: Box, crop_size: int, enlarge: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The crop `uint8 [s,s,3]` of the enlarged box, its FP probability `[s,s]` and LSE as RGB `[s,s,3]`."""
    from lsevos.train.checkpoint import load_model

    model = load_model(checkpoint).eval()
    crop = crop_and_resize(frame, enlarge_box(box, enlarge, frame.shape[:2]), crop_size)
    with torch.no_grad():
        output = model(torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255)
    probability = torch.sigmoid(output.fg_logit)[0, 0].numpy()
    return crop, probability, embedding_to_rgb(output.lse[0].numpy())


def lse_figure(
    checkpoint: str | os.PathLike,
    frame_path: str | os.PathLike,
    box: Box,
    out: str | os.PathLike,
    crop_size: int,
    enlarge: float,
) -> Path:
    """Write a three-panel PNG: crop around the enlarged box, FP probability, LSE (PCA to RGB)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    crop, probability, rgb = lse_panels(checkpoint, read_frame(frame_path), box, crop_size, enlarge)
    figure, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    for axis, image, title in zip(
        axes,
        (crop, probability, rgb),
        ("zoomed-in crop", "foreground (FP)", "LSE (3 principal axes)"),
        strict=True,
    ):
        axis.imshow(
            image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1 if image.ndim == 2 else None
        )
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    figure.suptitle(Path(frame_path).parent.name + "/" + Path(frame_path).name, fontsize=9)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as temporary:
        figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return out
