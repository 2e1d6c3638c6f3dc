"""The DAVIS measures as the official evaluation computes them (Perazzi et al., CVPR 2016).

- Region similarity J: intersection over union of two binary masks; 1 when both are empty.
- Boundary accuracy F: the boundary map of a mask marks the pixels that differ from their east, south or
  south-east neighbour (only neighbours inside the image count: the image border is no boundary; no
  thinning). Precision is the share of predicted boundary pixels within `radius` (a disk) of a
  ground-truth boundary pixel, recall the converse, F = 2PR / (P + R) (0 when P + R = 0). Both boundaries
  empty gives F = 1, exactly one empty gives F = 0. The radius is ceil(0.008 * image diagonal), 8 at 854x480.
- Per sequence, over frames 1..N-2: Mean, Recall (share of frames with a value > 0.5) and Decay (mean of
  the first quarter minus mean of the last, with the official bin edges, neighbouring bins share a frame).

Boundaries and dilations are computed inside the bounding box of both masks grown by one pixel: outside
it both boundary maps are empty, so the result equals the full-frame computation and costs far less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

BOUNDARY_TOLERANCE = 0.008


def tolerance_radius(height: int, width: int) -> int:
    """Boundary tolerance in pixels: ceil(0.008 * sqrt(H^2 + W^2)); 8 for 854x480."""
    return int(math.ceil(BOUNDARY_TOLERANCE * math.hypot(height, width)))


@lru_cache(maxsize=8)
def disk(radius: int) -> np.ndarray:
    """Structuring element `uint8 [2r+1, 2r+1]`: 1 where x^2 + y^2 <= r^2 (149 pixels for r = 7)."""
    offsets = np.arange(-radius, radius + 1)
    inside = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius * radius
    return inside.astype(np.uint8)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels `bool [H, W]` of a binary mask `bool [H, W]`: pixels that differ from their east,
    south or south-east neighbour inside the image."""
    mask = np.asarray(mask, dtype=bool)
    boundary = np.zeros_like(mask)
    boundary[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    boundary[:-1, :] |= mask[:-1, :] != mask[1:, :]
    boundary[:-1, :-1] |= mask[:-1, :-1] != mask[1:, 1:]
    return boundary


def jaccard(gt: np.ndarray, pred: np.ndarray) -> float:
    """IoU of two binary masks `bool [H, W]`; 1.0 when both are empty."""
    union = np.count_nonzero(gt | pred)
    if union == 0:
        return 1.0
    return np.count_nonzero(gt & pred) / union


def _grown_box(union: np.ndarray) -> tuple[slice, slice] | None:
    """Rows and columns of the bounding box of `union` grown by one pixel (clipped); None if empty."""
    x, y, width, height = cv2.boundingRect(union.view(np.uint8))
    if width == 0:
        return None
    rows, cols = union.shape
    return (
        slice(max(y - 1, 0), min(y + height + 1, rows)),
        slice(max(x - 1, 0), min(x + width + 1, cols)),
    )


def _precision_recall_in(box, gt: np.ndarray, pred: np.ndarray, radius: int) -> tuple[float, float]:
    if box is None:
        return 1.0, 1.0
    gt_boundary = boundary_map(gt[box])
    pred_boundary = boundary_map(pred[box])
    gt_count = np.count_nonzero(gt_boundary)
    pred_count = np.count_nonzero(pred_boundary)
    if gt_count == 0 or pred_count == 0:
        return (1.0 if pred_count == 0 else 0.0), (1.0 if gt_count == 0 else 0.0)
    kernel = disk(radius)
    gt_reach = cv2.dilate(gt_boundary.view(np.uint8), kernel).view(bool)
    pred_reach = cv2.dilate(pred_boundary.view(np.uint8), kernel).view(bool)
    precision = np.count_nonzero(pred_boundary & gt_reach) / pred_count
    recall = np.count_nonzero(gt_boundary & pred_reach) / gt_count
    return precision, recall


def boundary_precision_recall(
    gt: np.ndarray, pred: np.ndarray, radius: int | None = None
) -> tuple[float, float]:
    """Boundary precision and recall of `pred` against `gt` (both `bool [H, W]`).

    `radius` defaults to `tolerance_radius(H, W)`. Empty prediction boundary: P = 1, R = 0 (R = 1 too if
    the GT boundary is also empty); empty GT boundary with a predicted one: P = 0, R = 1.
    """
    gt = np.asarray(gt, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    if radius is None:
        radius = tolerance_radius(*gt.shape)
    return _precision_recall_in(_grown_box(gt | pred), gt, pred, radius)


def frame_measures(gt: np.ndarray, pred: np.ndarray, radius: int) -> tuple[float, float]:
    """(J, F) of one object in one frame (`bool [H, W]` each), sharing the work of both measures."""
    union = gt | pred
    union_count = np.count_nonzero(union)
    if union_count == 0:
        return 1.0, 1.0
    j = np.count_nonzero(gt & pred) / union_count
    return j, f_measure(*_precision_recall_in(_grown_box(union), gt, pred, radius))


def f_measure(precision: float, recall: float) -> float:
    """2PR / (P + R); 0 when P + R = 0."""
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def boundary_f(gt: np.ndarray, pred: np.ndarray, radius: int | None = None) -> float:
    """Boundary F of `pred` against `gt` (both `bool [H, W]`); see `boundary_precision_recall`."""
    return f_measure(*boundary_precision_recall(gt, pred, radius))


def decay_bin_edges(length: int) -> np.ndarray:
    """Official decay bin edges `int64 [5]` for `length` frames: round(linspace(1, L, 5) + 1e-10) - 1.

    Bin i is frames `edges[i] .. edges[i + 1]`, both ends included.
    """
    return np.round(np.linspace(1, length, 5) + 1e-10).astype(np.int64) - 1


@dataclass(frozen=True)
class Statistics:
    """Mean, Recall and Decay of one measure over the evaluated frames of one sequence (fractions)."""

    mean: float
    recall: float
    decay: float


def sequence_statistics(values: np.ndarray) -> Statistics:
    """Mean, Recall (share > 0.5, strict) and Decay of the per-frame values `float [L]`, L >= 1."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"need a non-empty 1-D vector of per-frame values, got shape {values.shape}")
    edges = decay_bin_edges(values.size)
    first = values[edges[0] : edges[1] + 1]
    last = values[edges[3] : edges[4] + 1]
    return Statistics(
        mean=float(values.mean()),
        recall=float(np.mean(values > 0.5)),
        decay=float(first.mean() - last.mean()),
    )
