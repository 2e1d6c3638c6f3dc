"""Figures (matplotlib, Agg): per-attribute J bars, per-frame J curves, qualitative overlays (Fig. 7 style).

Every figure is written atomically as PNG.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from lsevos.data.io import atomic_output, davis_palette, list_frames, natural_key, read_frame, read_mask
from lsevos.errors import DataError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, out: str | os.PathLike) -> Path:
    out = Path(out)
    with atomic_output(out) as temporary:
        figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(figure)
    return out


def attribute_bars(per_variant: dict[str, dict[str, tuple[float, int]]], out: str | os.PathLike) -> Path:
    """Grouped bars of mean J (%) per attribute, one bar per variant.

    `per_variant`: {variant label: {attribute: (mean J fraction, sequences)}}.
    """
    plt = _pyplot()
    codes = sorted(set().union(*(table.keys() for table in per_variant.values())))
    if not codes:
        raise DataError("no attributes to plot: the evaluated sequences carry no db_info.yml attributes")
    width = 0.8 / max(len(per_variant), 1)
    figure, axes = plt.subplots(figsize=(max(6.0, 0.6 * len(codes) * len(per_variant)), 3.5))
    positions = np.arange(len(codes))
    for index, (label, table) in enumerate(per_variant.items()):
        heights = [100.0 * table[code][0] if code in table else 0.0 for code in codes]
        axes.bar(positions + (index - (len(per_variant) - 1) / 2) * width, heights, width, label=label)
    axes.set_xticks(positions, codes)
    axes.set_ylabel("mean J (%)")
    axes.set_ylim(0, 100)
    axes.legend(ncols=len(per_variant), fontsize="small")
    axes.set_title("Mean J per DAVIS attribute")
    return _save(figure, out)


def per_frame_curves(
    per_variant: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]], out: str | os.PathLike
) -> Path:
    """One panel per sequence with the per-frame J of each variant.

    `per_variant`: {variant label: {sequence: (frames int [L], J [L], F [L])}} (as `read_per_frame`).
    """
    plt = _pyplot()
    sequences = sorted(set().union(*(table.keys() for table in per_variant.values())), key=natural_key)
    if not sequences:
        raise DataError("no per-frame values to plot; evaluate with --per-frame first")
    columns = min(4, len(sequences))
    rows = math.ceil(len(sequences) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.6 * rows), squeeze=False)
    for panel, name in zip(axes.flat, sequences, strict=False):
        for label, table in per_variant.items():
            if name in table:
                frames, j, _ = table[name]
                panel.plot(frames, j, label=label, linewidth=1.2)
        panel.set_title(name, fontsize="small")
        panel.set_ylim(0, 1.02)
        panel.set_xlabel("frame", fontsize="small")
        panel.set_ylabel("J", fontsize="small")
    for panel in list(axes.flat)[len(sequences) :]:
        panel.axis("off")
    axes.flat[0].legend(fontsize="x-small")
    figure.tight_layout()
    return _save(figure, out)


def read_boxes(path: str | os.PathLike) -> dict[str, list[float] | None]:
    """{frame name: [x0, y0, x1, y1] or None} from a scan's `boxes.json`; `DataError` naming the file."""
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: boxes file not found; pass the boxes.json of the scan") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error}); re-run the scan that wrote it") from None
    frames = content.get("frames") if isinstance(content, dict) else None
    if not isinstance(frames, dict):
        raise DataError(f'{path}: expected {{"frames": {{name: [x0, y0, x1, y1] or null}}, ...}}')
    return frames


def overlay(frame: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """RGB `uint8 [H, W, 3]`: `frame` with each object id of `mask [H, W]` tinted in its DAVIS colour."""
    colours = davis_palette().astype(np.float32)
    blended = frame.astype(np.float32)
    inside = mask > 0
    blended[inside] = (1 - alpha) * blended[inside] + alpha * colours[mask[inside]]
    return blended.round().astype(np.uint8)


def qualitative_figure(
    frames_dir: str | os.PathLike,
    masks_dir: str | os.PathLike,
    boxes_path: str | os.PathLike,
    out: str | os.PathLike,
    count: int = 4,
) -> Path:
    """A row of `count` evenly spaced frames with the mask overlay and the estimated box (Fig. 7 style)."""
    plt = _pyplot()
    masks = {path.stem: path for path in Path(masks_dir).glob("*.png")}
    if not masks:
        raise DataError(f"{masks_dir}: no mask PNGs; pass the masks folder of a scan")
    frames = {path.stem: path for path in list_frames(frames_dir)}
    boxes = read_boxes(boxes_path)
    names = sorted(masks, key=natural_key)
    missing = [name for name in names if name not in frames]
    if missing:
        raise DataError(
            f"{masks[missing[0]]}: no frame {missing[0]} in {frames_dir}; pass the matching frames"
        )
    picks = sorted(
        {names[int(i)] for i in np.linspace(0, len(names) - 1, min(count, len(names)))}, key=natural_key
    )
    figure, axes = plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 2.4), squeeze=False)
    for panel, name in zip(axes[0], picks, strict=True):
        frame, mask = read_frame(frames[name]), read_mask(masks[name])
        if frame.shape[:2] != mask.shape:
            raise DataError(f"{masks[name]}: mask size {mask.shape} differs from frame {frames[name]}")
        panel.imshow(overlay(frame, mask))
        box = boxes.get(name)
        if box is not None:
            x0, y0, x1, y1 = box
            panel.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="yellow", lw=1.5))
        panel.set_title(name, fontsize="small")
        panel.axis("off")
    figure.tight_layout()
    return _save(figure, out)
