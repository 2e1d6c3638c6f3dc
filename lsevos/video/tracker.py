"""The zoom-in tracker: box propagation, crop, predict, paste back, threshold; written per scan folder.

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

Scan folder: `masks/<name>.png` (indexed, ids 0/1), `probs/<name>.png` (uint8 = round(255 p)) and
`boxes.json` = {"frames": {name: object box of the mask or null}, "search": {name: crop box or null},
"enlarge", "mode", "crop_size", "threshold", "image_size": [H, W]}. The folder is written under a temporary
name and renamed when complete, with the marker file `.lsevos-output` ("scan") that lets the next scan
replace it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lsevos.data.io import atomic_output, write_mask
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
from lsevos.video.settings import VideoSettings

Predict = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[str], None]
MODES = ("zoom", "nozoom", "gtbox")


@dataclass(frozen=True)
class FrameResult:
    """One tracked frame: crop box searched (None: not searched), object box of the mask, maps [H,W]."""

    name: str
    search_box: Box | None
    object_box: Box | None
    prob: np.ndarray
    mask: np.ndarray


class SearchBoxes:
    """Zoom-mode box propagation with the vanished-object policy (see the module docstring)."""

    def __init__(self, first_box: Box, enlarge: float, growth: float, image_size: tuple[int, int]):
        self.last_box = first_box
        self.empty_run = 0
        self.enlarge = enlarge
        self.growth = growth
        self.image_size = image_size

    def current(self) -> Box:
        factor = self.enlarge * self.growth**self.empty_run
        return enlarge_box(self.last_box, factor, self.image_size)

    def update(self, object_box: Box | None) -> None:
        if object_box is None:
            self.empty_run += 1
        else:
            self.last_box = object_box
            self.empty_run = 0


def track(
    frames: Iterable[tuple[str, np.ndarray]],
    predict: Predict,
    first_box: Box | None,
    settings: VideoSettings,
    mode: str = "zoom",
    gt_boxes: Mapping[str, Box | None] | None = None,
) -> Iterator[FrameResult]:
    """Segment frames one at a time; yields a `FrameResult` per frame (nothing else is kept in memory)."""
    if mode not in MODES:
        raise ConfigError(f"tracker mode {mode!r} is unknown; use one of {', '.join(MODES)}")
    if mode == "gtbox" and gt_boxes is None:
        raise ConfigError("gtbox mode needs the ground-truth masks (--gt-masks DIR)")
    if mode == "zoom" and first_box is None:
        raise ConfigError("zoom mode needs the first frame's box (--box or --first-mask)")
    boxes: SearchBoxes | None = None
    for name, frame in frames:
        size = frame.shape[:2]
        if mode == "zoom":
            if boxes is None:
                boxes = SearchBoxes(first_box, settings.enlarge, settings.vanish_growth, size)
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
            prob = paste_probability(predict(crop_and_resize(frame, search, shape)), search, size)
        mask = (prob > settings.threshold).astype(np.uint8)
        object_box = box_from_mask(mask)
        if boxes is not None:
            boxes.update(object_box)
        yield FrameResult(name, search, object_box, prob, mask)


def probability_to_png(prob: np.ndarray) -> np.ndarray:
    """float [H,W] in [0,1] -> uint8 round(255 p)."""
    return np.rint(np.clip(prob, 0.0, 1.0) * 255.0).astype(np.uint8)


def read_probability(path: str | os.PathLike) -> np.ndarray:
    """Read a `probs/*.png` map back as float32 [H,W] in [0,1]."""
    try:
        with Image.open(path) as image:
            values = np.asarray(image.convert("L"), dtype=np.float32)
    except (FileNotFoundError, OSError) as error:
        raise DataError(f"{path}: cannot read probability map ({error}); re-run the scan") from None
    return values / 255.0


def read_boxes(scan_dir: str | os.PathLike) -> dict:
    """The `boxes.json` of a scan folder."""
    path = Path(scan_dir) / "boxes.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(
            f"{path}: not found; {scan_dir} is not a scan folder (run `lsevos scan` first)"
        ) from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: invalid JSON ({error}); re-run the scan") from None


def write_scan(
    results: Iterable[FrameResult],
    out_dir: str | os.PathLike,
    metadata: Mapping[str, object],
    total: int | None = None,
    progress: Progress | None = None,
    owner: str = "scan",
) -> int:
    """Write masks, probabilities and boxes.json of a stream of results atomically; returns the count.

    The folder is marked as an `owner` output (`lsevos.data.io.OUTPUT_MARKER`); an existing non-empty
    folder without that marker is refused, never emptied. The last progress line gives the scan's speed
    (network, tracking and writing; model loading excluded).
    """
    started = time.perf_counter()
    frames: dict[str, list[int] | None] = {}
    search: dict[str, list[int] | None] = {}
    image_size: list[int] | None = None
    with atomic_output(out_dir, owner=owner) as temporary:
        (temporary / "masks").mkdir(parents=True)
        (temporary / "probs").mkdir()
        for result in results:
            write_mask(temporary / "masks" / f"{result.name}.png", result.mask)
            Image.fromarray(probability_to_png(result.prob), mode="L").save(
                temporary / "probs" / f"{result.name}.png"
            )
            frames[result.name] = None if result.object_box is None else list(result.object_box)
            search[result.name] = None if result.search_box is None else list(result.search_box)
            image_size = list(result.mask.shape)
            if progress is not None:
                count = f"{len(frames)}/{total}" if total else f"{len(frames)}"
                progress(
                    f"scan {Path(out_dir).name}: frame {count} ({result.name}) box={frames[result.name]}"
                )
        if not frames:
            raise DataError(f"{out_dir}: the video has no frames")
        document = {**metadata, "image_size": image_size, "frames": frames, "search": search}
        (temporary / "boxes.json").write_text(json.dumps(document, indent=1))
    if progress is not None:
        seconds = time.perf_counter() - started
        progress(
            f"scan {Path(out_dir).name}: {len(frames)} frames in {seconds:.1f} s "
            f"({len(frames) / max(seconds, 1e-9):.1f} frames/s)"
        )
    return len(frames)


def scan_metadata(settings: VideoSettings, mode: str) -> dict[str, object]:
    return {
        "mode": mode,
        "enlarge": settings.enlarge,
        "crop_size": settings.crop_size,
        "threshold": settings.threshold,
    }
