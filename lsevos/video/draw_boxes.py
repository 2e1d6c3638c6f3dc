"""Drawing the objects' boxes on a frame instead of typing them (`lsevos segment` without --box/--mask).

OpenCV's `selectROIs` shows the frame; the user drags one box per object (ENTER or SPACE after each,
ESC when done). The boxes are printed in the `--box` form, so the run can be repeated without drawing.

Where no window can be opened the command refuses with its usual message (give --box, --boxes or --mask)
and says why: no display (`DISPLAY`/`WAYLAND_DISPLAY` unset on Linux), or an OpenCV built without a GUI
(the `opencv-contrib-python-headless` wheel this project declares: `cv2.getBuildInformation()` lists no
GUI backend). `opencv-contrib-python` instead of the headless wheel (as `make venv` installs) draws.
"""

from __future__ import annotations

import os
import re
import sys

import numpy as np

from lsevos.video.boxes import Box


def gui_unavailable() -> str | None:
    """Why OpenCV cannot open a window here (None: it can)."""
    import cv2

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display (DISPLAY is not set)"
    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if match is None or match.group(1).upper() == "NONE":
        return "this OpenCV has no GUI (the headless wheel); pip install opencv-contrib-python to draw boxes"
    return None


def rois_to_boxes(rois) -> list[Box]:
    """OpenCV's (x, y, width, height) rectangles -> inclusive (x0, y0, x1, y1) boxes; empty ones dropped."""
    boxes = []
    for x, y, width, height in np.asarray(rois, dtype=int).reshape(-1, 4):
        if width > 0 and height > 0:
            boxes.append((int(x), int(y), int(x + width - 1), int(y + height - 1)))
    return boxes


def draw_boxes(frame: np.ndarray, title: str = "lsevos: draw one box per object") -> list[Box]:
    """Let the user draw boxes on `frame` (RGB uint8 [H,W,3]); returns them (x0, y0, x1, y1)."""
    import cv2

    rois = cv2.selectROIs(title, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), showCrosshair=True)
    cv2.destroyWindow(title)
    return rois_to_boxes(rois)


def box_options(boxes: list[Box]) -> str:
    """The boxes as `--box` options: `--box 1,2,3,4 --box ...`."""
    return " ".join(f"--box {','.join(str(v) for v in box)}" for box in boxes)
