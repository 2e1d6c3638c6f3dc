"""Pictures of a result: the overlay video (the mask tinted over each frame and the object's box drawn)
and the cut-out (RGBA PNGs: the frame, transparent outside the objects), both streamed.

Several objects (their ids, `lsevos.video.objects`) get one colour each in the overlay, their boxes drawn
in it and labelled with the object's id. Cut-out folder (`--alpha DIR`): `DIR/<frame>.png`, RGB of the
frame with alpha 255 on every object's pixels and 0 elsewhere; with several objects also
`DIR/<id>/<frame>.png`, one object each (from the merged masks, so two objects never share a pixel).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from lsevos.data.io import FrameSource, atomic_output, check_suffix, read_mask, write_video
from lsevos.video.boxes import Box
from lsevos.video.scan_folder import read_boxes

MASK_COLOUR = np.array([255, 40, 40], dtype=np.float32)
BOX_COLOUR = (40, 255, 40)
# Further objects (id 2, 3, ...): mask colour, and its box drawn in the same colour.
OBJECT_COLOURS = [(40, 120, 255), (255, 200, 0), (200, 60, 255), (0, 220, 200), (255, 120, 0), (120, 255, 60)]


def check_overlay_name(path: str | os.PathLike, what: str = "--overlay") -> None:
    """The overlay is an mp4 video: a `ConfigError` for any other name, before any work."""
    check_suffix(path, ".mp4", what, "the overlay is written as an mp4 video")


def object_colour(object_id: int) -> tuple[int, int, int]:
    """Mask colour of object `object_id` (1: the single-object colour)."""
    if object_id == 1:
        return tuple(int(v) for v in MASK_COLOUR)
    return OBJECT_COLOURS[(object_id - 2) % len(OBJECT_COLOURS)]


def overlay_frame(
    frame: np.ndarray,
    mask: np.ndarray,
    box: Box | None | dict[int, Box | None],
    alpha: float = 0.5,
) -> np.ndarray:
    """frame uint8 [H,W,3] RGB, mask [H,W] of ids (0 = background), box (one object) or {id: box} ->
    uint8 [H,W,3]. One object keeps the red mask and green box; several get a colour each."""
    out = frame.astype(np.float32)
    for object_id in (int(v) for v in np.unique(mask) if v != 0):
        selected = mask == object_id
        out[selected] = (1.0 - alpha) * out[selected] + alpha * np.array(object_colour(object_id), np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    boxes = box if isinstance(box, dict) else {0: box}
    for object_id, one in boxes.items():
        if one is not None:
            single = object_id in (0, 1) and len(boxes) == 1
            colour = BOX_COLOUR if single else object_colour(object_id)
            x0, y0, x1, y1 = one
            cv2.rectangle(out, (x0, y0), (x1, y1), colour, thickness=2)
            if not single:  # the legend: each box labelled with its object's id
                cv2.putText(
                    out, str(object_id), label_origin(one), LABEL_FONT, LABEL_SCALE, colour, 1, cv2.LINE_8
                )
    return out


LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_SCALE = 0.4


def label_origin(box: Box) -> tuple[int, int]:
    """Where an object's id is written (the text's bottom left): inside its box, at the top left."""
    return box[0] + 3, box[1] + 13


def video_fps(path: str | os.PathLike, default: float = 24.0) -> float:
    """Frame rate of a video file; `default` for frame folders or when the file does not say."""
    path = Path(path)
    if path.is_dir():
        return default
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return float(fps) if fps and fps > 0 else default


def _frames(frames) -> Iterable[tuple[str, np.ndarray]]:
    """A frame folder or video file, or frames already opened (`lsevos.video.frames.Frames`)."""
    return FrameSource(frames) if isinstance(frames, str | os.PathLike) else frames


def write_overlay(frames, scan_dir: str | os.PathLike, out: str | os.PathLike, fps: float) -> int:
    """Write the overlay mp4 of a scan folder over its frames (a folder, a video file or a `Frames`);
    returns the frame count."""
    from lsevos.video.objects import boxes_per_object

    scan_dir = Path(scan_dir)
    objects = boxes_per_object(read_boxes(scan_dir))

    def overlaid() -> Iterator[np.ndarray]:
        for name, frame in _frames(frames):
            mask = read_mask(scan_dir / "masks" / f"{name}.png")
            boxes = {i: (None if f.get(name) is None else tuple(f[name])) for i, f in objects.items()}
            yield overlay_frame(frame, mask, boxes[1] if list(boxes) == [1] else boxes)

    return write_video(out, overlaid(), fps)


def cutout(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """frame uint8 [H,W,3] RGB, mask [H,W] (non-zero: kept) -> uint8 [H,W,4] RGBA, alpha 255 on the mask."""
    alpha = np.where(mask > 0, np.uint8(255), np.uint8(0))
    return np.dstack([frame, alpha])


def write_alpha(frames, scan_dir: str | os.PathLike, out_dir: str | os.PathLike) -> int:
    """Write the cut-out folder (module docstring) of a scan or merged folder over its frames (a folder, a
    video file or a `Frames`); the folder is written whole, marked as an `alpha` output. Returns the
    frame count."""
    from PIL import Image

    from lsevos.video.objects import boxes_per_object

    scan_dir = Path(scan_dir)
    ids = sorted(boxes_per_object(read_boxes(scan_dir)))
    count = 0
    with atomic_output(out_dir, owner="alpha") as temporary:
        temporary.mkdir(parents=True)
        for object_id in ids if len(ids) > 1 else []:
            (temporary / str(object_id)).mkdir()
        for name, frame in _frames(frames):
            mask = read_mask(scan_dir / "masks" / f"{name}.png")
            Image.fromarray(cutout(frame, mask), mode="RGBA").save(temporary / f"{name}.png")
            for object_id in ids if len(ids) > 1 else []:
                one = cutout(frame, mask == object_id)
                Image.fromarray(one, mode="RGBA").save(temporary / str(object_id) / f"{name}.png")
            count += 1
    return count
