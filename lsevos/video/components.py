"""Which connected components (8-connectivity) of a foreground map belong to the tracked object.

`components_touching`: those with a pixel in a box (the tracker's `box_component` guard and its recovery).
The object as connected regions (`VideoSettings.connected_object`):

- In the first frame, what the user's box tells: the object lies inside the box, so a component with less
  than half of its pixels inside the box is something else that the box happens to cut, unless it holds
  more of the box than any other component.
- In every later frame, what the previous frame tells: the object moves less than its own size between
  two frames, so its components share a pixel with the previous frame's mask; a component that shares
  none is something else that entered the search crop.

Both return the kept pixels, or the map unchanged when nothing would be kept (an object that moved by more
than its own size, or no pixel in the box); the tracker's recovery still looks at a mask that collapsed.
`sharing_pixels(..., keep_if_none=False)` returns nothing then instead: the network's veto on a crop's
salient components (`lsevos.video.saliency.blend`) keeps only those the network sees.
"""

from __future__ import annotations

import numpy as np

from lsevos.video.boxes import Box

INSIDE_SHARE = 0.5
"""A first-frame component belongs to the object when at least this share of its pixels is in the box."""


def _components(foreground: np.ndarray) -> tuple[int, np.ndarray]:
    import cv2

    count, labels = cv2.connectedComponents(foreground.astype(np.uint8), connectivity=8)
    return count, labels


def components_touching(pixels: np.ndarray, box: Box, largest_if_none: bool = True) -> np.ndarray:
    """The connected components of `pixels` [H,W] that have a pixel inside `box`; when none has, the
    largest component (`largest_if_none`) or nothing. Returns a bool [H,W] (empty when `pixels` is)."""
    count, labels = _components(pixels)
    if count <= 1:
        return np.zeros(pixels.shape, dtype=bool)
    x0, y0, x1, y1 = box
    inside = np.unique(labels[y0 : y1 + 1, x0 : x1 + 1])
    inside = inside[inside > 0]
    if inside.size == 0 and largest_if_none:
        inside = np.array([1 + int(np.argmax(np.bincount(labels.ravel())[1:]))])
    return np.isin(labels, inside)


def inside_box(foreground: np.ndarray, box: Box, share: float = INSIDE_SHARE) -> np.ndarray:
    """The components of bool `foreground` [H,W] with at least `share` of their pixels inside `box`
    (x0, y0, x1, y1, inclusive), and always the one with the most pixels inside it (a spill that fills
    the crop around the object is still the box's main content, not a fragment beside it); `foreground`
    itself when no pixel is inside."""
    count, labels = _components(foreground)
    if count <= 1:
        return foreground.astype(bool)
    x0, y0, x1, y1 = box
    total = np.bincount(labels.ravel(), minlength=count)
    inside = np.bincount(labels[y0 : y1 + 1, x0 : x1 + 1].ravel(), minlength=count)
    inside[0] = 0
    if not inside.any():
        return foreground.astype(bool)
    keep = inside >= share * np.maximum(total, 1)
    keep[int(np.argmax(inside))] = True
    keep[0] = False
    return keep[labels]


def sharing_pixels(foreground: np.ndarray, previous: np.ndarray, keep_if_none: bool = True) -> np.ndarray:
    """The components of bool `foreground` [H,W] that share a pixel with bool `previous` [H,W]; when none
    does, `foreground` itself (`keep_if_none`) or nothing."""
    count, labels = _components(foreground)
    if count <= 1:
        return foreground.astype(bool)
    keep = np.zeros(count, dtype=bool)
    keep[np.unique(labels[previous.astype(bool)])] = True
    keep[0] = False
    if not keep.any():
        return foreground.astype(bool) if keep_if_none else np.zeros(foreground.shape, dtype=bool)
    return keep[labels]
