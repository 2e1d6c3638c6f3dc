"""Scan folders on disk: the one module that reads and writes them (the tracker itself has no file I/O).

Scan folder: `masks/<name>.png` (indexed, ids 0/1), `probs/<name>.png` (uint8 = round(255 p)) and
`boxes.json` = {"frames": {name: object box of the mask or null}, "search": {name: crop box or null},
"enlarge", "mode", "crop_size", "threshold", "image_size": [H, W]}. The folder is written under a temporary
name and renamed when complete, with the marker file `.lsevos-output` ("scan") that lets the next scan
replace it.

Label folder (`lsevos pseudo-labels`): `<name>.png` per frame (indexed PNG with ids 0/1/255, the scan-1
labelling rule of `lsevos.video.pseudo_labels`) and the scan's `boxes.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from lsevos.data.io import atomic_output, write_mask
from lsevos.errors import DataError
from lsevos.progress import Meter, Progress
from lsevos.video.pseudo_labels import scan_labels
from lsevos.video.settings import VideoSettings

if TYPE_CHECKING:  # the results written are the tracker's; this module only reads their fields
    from lsevos.video import tracker


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


def scan_crops(scan_dir: str | os.PathLike, names: Iterable[str]) -> dict:
    """A scan's search boxes ({frame name: [x0, y0, x1, y1] or None}) from its `boxes.json`, checked to
    cover the frames `names`."""
    document = read_boxes(scan_dir)
    search = document.get("search")
    if not isinstance(search, dict) or set(search) != set(names):
        raise DataError(
            f"{Path(scan_dir) / 'boxes.json'}: its frames are not those of the video being scanned; give the "
            "scan-1 folder of these frames"
        )
    return search


def write_scan(
    results: Iterable[tracker.FrameResult],
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
    meter = None if progress is None else Meter(total or 1, f"scan {Path(out_dir).name}", "frame", progress)
    frames: dict[str, list[int] | None] = {}
    search: dict[str, list[int] | None] = {}
    recovery: dict[str, str] = {}
    image_size: list[int] | None = None
    with atomic_output(out_dir, owner=owner) as temporary:
        (temporary / "masks").mkdir(parents=True)
        (temporary / "probs").mkdir()
        for result in results:
            write_mask(temporary / "masks" / f"{result.name}.png", result.mask)
            # zlib level 1: the same pixels, ~3x faster to encode than PIL's default 6 (the probability
            # PNG was most of a scan's own cost, benchmarks/bench_video.py), files ~15% larger
            Image.fromarray(probability_to_png(result.prob), mode="L").save(
                temporary / "probs" / f"{result.name}.png", compress_level=1
            )
            frames[result.name] = None if result.object_box is None else list(result.object_box)
            search[result.name] = None if result.search_box is None else list(result.search_box)
            if result.recovery:
                recovery[result.name] = result.recovery
            image_size = list(result.mask.shape)
            if meter is not None:
                meter.update(1, f"box {frames[result.name]}")
        if not frames:
            raise DataError(f"{out_dir}: the video has no frames")
        document = {**metadata, "image_size": image_size, "frames": frames, "search": search}
        if recovery:
            document["recovery"] = recovery
        (temporary / "boxes.json").write_text(json.dumps(document, indent=1))
    if meter is not None:
        meter.close(summary=False)  # the speed line below is the summary (benchmarks read it)
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


def write_scan_labels(
    scan_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    threshold: float,
    margin: float,
    progress: Progress | None = None,
    labels: Iterable[tuple[str, np.ndarray]] | None = None,
) -> int:
    """Turn every `probs/*.png` of a scan folder into a label PNG in `out_dir` (atomic, marked as a
    `pseudo-labels` output: an existing folder is replaced only if it is one); returns the count.

    `labels`: the frames' labels already made from the scan in memory (`lsevos.video.adaptation.Scan`),
    (name, uint8 [H,W]) in the scan's frame order: written instead of reading the PNGs back."""
    scan_dir = Path(scan_dir)
    boxes = read_boxes(scan_dir)
    names = list(boxes.get("frames", {}))
    if not names:
        raise DataError(f"{scan_dir / 'boxes.json'}: lists no frames; re-run the scan")
    meter = None if progress is None else Meter(len(names), "pseudo-labels", "frame", progress)
    with atomic_output(out_dir, owner="pseudo-labels") as temporary:
        temporary.mkdir(parents=True)
        given = None if labels is None else iter(labels)
        for name in names:
            if given is None:
                values = scan_labels(read_probability(scan_dir / "probs" / f"{name}.png"), threshold, margin)
            else:
                given_name, values = next(given)
                if given_name != name:
                    raise DataError(f"{scan_dir}: the labels of frame {given_name} came for frame {name}")
            write_mask(temporary / f"{name}.png", values)
            if meter is not None:
                meter.update(1)
        shutil.copyfile(scan_dir / "boxes.json", temporary / "boxes.json")
    if meter is not None:
        meter.close()
    return len(names)
