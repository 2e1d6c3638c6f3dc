"""Pseudo-labels: 1 foreground, 0 background, 255 ignored, as `uint8 [H,W]`.

First frame (from the pretrained model and the user's box): inside the box, pixels whose foreground
probability is >= `pseudo_fg_threshold` (0.6) are foreground and the others are ignored; every pixel
outside the box is background. With `connected_object`, a confident region mostly outside the box (and
not the one holding most of the box) is ignored inside it too (`lsevos.video.components.inside_box`).

First frame with GrabCut (`first_frame_grabcut` > 0 iterations; off in every shipped configuration): the
same rule seeds OpenCV GrabCut on the frame instead of leaving the box's unsure pixels unlabelled:
confident pixels are certain foreground (GC_FGD), pixels outside the box certain background (GC_BGD),
the rest of the box probable foreground where the model says >= 1 - `pseudo_fg_threshold` and probable
background below. GrabCut's foreground is 1, everything else 0. It stands in for the objectness a model
pretrained without VOC/SBD may lack (measured: docs/experiments.md, E4, E28); when OpenCV cannot fit its
colour models (too few pixels on one side) the plain rule's labels are used.

Scan 1 (from its probability maps): probability > threshold + margin is foreground, <= threshold - margin
is background, the band in between is ignored (`pseudo_ignore_margin`). Margin 0 (the default and the
paper's rule) turns the scan-1 masks into labels unchanged: foreground exactly where scan 1's mask is.
The CPU configurations ignore a band of 0.2 ([0.3, 0.7] around 0.5 is not trained on): scan-1 masks are
least reliable where the network hesitated, mostly along the object boundary and on distractors, and
those pixels get no label instead of a wrong one. Pixels outside a frame's search box have probability 0
and are background.

Label folder (`lsevos.video.scan_folder.write_scan_labels`): `<name>.png` per frame (indexed PNG with ids
0/1/255) and the scan's `boxes.json`, whose search boxes say where retraining crops each frame.
"""

from __future__ import annotations

import numpy as np

from lsevos.labels import IGNORE
from lsevos.video.boxes import Box
from lsevos.video.components import inside_box


def first_frame_labels(
    prob: np.ndarray, box: Box, fg_threshold: float, connected: bool = False
) -> np.ndarray:
    """prob float [H,W] of the pretrained model, the user's box -> labels uint8 [H,W] in {0,1,255}.

    `connected` (`VideoSettings.connected_object`): a confident region with less than half of its pixels
    inside the box is another object that the box cuts (`lsevos.video.components.inside_box`); its part
    in the box is ignored instead of foreground."""
    labels = np.zeros(prob.shape, dtype=np.uint8)
    confident = prob >= fg_threshold
    if connected:
        confident = inside_box(confident, box)
    x0, y0, x1, y1 = box
    labels[y0 : y1 + 1, x0 : x1 + 1] = np.where(confident[y0 : y1 + 1, x0 : x1 + 1], 1, IGNORE)
    return labels


def box_span(labels: np.ndarray, box: Box) -> float:
    """The smaller of the shares of the box's rows and of its columns that hold a foreground pixel
    (label 1) inside the box: 1.0 for an object that fills its box to every side, 0.5 for labels on the
    top half of the box only, 0.0 for no foreground."""
    x0, y0, x1, y1 = box
    inside = labels[y0 : y1 + 1, x0 : x1 + 1] == 1
    if inside.size == 0:
        return 0.0
    return float(min(inside.any(axis=1).mean(), inside.any(axis=0).mean()))


def grabcut_first_frame_labels(
    frame: np.ndarray,
    prob: np.ndarray,
    box: Box,
    fg_threshold: float,
    iterations: int,
    min_span: float = 0.0,
) -> np.ndarray:
    """frame uint8 [H,W,3] RGB, prob float [H,W], box -> labels uint8 [H,W] in {0,1} refined by GrabCut
    seeded with the first-frame rule (falls back to `first_frame_labels` when OpenCV fails).

    A box drawn around an object touches it on all four sides, so the object's pixels cross every row and
    column of the box. When the labels span less than `min_span` of the box's rows or columns (`box_span`:
    they cover a part of the object; 0: never), GrabCut runs again with the pixels of the rows and columns
    the labels miss made probable foreground (where the model called them background): the object must
    cross those rows and columns too, and the colours decide where. The labels that span the box better
    are kept."""
    labels = _grabcut(frame, prob, box, fg_threshold, iterations)
    if labels is None:
        return first_frame_labels(prob, box, fg_threshold)
    span = box_span(labels, box)
    if span >= min_span:
        return labels
    x0, y0, x1, y1 = box
    inside = labels[y0 : y1 + 1, x0 : x1 + 1] == 1
    missed = ~inside.any(axis=1)[:, None] | ~inside.any(axis=0)[None, :]
    completed = _grabcut(frame, prob, box, fg_threshold, iterations, missed)
    if completed is not None and box_span(completed, box) > span:
        return completed
    return labels


def _grabcut(
    frame: np.ndarray,
    prob: np.ndarray,
    box: Box,
    fg_threshold: float,
    iterations: int,
    missed: np.ndarray | None = None,
) -> np.ndarray | None:
    """GrabCut seeded by the first-frame rule: confident pixels certain foreground, outside the box certain
    background, the rest of the box probable foreground where the model says >= 1 - `fg_threshold` and
    probable background below, except where `missed` (bool, the box's shape) is set: probable foreground
    there. None when OpenCV cannot fit its colour models."""
    import cv2

    x0, y0, x1, y1 = box
    seeds = np.full(prob.shape, cv2.GC_BGD, dtype=np.uint8)
    inside = prob[y0 : y1 + 1, x0 : x1 + 1]
    unsure = np.uint8(cv2.GC_PR_BGD) if missed is None else np.where(missed, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    seeds[y0 : y1 + 1, x0 : x1 + 1] = np.where(
        inside >= fg_threshold,
        cv2.GC_FGD,
        np.where(inside >= 1.0 - fg_threshold, cv2.GC_PR_FGD, unsure),
    )
    background_model = np.zeros((1, 65), dtype=np.float64)
    foreground_model = np.zeros((1, 65), dtype=np.float64)
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(
            np.ascontiguousarray(frame[:, :, ::-1]),
            seeds,
            None,
            background_model,
            foreground_model,
            iterations,
            cv2.GC_INIT_WITH_MASK,
        )
    except cv2.error:
        return None
    return np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)


def scan_labels(prob: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    """prob float [H,W] of scan 1 -> labels uint8 [H,W]: 1 above threshold+margin, 0 at or below
    threshold-margin, 255 in between."""
    labels = np.full(prob.shape, IGNORE, dtype=np.uint8)
    labels[prob > threshold + margin] = 1
    labels[prob <= threshold - margin] = 0
    return labels
