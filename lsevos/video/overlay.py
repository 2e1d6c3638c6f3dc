"""Overlay video of a scan: the mask tinted over each frame and the object's box drawn, streamed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from lsevos.data.io import FrameSource, read_mask, write_video
from lsevos.video.boxes import Box
from lsevos.video.tracker import read_boxes

MASK_COLOUR = np.array([255, 40, 40], dtype=np.float32)
BOX_COLOUR = (40, 255, 40)


def overlay_frame(frame: np.ndarray, mask: np.ndarray, box: Box | None, alpha: float = 0.5) -> np.ndarray:
    """frame uint8 [H,W,3] RGB, mask [H,W] (non-zero = object), box or None -> uint8 [H,W,3]."""
    out = frame.astype(np.float32)
    selected = mask > 0
    out[selected] = (1.0 - alpha) * out[selected] + alpha * MASK_COLOUR
    out = np.clip(out, 0, 255).astype(np.uint8)
    if box is not None:
        x0, y0, x1, y1 = box
        cv2.rectangle(out, (x0, y0), (x1, y1), BOX_COLOUR, thickness=2)
    return out


def video_fps(path: str | os.PathLike, default: float = 24.0) -> float:
    """Frame rate of a video file; `default` for frame folders or when the file does not say."""
    path = Path(path)
    if path.is_dir():
        return default
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return float(fps) if fps and fps > 0 else default


def write_overlay(
    frames: str | os.PathLike, scan_dir: str | os.PathLike, out: str | os.PathLike, fps: float
) -> int:
    """Write the overlay mp4 of a scan folder over its frames; returns the frame count."""
    scan_dir = Path(scan_dir)
    boxes = read_boxes(scan_dir)["frames"]

    def overlaid() -> Iterator[np.ndarray]:
        for name, frame in FrameSource(frames):
            box = boxes.get(name)
            mask = read_mask(scan_dir / "masks" / f"{name}.png")
            yield overlay_frame(frame, mask, None if box is None else tuple(box))

    return write_video(out, overlaid(), fps)
