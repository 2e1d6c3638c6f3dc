"""GrabCut baseline of Table 1: OpenCV GrabCut inside the ground-truth box of every frame.

Protocol (as the metric oracle): the tight box of the GT object enlarged by `margin` pixels on every side
and clipped to the image, `cv2.grabCut(frame_bgr, mask, rect, ..., iterations, GC_INIT_WITH_RECT)` with
`cv2.setRNGSeed(0)` before every call; the prediction is {GC_FGD, GC_PR_FGD}.

Fallback: GrabCut needs background pixels outside the rectangle. When the enlarged box covers the whole
frame, the tight GT box is used instead; when that covers the whole frame too (or OpenCV still fails,
e.g. with fewer foreground pixels than mixture components) the prediction is the box itself. A frame
with an empty GT gives an empty prediction. Each fallback is reported on stderr with the frame.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsevos.data.davis import DavisDataset
from lsevos.data.io import read_frame, read_mask, write_mask
from lsevos.errors import ConfigError, DataError

Box = tuple[int, int, int, int]


def enlarged_box(mask: np.ndarray, margin: int) -> Box | None:
    """Inclusive box (x0, y0, x1, y1) of the non-zero pixels of `mask [H, W]`, grown by `margin` pixels
    and clipped to the image; None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    height, width = mask.shape
    return (
        max(int(cols[0]) - margin, 0),
        max(int(rows[0]) - margin, 0),
        min(int(cols[-1]) + margin, width - 1),
        min(int(rows[-1]) + margin, height - 1),
    )


def _covers_image(box: Box, shape: tuple[int, int]) -> bool:
    return box[0] == 0 and box[1] == 0 and box[2] == shape[1] - 1 and box[3] == shape[0] - 1


def _box_mask(box: Box, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[box[1] : box[3] + 1, box[0] : box[2] + 1] = 1
    return mask


def grabcut_in_box(frame_rgb: np.ndarray, box: Box, iterations: int) -> np.ndarray:
    """GrabCut foreground `uint8 [H, W]` in {0, 1} of an RGB frame `uint8 [H, W, 3]` initialised with the
    inclusive `box`; raises `cv2.error` when OpenCV cannot fit its colour models."""
    import cv2

    bgr = np.ascontiguousarray(frame_rgb[:, :, ::-1])
    labels = np.zeros(bgr.shape[:2], dtype=np.uint8)
    background_model = np.zeros((1, 65), dtype=np.float64)
    foreground_model = np.zeros((1, 65), dtype=np.float64)
    rect = (box[0], box[1], box[2] - box[0] + 1, box[3] - box[1] + 1)
    cv2.setRNGSeed(0)
    cv2.grabCut(bgr, labels, rect, background_model, foreground_model, iterations, cv2.GC_INIT_WITH_RECT)
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)


def grabcut_frame(
    frame_rgb: np.ndarray, gt: np.ndarray, margin: int = 10, iterations: int = 5, where: str = "frame"
) -> np.ndarray:
    """Table 1 GrabCut prediction `uint8 [H, W]` in {0, 1} for one frame and its GT ids `[H, W]`, with the
    documented fallbacks (reported on stderr, naming `where`)."""
    import cv2

    shape = gt.shape
    if frame_rgb.shape[:2] != shape:
        raise DataError(f"{where}: frame size {frame_rgb.shape[:2]} differs from its mask {shape}")
    box = enlarged_box(gt > 0, margin)
    if box is None:
        return np.zeros(shape, dtype=np.uint8)
    if _covers_image(box, shape):
        box = enlarged_box(gt > 0, 0)
        if _covers_image(box, shape):
            print(f"grabcut: {where}: the GT box covers the whole frame; predicting the box", file=sys.stderr)
            return _box_mask(box, shape)
        print(f"grabcut: {where}: enlarged box covers the frame; using the tight GT box", file=sys.stderr)
    try:
        return grabcut_in_box(frame_rgb, box, iterations)
    except cv2.error as error:
        reason = str(error).strip().splitlines()[-1]
        print(f"grabcut: {where}: OpenCV failed ({reason}); predicting the box", file=sys.stderr)
        return _box_mask(box, shape)


def check_grabcut_settings(margin: int, iterations: int, jobs: int = 1) -> None:
    """Refuse settings GrabCut cannot use: `margin` < 0, `iterations` < 1 or `jobs` < 1 (`ConfigError`)."""
    if margin < 0:
        raise ConfigError(f"--margin {margin}: the margin is pixels added around the GT box; give 0 or more")
    if iterations < 1:
        raise ConfigError(f"--iterations {iterations}: GrabCut needs at least 1 iteration")
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: give at least 1 worker process")


@dataclass(frozen=True)
class _FrameJob:
    frame_path: Path
    mask_path: Path
    out_path: Path
    margin: int
    iterations: int


def _run_job(job: _FrameJob) -> Path:
    import cv2

    cv2.setNumThreads(1)
    prediction = grabcut_frame(
        read_frame(job.frame_path), read_mask(job.mask_path), job.margin, job.iterations, str(job.frame_path)
    )
    write_mask(job.out_path, prediction)
    return job.out_path


def run_grabcut(
    data_root: str | os.PathLike,
    out: str | os.PathLike,
    sequences: list[str] | None = None,
    margin: int = 10,
    iterations: int = 5,
    jobs: int = 2,
    flat: bool = False,
) -> int:
    """Write GrabCut masks for every frame of `sequences` (default: the val list) of a DAVIS-layout dataset.

    Masks go to `out/<seq>/<frame>.png` (the results layout), or straight into `out` with `flat=True`
    (one sequence only). Each sequence folder is written to a temporary name and renamed when complete,
    marked as a `grabcut` output; before any work, every folder to be written is checked: an existing
    folder is replaced only if it is empty or an earlier grabcut output, and `out` must not be inside the
    dataset or hold it. Returns the number of frames.
    """
    from lsevos.data.io import atomic_output, check_not_overlapping, check_writable, prepare_output_folder
    from lsevos.evaluation.evaluate import worker_pool

    check_grabcut_settings(margin, iterations, jobs)
    dataset = DavisDataset(data_root, sequences=sequences)
    if flat and len(dataset.sequences) != 1:
        raise DataError(f"--layout flat writes one sequence; got {len(dataset.sequences)}: pass --sequences")
    out = Path(out)
    check_not_overlapping(out, [data_root])
    check_writable(out, "--out", "folder")
    targets = {name: out if flat else out / name for name in dataset.sequences}
    for target in targets.values():
        prepare_output_folder(
            target, "grabcut", [data_root], "--out" if flat else "a sequence folder of --out"
        )
    total = 0
    for name in dataset.sequences:
        sequence = dataset.sequence(name)
        target = targets[name]
        with atomic_output(target, owner="grabcut") as temporary:
            temporary.mkdir(parents=True)
            frame_jobs = [
                _FrameJob(frame, mask, temporary / f"{frame.stem}.png", margin, iterations)
                for frame, mask in zip(sequence.frame_paths, sequence.mask_paths, strict=True)
            ]
            if jobs <= 1:
                results: Iterable[Path] = map(_run_job, frame_jobs)
                pool = None
            else:
                pool = worker_pool(min(jobs, len(frame_jobs)))
                results = pool.imap(_run_job, frame_jobs)
            try:
                for index, _ in enumerate(results, start=1):
                    if index % 10 == 0 or index == len(frame_jobs):
                        print(
                            f"grabcut {name}: {index}/{len(frame_jobs)} frames", file=sys.stderr, flush=True
                        )
            finally:
                if pool is not None:
                    pool.terminate()
        total += len(frame_jobs)
    return total
