"""Pseudo-labels: 1 foreground, 0 background, 255 ignored, as `uint8 [H,W]`.

First frame (from the pretrained model and the user's box): inside the box, pixels whose foreground
probability is >= `pseudo_fg_threshold` (0.6) are foreground and the others are ignored; every pixel
outside the box is background.

Scan 1 (from its probability maps): probability > threshold + margin is foreground, <= threshold - margin
is background, the band in between is ignored (`pseudo_ignore_margin`, default 0.2: [0.3, 0.7] around
0.5 is not trained on). Scan-1 masks are least reliable where the network hesitated, mostly along the
object boundary and on distractors; those pixels get no label instead of a wrong one. Margin 0 turns the
scan-1 masks into labels unchanged. Pixels outside a frame's search box have probability 0 and are
background.

Label folder: `<name>.png` per frame (indexed PNG with ids 0/1/255) and the scan's `boxes.json`, whose
search boxes say where retraining crops each frame.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from lsevos.data.io import atomic_output, write_mask
from lsevos.errors import DataError
from lsevos.video.boxes import Box
from lsevos.video.tracker import Progress, read_boxes, read_probability

IGNORE = 255


def first_frame_labels(prob: np.ndarray, box: Box, fg_threshold: float) -> np.ndarray:
    """prob float [H,W] of the pretrained model, the user's box -> labels uint8 [H,W] in {0,1,255}."""
    labels = np.zeros(prob.shape, dtype=np.uint8)
    x0, y0, x1, y1 = box
    inside = prob[y0 : y1 + 1, x0 : x1 + 1]
    labels[y0 : y1 + 1, x0 : x1 + 1] = np.where(inside >= fg_threshold, 1, IGNORE)
    return labels


def scan_labels(prob: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    """prob float [H,W] of scan 1 -> labels uint8 [H,W]: 1 above threshold+margin, 0 at or below
    threshold-margin, 255 in between."""
    labels = np.full(prob.shape, IGNORE, dtype=np.uint8)
    labels[prob > threshold + margin] = 1
    labels[prob <= threshold - margin] = 0
    return labels


def write_scan_labels(
    scan_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    threshold: float,
    margin: float,
    progress: Progress | None = None,
) -> int:
    """Turn every `probs/*.png` of a scan folder into a label PNG in `out_dir` (atomic); returns the count."""
    scan_dir = Path(scan_dir)
    boxes = read_boxes(scan_dir)
    names = list(boxes.get("frames", {}))
    if not names:
        raise DataError(f"{scan_dir / 'boxes.json'}: lists no frames; re-run the scan")
    with atomic_output(out_dir) as temporary:
        temporary.mkdir(parents=True)
        for index, name in enumerate(names):
            prob = read_probability(scan_dir / "probs" / f"{name}.png")
            write_mask(temporary / f"{name}.png", scan_labels(prob, threshold, margin))
            if progress is not None:
                progress(f"pseudo-labels: frame {index + 1}/{len(names)} ({name})")
        shutil.copyfile(scan_dir / "boxes.json", temporary / "boxes.json")
    return len(names)
