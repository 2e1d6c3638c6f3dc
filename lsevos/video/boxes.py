"""Boxes: from masks, enlarged, cropped to the network input and pasted back.

A box is `(x0, y0, x1, y1)` in pixels with inclusive ends: it covers columns x0..x1 and rows y0..y1.

Aspect handling: the enlarged box is cropped as it is and resized to `size x size` (a non-uniform
stretch). The network sees the object filling a fixed share of the crop whatever its shape, which is
what the paper's zoom-in does; `paste_probability` undoes the stretch exactly. Without zoom (the
FP(no-zoom) family) the whole frame is resized keeping its aspect ratio, its shorter side to `size`
(`whole_frame_shape`): the network is fully convolutional, and a 854x480 frame squeezed into a square
would distort every object.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from lsevos.errors import ConfigError

Box = tuple[int, int, int, int]


def box_from_mask(mask: np.ndarray) -> Box | None:
    """Tight box around the non-zero pixels of `mask` [H,W]; None when the mask is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def enlarge_box(box: Box, factor: float, image_size: tuple[int, int]) -> Box:
    """Scale `box` by `factor` around its centre and clip it to an image of size (H, W).

    In continuous coordinates the box spans [x0, x1 + 1); the scaled span is rounded outwards to pixels,
    so factor 1 returns the box unchanged.
    """
    height, width = image_size
    x0, y0, x1, y1 = box
    centre_x, centre_y = (x0 + x1 + 1) / 2, (y0 + y1 + 1) / 2
    half_w, half_h = factor * (x1 + 1 - x0) / 2, factor * (y1 + 1 - y0) / 2
    return (
        max(0, math.floor(centre_x - half_w + 1e-9)),
        max(0, math.floor(centre_y - half_h + 1e-9)),
        min(width - 1, math.ceil(centre_x + half_w - 1e-9) - 1),
        min(height - 1, math.ceil(centre_y + half_h - 1e-9) - 1),
    )


def whole_image_box(image_size: tuple[int, int]) -> Box:
    height, width = image_size
    return 0, 0, width - 1, height - 1


def whole_frame_shape(image_size: tuple[int, int], short_side: int) -> tuple[int, int]:
    """Network input (h, w) of a whole frame (H, W) at its own aspect ratio: the shorter side is
    `short_side`, the longer one scaled alike and rounded (480x854 at 321 -> 321x571)."""
    height, width = image_size
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def clip_box(box: Box, image_size: tuple[int, int]) -> Box:
    """Clip to the image; raises `ConfigError` when nothing of the box lies inside it."""
    height, width = image_size
    x0, y0, x1, y1 = box
    clipped = max(0, x0), max(0, y0), min(width - 1, x1), min(height - 1, y1)
    if clipped[0] > clipped[2] or clipped[1] > clipped[3]:
        raise ConfigError(
            f"box {list(box)} lies outside the {width}x{height} image; give x0,y0,x1,y1 inside it"
        )
    return clipped


def parse_box(text: str) -> Box:
    """Parse "x0,y0,x1,y1" (inclusive pixel corners, x0 <= x1, y0 <= y1). Corners outside the picture
    (negative, or past its edge) are allowed: the box is clipped to the frame (`clip_box`) where it is
    used, and refused there only when nothing of it lies inside."""
    parts = text.replace(" ", "").split(",")
    try:
        values = [int(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
        raise ConfigError(
            f"--box {text!r} must be four integers x0,y0,x1,y1 with x0<=x1 and y0<=y1 (left, top, right, "
            "bottom pixel of the object, inclusive; a part outside the frame is clipped)"
        )
    return values[0], values[1], values[2], values[3]


def crop_and_resize(
    image: np.ndarray, box: Box, size: int | tuple[int, int], nearest: bool = False
) -> np.ndarray:
    """Crop `image` [H,W(,C)] to `box` and resize to [size,size(,C)], or [h,w(,C)] for `size` = (h, w)
    (bilinear, or nearest for labels)."""
    height, width = (size, size) if isinstance(size, int) else size
    x0, y0, x1, y1 = box
    patch = image[y0 : y1 + 1, x0 : x1 + 1]
    if patch.shape[0] == height and patch.shape[1] == width:
        return patch.copy()
    # nearest: at the pixel centres bilinear samples (OpenCV's INTER_NEAREST lands up to half a source
    # pixel off, and labels would miss the image's edges by a row or column)
    interpolation = cv2.INTER_NEAREST_EXACT if nearest else cv2.INTER_LINEAR
    return cv2.resize(patch, (width, height), interpolation=interpolation)


def box_iou(first: Box, second: Box) -> float:
    """Intersection over union of two boxes (inclusive pixel ends)."""
    width = min(first[2], second[2]) + 1 - max(first[0], second[0])
    height = min(first[3], second[3]) + 1 - max(first[1], second[1])
    inter = max(0, width) * max(0, height)

    def area(box: Box) -> int:
        return (box[2] + 1 - box[0]) * (box[3] + 1 - box[1])

    return inter / (area(first) + area(second) - inter)


def move_crop_map(values: np.ndarray, source: Box, target: Box, shape: tuple[int, int]) -> np.ndarray:
    """A map [h',w'] laid over the crop of box `source` (any resolution: its pixels split the box evenly),
    resampled onto the crop of box `target` at `shape` (h, w), bilinear; where `target` leaves `source`,
    the nearest edge value. For `source` = `target` it is `cv2.resize` of the map, as a crop's map is
    resized back to the crop."""
    height, width = shape
    values = values.astype(np.float32, copy=False)
    if source == target:
        return cv2.resize(values, (width, height), interpolation=cv2.INTER_LINEAR)
    rows, cols = values.shape

    def axis(low: int, high: int, target_low: int, target_high: int, size: int, count: int):
        # a target pixel's centre, in the frame, then in the source map's pixels (centres at k + 0.5)
        source_span, target_span = high + 1 - low, target_high + 1 - target_low
        scale = (target_span / size) * (count / source_span)
        offset = (target_low - low + 0.5 * target_span / size) * count / source_span - 0.5
        return scale, offset

    ax, bx = axis(source[0], source[2], target[0], target[2], width, cols)
    ay, by = axis(source[1], source[3], target[1], target[3], height, rows)
    matrix = np.array([[ax, 0.0, bx], [0.0, ay, by]], dtype=np.float64)
    return cv2.warpAffine(
        values,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def paste_probability(prob: np.ndarray, box: Box, image_size: tuple[int, int]) -> np.ndarray:
    """Resize a crop's probability map [h,w] to the box and place it in a zero map [H,W] float32."""
    x0, y0, x1, y1 = box
    full = np.zeros(image_size, dtype=np.float32)
    width, height = x1 + 1 - x0, y1 + 1 - y0
    patch = prob.astype(np.float32, copy=False)
    if patch.shape != (height, width):
        patch = cv2.resize(patch, (width, height), interpolation=cv2.INTER_LINEAR)
    full[y0 : y1 + 1, x0 : x1 + 1] = patch
    return full
