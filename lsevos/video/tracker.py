"""The zoom-in tracker: box propagation, crop, predict, paste back, threshold (no file I/O: the scan folder
format is `lsevos.video.scan_folder`).

The tracker knows nothing of the network: it calls `predict(crop uint8 [h,w,3]) -> prob float32 [h,w]`
(h = w = crop_size except in no-zoom mode).

Search boxes per mode:
- `zoom` (the paper): frame 0 is searched in the user's box enlarged by `enlarge`; frame t+1 in the box
  of mask t enlarged by `enlarge`.
- `nozoom`: every frame is searched as a whole, resized keeping its aspect ratio with the shorter side =
  crop (`lsevos.video.boxes.whole_frame_shape`: 480x854 -> 321x571).
- `gtbox` (Table 1): frame t is searched in its own ground-truth box enlarged by `enlarge`; nothing is
  propagated; a frame whose ground truth is empty gets an empty mask.

Vanished object (zoom mode): when mask t is empty, the last non-empty object box is kept and the search
box grows by a further factor `vanish_growth` for every consecutive empty frame (enlarge * growth^k after
k empty frames), clipped to the image, so the search widens to the whole frame instead of collapsing.

Guards against a runaway box (zoom mode; each off by default): the box that is propagated (not the mask,
which stays `prob > threshold`) is made from
- `box_threshold` > 0: only the pixels with probability > box_threshold (the confident ones);
- `box_component`: only the connected components (8-connectivity) that touch the previous object box;
  when none does, the largest component (the object moved by more than its own size);
- `box_area_jump` > 1: when those pixels cover more than box_area_jump times the area of the last
  accepted frame, the frame is rejected and the previous box is kept (a spill, not a motion); after
  `MAX_REJECTED` rejections in a row the next frame is accepted (the object did grow);
- `box_max_growth` / `box_max_shrink` >= 1: width and height grow / shrink by at most this factor per
  frame (around the new box's centre).

Motion (zoom mode, `flow_weight` > 0): each frame's probability is mixed with the previous frame's final
probability carried onto it by optical flow (`lsevos.video.propagation.FlowCarry`), before the threshold
and the recovery.

The object as connected regions (zoom mode, `connected_object`; `lsevos.video.components`): after the
flow mix and before the recovery, the mask keeps the components mostly inside the first box (first frame)
or sharing a pixel with the previous frame's mask; the dropped ones get probability 0. A re-found mask
is taken as the recovery finds it.

Recovery (zoom mode, `redetect_below` > 0): every next crop is made from the last mask, so a box that has
shrunk onto a part of the object, or a crop that has lost it, has no way back. When the mask of frame t
covers less than `redetect_below` times the largest mask area of the last `REDETECT_WINDOW` frames (an
empty mask included), the whole frame is predicted (one more forward, by `refind` when given, else by
`predict`). The *anchor* is the newest recent box whose mask had not collapsed; the components
(8-connectivity, `prob > threshold`) with a pixel in the anchor enlarged like a search box (widened by
`vanish_growth` per empty frame) are the object found. Then:
- "redetected": they cover more than the zoomed mask and at most 1 / `redetect_below` times the largest
  recent area: they replace frame t's probability (the other components' foreground set to 0), mask and
  box, and re-seed the next box past the guards; the search box recorded for the frame is the whole image;
- "confirmed": they cover something, no more than the zoomed mask: the frame is followed as it is, the
  larger recent frames staying the reference while they are in the window;
- "held": nothing, or more than the cap (a spill): frame t keeps its zoomed mask but not its box; the next
  frame is searched around the anchor (widened while the mask is empty), until the anchor leaves the
  window.
The recovery remembers only what the guards accept. `boxes.json` lists the frames it looked at:
"recovery": {name: "redetected", "confirmed" or "held"}.

Appearance follower (zoom mode, `follow_appearance`, with the recovery; `lsevos.video.follower`): a CSRT
box tracker runs beside the zoom tracker, started from the first mask's box and kept on the mask's box
while the mask is trusted (a frame the recovery did not look at, or re-found). Where the recovery would
hold, it looks the same way near the follower's box, enlarged like a search box: what it re-finds there
is "redetected" as above; anything else leaves the frame "held" (a "confirmed" there would compare the
zoomed mask with components somewhere else).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from lsevos.errors import ConfigError, DataError
from lsevos.video.boxes import (
    Box,
    box_from_mask,
    crop_and_resize,
    enlarge_box,
    paste_probability,
    whole_frame_shape,
    whole_image_box,
)
from lsevos.video.components import components_touching, inside_box, sharing_pixels
from lsevos.video.follower import Follower
from lsevos.video.propagation import FlowCarry
from lsevos.video.settings import VideoSettings

Predict = Callable[[np.ndarray], np.ndarray]
FramePrior = Callable[[str, np.ndarray, Box, np.ndarray, np.ndarray], np.ndarray]
"""`prior(name, frame, box, crop, predicted) -> prob`: what the search crop's prediction becomes when a
prior that knows the frame and the box is mixed in (`lsevos.video.saliency.ScanPrior`)."""
MODES = ("zoom", "nozoom", "gtbox")
MAX_REJECTED = 3
"""Consecutive frames `box_area_jump` may reject before the larger object is accepted."""
REDETECT_WINDOW = 5
"""Frames whose largest mask area (and its box, the anchor) the recovery compares a mask with."""


@dataclass(frozen=True)
class FrameResult:
    """One tracked frame: crop box searched (None: not searched), object box of the mask, maps [H,W]."""

    name: str
    search_box: Box | None
    object_box: Box | None
    prob: np.ndarray
    mask: np.ndarray
    recovery: str = ""  # "redetected", "confirmed" or "held" when the recovery looked (module docstring)


class SearchBoxes:
    """Zoom-mode box propagation with the vanished-object policy and the runaway guards (module docstring)."""

    def __init__(self, first_box: Box, settings: VideoSettings, image_size: tuple[int, int]):
        self.last_box = first_box
        self.last_area: int | None = None
        self.rejected = 0  # consecutive frames rejected by box_area_jump
        self.empty_run = 0
        self.settings = settings
        self.image_size = image_size
        self.recent: deque[tuple[int, Box | None]] = deque(maxlen=REDETECT_WINDOW)  # (mask area, box)
        self.anchor: Box = first_box
        self.velocity = (0.0, 0.0)  # the last box's centre shift per frame (`motion_prediction`)

    def current(self) -> Box:
        return self.reach(self.predicted())

    def reach(self, box: Box) -> Box:
        """`box` enlarged like a search box: by `enlarge`, and by `vanish_growth` per empty frame."""
        factor = self.settings.enlarge * self.settings.vanish_growth**self.empty_run
        return enlarge_box(box, factor, self.image_size)

    def predicted(self) -> Box:
        """The last box moved by `motion_prediction` times the last centre shift (unchanged when off)."""
        share = self.settings.motion_prediction
        dx, dy = round(share * self.velocity[0]), round(share * self.velocity[1])
        if dx == 0 and dy == 0:
            return self.last_box
        height, width = self.image_size
        x0, y0, x1, y1 = self.last_box
        dx = min(max(dx, -x0), width - 1 - x1)
        dy = min(max(dy, -y0), height - 1 - y1)
        return x0 + dx, y0 + dy, x1 + dx, y1 + dy

    def _moved(self, box: Box) -> None:
        """Record the centre shift from the last box to `box` (consecutive accepted frames only)."""
        x0, y0, x1, y1 = self.last_box
        self.velocity = ((box[0] + box[2] - x0 - x1) / 2, (box[1] + box[3] - y0 - y1) / 2)

    def collapsed(self, mask: np.ndarray) -> tuple[Box, int] | None:
        """Whether frame t's zoomed `mask` [H,W] has collapsed (`redetect_below`): below that share of the
        largest mask area of the last frames. Returns the region to re-find the object in (the anchor,
        the newest recent box whose mask had not collapsed, enlarged like a search box, wider after empty
        frames as the vanished-object policy widens it) and the largest area a re-found object may cover
        (the largest recent area / `redetect_below`); None when recovery is off or nothing collapsed."""
        below = self.settings.redetect_below
        if below <= 0.0 or not self.recent:
            return None
        largest = max(area for area, _ in self.recent)
        if largest == 0 or np.count_nonzero(mask) >= below * largest:
            return None
        self.anchor = next(
            box for area, box in reversed(self.recent) if box is not None and area >= below * largest
        )
        return self.reach(self.anchor), math.floor(largest / below)

    def update(self, prob: np.ndarray, mask: np.ndarray, mask_box: Box | None, recovery: str = "") -> None:
        """Propagate from frame t's probability [H,W], mask [H,W] (`prob > threshold`) and the mask's box
        (`box_from_mask(mask)`, already computed by the tracker). `recovery` (module docstring): "held"
        makes the next box the anchor (widened while the mask is empty); "redetected" re-seeds the box from
        the re-found mask, past the guards, which compare with the frames before the collapse. The
        recovery remembers what the guards accept (their pixels and box; nothing of a frame
        `box_area_jump` rejects), so it never anchors on what a guard threw away."""
        settings = self.settings
        if recovery:
            self.velocity = (0.0, 0.0)
        if recovery == "held":
            self._remember(int(np.count_nonzero(mask)), mask_box)
            self.last_box = self.anchor
            self.empty_run = self.empty_run + 1 if mask_box is None else 0
            return
        if recovery == "redetected":
            area = int(np.count_nonzero(mask))
            self._remember(area, mask_box)
            self.last_box, self.rejected, self.empty_run = mask_box, 0, 0
            self.last_area = area if settings.box_area_jump > 0.0 else None
            return
        pixels, box = mask, mask_box
        if settings.box_threshold > 0.0 or settings.box_component:
            if settings.box_threshold > 0.0:
                pixels = prob > settings.box_threshold
            if settings.box_component:
                pixels = components_touching(pixels, self.last_box)
            box = box_from_mask(pixels)
        if box is None:
            self._remember(0, None)
            self.empty_run += 1
            self.velocity = (0.0, 0.0)
            return
        jump = settings.box_area_jump
        area = int(np.count_nonzero(pixels)) if jump > 0.0 else None
        if jump > 0.0 and self.last_area is not None and area > jump * self.last_area:
            if self.rejected < MAX_REJECTED:
                self.rejected += 1
                return  # a rejected frame is not remembered either: the recovery never anchors on it
        self.rejected = 0
        if settings.box_max_growth > 0.0 or settings.box_max_shrink > 0.0:
            box = cap_size(
                box, self.last_box, self.image_size, settings.box_max_growth, settings.box_max_shrink
            )
        self._remember(int(np.count_nonzero(pixels)) if area is None else area, box)
        if self.empty_run == 0:
            self._moved(box)
        self.last_box, self.last_area, self.empty_run = box, area, 0

    def _remember(self, area: int, box: Box | None) -> None:
        """Keep a frame's accepted (mask area, box) for the recovery (`redetect_below` > 0 only)."""
        if self.settings.redetect_below > 0.0:
            self.recent.append((area, box))


def redetect(
    whole: np.ndarray, mask: np.ndarray, region: Box, threshold: float, max_area: int
) -> tuple[str, np.ndarray | None]:
    """Look for the object of a collapsed zoomed `mask` [H,W] in the whole frame's probability `whole`
    [H,W]: the components of `whole > threshold` with a pixel in `region`. Returns
    - ("redetected", the whole-frame probability with the foreground of the other components set to 0)
      when they cover more than `mask` and at most `max_area` pixels;
    - ("confirmed", None) when they cover something, but no more than `mask`: the whole frame sees the
      object as small as the crop did, so it is followed as it is;
    - ("held", None) when they cover nothing or more than `max_area` (a spill over the background)."""
    foreground = whole > threshold
    found = components_touching(foreground, region, largest_if_none=False)
    area = np.count_nonzero(found)
    if area == 0 or area > max_area:
        return "held", None
    if area <= np.count_nonzero(mask):
        return "confirmed", None
    return "redetected", np.where(foreground & ~found, np.float32(0.0), whole).astype(np.float32)


def cap_size(
    box: Box, previous: Box, image_size: tuple[int, int], grow: float = 0.0, shrink: float = 0.0
) -> Box:
    """`box` with its width and height kept within [1/shrink, grow] times those of `previous` (0: no
    limit on that side), resized around its centre, clipped to the image (H, W)."""
    height, width = image_size

    def capped(low: int, high: int, previous_low: int, previous_high: int, size: int) -> tuple[int, int]:
        before, now = previous_high + 1 - previous_low, high + 1 - low
        if grow > 0.0 and now > grow * before:
            limit = grow * before
        elif shrink > 0.0 and now < before / shrink:
            limit = before / shrink
        else:
            return low, high
        centre, half = (low + high + 1) / 2, limit / 2
        return max(0, math.floor(centre - half)), min(size - 1, math.ceil(centre + half) - 1)

    x0, x1 = capped(box[0], box[2], previous[0], previous[2], width)
    y0, y1 = capped(box[1], box[3], previous[1], previous[3], height)
    return x0, y0, x1, y1


def predict_in(
    predict: Predict, frame: np.ndarray, box: Box, shape, prior: FramePrior | None = None, name: str = ""
) -> np.ndarray:
    """The probability [H,W] of `frame`: `box` cropped and resized to `shape`, predicted (and mixed with
    `prior` when given), pasted back."""
    crop = crop_and_resize(frame, box, shape)
    prob = predict(crop)
    if prior is not None:
        prob = prior(name, frame, box, crop, prob)
    return paste_probability(prob, box, frame.shape[:2])


def track(
    frames: Iterable[tuple[str, np.ndarray]],
    predict: Predict,
    first_box: Box | None,
    settings: VideoSettings,
    mode: str = "zoom",
    gt_boxes: Mapping[str, Box | None] | None = None,
    refind: Predict | None = None,
    prior: FramePrior | None = None,
) -> Iterator[FrameResult]:
    """Segment frames one at a time; yields a `FrameResult` per frame (nothing else is kept in memory).

    `refind`: the predictor the recovery runs on the whole frame (default `predict`), e.g. the appearance
    finder of `lsevos.video.inference`, which looks for what the first frame looked like. `prior`: mixed
    into each search crop's prediction (not into the recovery's, which `refind` or `predict` makes)."""
    if mode not in MODES:
        raise ConfigError(f"tracker mode {mode!r} is unknown; use one of {', '.join(MODES)}")
    if mode == "gtbox" and gt_boxes is None:
        raise ConfigError("gtbox mode needs the ground-truth masks (--gt-masks DIR)")
    if mode == "zoom" and first_box is None:
        raise ConfigError("zoom mode needs the first frame's box (--box or --first-mask)")
    boxes: SearchBoxes | None = None
    motion = FlowCarry(settings.flow_weight) if mode == "zoom" and settings.flow_weight > 0.0 else None
    connect = mode == "zoom" and settings.connected_object
    previous: np.ndarray | None = None  # the last frame's final mask (`connected_object`)
    follow = mode == "zoom" and settings.follow_appearance
    follower: Follower | None = None
    for name, frame in frames:
        size = frame.shape[:2]
        followed = None  # the follower's box of this frame
        if mode == "zoom":
            if boxes is None:
                boxes = SearchBoxes(first_box, settings, size)
            elif follower is not None:
                followed = follower.update(frame)
            search = boxes.current()
        elif mode == "nozoom":
            search = whole_image_box(size)
        else:
            if name not in gt_boxes:
                raise DataError(
                    f"no ground-truth mask for frame {name!r}; --gt-masks must hold one per frame"
                )
            gt_box = gt_boxes[name]
            search = None if gt_box is None else enlarge_box(gt_box, settings.enlarge, size)
        if search is None:
            prob = np.zeros(size, dtype=np.float32)
        else:
            shape = whole_frame_shape(size, settings.crop_size) if mode == "nozoom" else settings.crop_size
            prob = predict_in(predict, frame, search, shape, prior, name)
        if motion is not None:
            prob = motion.mix(frame, prob)
        mask = (prob > settings.threshold).astype(np.uint8)
        if connect:
            kept = inside_box(mask, first_box) if previous is None else sharing_pixels(mask, previous)
            dropped = mask.astype(bool) & ~kept
            if dropped.any():
                prob = np.where(dropped, np.float32(0.0), prob)
                mask = kept.astype(np.uint8)
        recovery = ""
        collapse = None if boxes is None else boxes.collapsed(mask)
        if collapse is not None:
            region, max_area = collapse
            whole_box = whole_image_box(size)
            whole = predict_in(
                refind or predict, frame, whole_box, whole_frame_shape(size, settings.crop_size)
            )
            recovery, found = redetect(whole, mask, region, settings.threshold, max_area)
            if recovery == "held" and followed is not None:
                near = boxes.reach(followed)
                again, found_near = redetect(whole, mask, near, settings.threshold, max_area)
                if again == "redetected":
                    recovery, found = again, found_near
            if found is not None:
                prob, search = found, whole_box
                mask = (prob > settings.threshold).astype(np.uint8)
        object_box = box_from_mask(mask)
        if follow and follower is None:
            follower = Follower(frame, object_box or first_box)
        elif follower is not None and recovery in ("", "redetected"):
            follower.agree(frame, followed, object_box)
        if connect:
            previous = mask.astype(bool)
        if motion is not None:
            motion.remember(prob)
        if boxes is not None:
            boxes.update(prob, mask, object_box, recovery)
        yield FrameResult(name, search, object_box, prob, mask, recovery)
