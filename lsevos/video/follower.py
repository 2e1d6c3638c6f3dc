"""The appearance follower of the zoom tracker's recovery (`VideoSettings.follow_appearance`).

The zoom tracker makes every next crop from the last mask, and its recovery re-finds a collapsed mask
near the last good box. An object that moves farther than that box enlarged in the frames of a collapse
(a ball kicked across the frame while the mask sticks to a leg) is then never found again. The follower
is a second, independent opinion of where the object is: OpenCV's CSRT tracker (a discriminative
correlation filter with channel and spatial reliability over HOG and colour-name features; Lukezic et
al., CVPR 2017), which learns the object's look from its box and searches a wide window around its last
position in every frame, without saliency and without the network.

- It starts from the first frame's mask's box (the user's box where that mask is empty) and is updated
  on every later frame.
- While the mask is trusted (a frame the recovery did not look at, or one it re-found), the mask's box
  is the reference: where the follower's box overlaps it by less than `AGREE_IOU` (or the follower has
  lost the object), the follower starts again from the mask's box, so it follows what the mask follows
  and drifts no further than one frame from it.
- Where the recovery would hold the last good box (nothing near it, or a spill over its cap), it looks
  again near the follower's box and takes what it re-finds there (`lsevos.video.tracker`).

OpenCV's CSRT is in the contrib modules (the `opencv-contrib-python-headless` wheel, a dependency of
lse-vos); `check_available` tells a run that lacks them before it starts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lsevos.video.boxes import Box, box_iou

AGREE_IOU = 0.5
"""The follower agrees with the mask when their boxes overlap by at least this IoU (the usual threshold
of a tracking success); below it the follower starts again from the mask's box."""
MIN_SIDE = 5
"""A box narrower or lower than this (pixels) is no template: the follower keeps what it has."""


def check_available() -> str | None:
    """None when OpenCV's CSRT tracker can be made; else the one-line reason and the fix."""
    import cv2

    if hasattr(cv2, "TrackerCSRT"):
        return None
    return (
        f"OpenCV's contrib modules (its CSRT tracker; the OpenCV {cv2.__version__} installed has none, "
        "e.g. another OpenCV wheel overwrote them): pip install --force-reinstall --no-deps "
        "opencv-contrib-python-headless==<the version of the OpenCV installed>"
    )


class Follower:
    """CSRT on RGB frames [H,W,3] uint8 with inclusive-end boxes (x0, y0, x1, y1) clipped to the frame."""

    def __init__(self, frame: np.ndarray, box: Box):
        self._tracker: Any = None  # cv2.TrackerCSRT once a box is learnt
        self.start(frame, box)

    def start(self, frame: np.ndarray, box: Box) -> None:
        """Learn the object's look from `box` in `frame`. A box under `MIN_SIDE`, or one CSRT cannot
        learn (about 40:1 and flatter: a cable, a pole), is ignored: the follower keeps what it has."""
        import cv2

        x0, y0, x1, y1 = (int(value) for value in box)
        if x1 + 1 - x0 < MIN_SIDE or y1 + 1 - y0 < MIN_SIDE:
            return
        tracker = cv2.TrackerCSRT.create()
        try:
            tracker.init(_bgr(frame), (x0, y0, x1 + 1 - x0, y1 + 1 - y0))
        except cv2.error:
            return
        self._tracker = tracker

    def update(self, frame: np.ndarray) -> Box | None:
        """The object's box in the next frame, clipped to it; None where CSRT reports it lost (or the box
        left the frame)."""
        if self._tracker is None:
            return None
        found, (x, y, width, height) = self._tracker.update(_bgr(frame))
        if not found or width <= 0 or height <= 0:
            return None
        frame_height, frame_width = frame.shape[:2]
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1 = min(frame_width - 1, int(x + width) - 1)
        y1 = min(frame_height - 1, int(y + height) - 1)
        if x1 < x0 or y1 < y0:
            return None
        return x0, y0, x1, y1

    def agree(self, frame: np.ndarray, followed: Box | None, mask_box: Box | None) -> None:
        """Keep the follower on what a trusted mask follows: start again from `mask_box` when the
        follower's box of this frame (`followed`) is missing or overlaps it by less than `AGREE_IOU`."""
        if mask_box is None:
            return
        if followed is None or box_iou(followed, mask_box) < AGREE_IOU:
            self.start(frame, mask_box)


def _bgr(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[..., ::-1])
