"""The previous frame's probability carried onto the next by optical flow (`flow_weight`).

The zoom tracker predicts frame t from frame t's pixels alone: a salient thing next to the object, or a
frame where the network and the prior both hesitate, decides the mask with nothing to say that the
object was elsewhere a frame ago. `FlowCarry` adds that memory: dense optical flow from frame t back to
frame t-1 (OpenCV's DIS, its `FAST` preset, on the grey levels resized to at most `FLOW_SIDE` px on the
longer side) says where each pixel of t came from; frame t-1's final probability, sampled there, is what
t-1's object looks like moved to t. It is mixed in as the third voice of the prediction:

    p_t = (1 - w) * prediction_t + w * carried_t-1,

where `prediction_t` is the network mixed with the prior (`saliency_weight`). When each of the three
shares is below 0.5 (`saliency_weight` 0.7 with `flow_weight` 0.3: network 0.21, prior 0.49, motion 0.30),
no voice alone makes a pixel foreground: motion alone never keeps a pixel, and a salient thing the object
never moved onto needs the network's agreement. Measured on development and check videos and off in every
shipped configuration (docs/experiments.md, E28).

No file I/O and nothing of the network: one instance per scan, fed the frames in order.
"""

from __future__ import annotations

import cv2
import numpy as np

FLOW_SIDE = 480
"""Longer side (px) of the grey frames the flow is computed on: 854x480 becomes 480x270 (~2 ms a frame
on 2 cores); the flow is scaled back to the frame."""


def grey(frame: np.ndarray, side: int = FLOW_SIDE) -> np.ndarray:
    """`frame` (uint8 [H,W,3] RGB) in grey levels, resized (area) so its longer side is at most `side`."""
    image = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    height, width = image.shape
    scale = side / max(height, width)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)


def carry(previous: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`previous` (float32 [H,W]) sampled where `flow` (float32 [h,w,2], from the new frame back to the
    previous one, in pixels of its own [h,w] grid) says each pixel of the new frame came from; the flow is
    resized and scaled to [H,W] first. Points that came from outside the frame get 0."""
    height, width = previous.shape
    small_height, small_width = flow.shape[:2]
    if (small_height, small_width) != (height, width):
        flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= width / small_width
        flow[..., 1] *= height / small_height
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(
        previous,
        columns + flow[..., 0],
        rows + flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


class FlowCarry:
    """Mixes each frame's probability with the previous frame's, carried by optical flow (module
    docstring). Call `mix(frame, prob)` then `remember(final prob)` once per frame, in order."""

    def __init__(self, weight: float, side: int = FLOW_SIDE):
        self.weight = weight
        self.side = side
        self.flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.previous: tuple[np.ndarray, np.ndarray] | None = None  # (grey, final probability)
        self.current: np.ndarray | None = None  # the grey of the frame last mixed

    def mix(self, frame: np.ndarray, prob: np.ndarray) -> np.ndarray:
        """`prob` (float32 [H,W]) of `frame` mixed with the previous frame's carried onto it; unchanged
        for the first frame."""
        self.current = grey(frame, self.side)
        if self.previous is None:
            return prob
        previous_grey, previous_prob = self.previous
        flow = self.flow.calc(self.current, previous_grey, None)
        carried = carry(previous_prob, flow)
        return ((1.0 - self.weight) * prob + self.weight * carried).astype(np.float32)

    def remember(self, prob: np.ndarray) -> None:
        """Keep the final probability of the frame last mixed for the next frame."""
        if self.current is None:
            raise RuntimeError("FlowCarry.remember before mix")
        self.previous = (self.current, prob)
