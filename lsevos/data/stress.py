"""Stress suite: videos made from annotated DAVIS sequences that reproduce known failure modes of
box-initialised tracking, with their ground truth, in the DAVIS 2016 layout (so that the workflow segments
and evaluates them like any sequence).

Modes (sequence names in brackets; `<src>` is the sequence whose object is the target):

- `small` (`small-<src>-on-<bg>`): the target, cut with its mask and scaled down to 0.5-1% of the frame area,
  alpha-pasted into the frames of another sequence `<bg>` (whose own object stays, unannotated), moving
  with half of its own motion. Ground truth: the pasted footprint (alpha >= 0.5).
- `grow` (`grow-<src>`): a crop that follows the object and zooms in, resized back to the frame size, so
  that the object's area grows `GROW_FACTOR` times over the first `GROW_FRAMES` frames (the zoom then
  holds). Ground truth: the source mask warped the same way.
- `distractor` (`distractor-<src>`): a second object pasted beside the target and moving with it: a mirrored
  copy of the target (`lookalike`) or another sequence's object, larger and with a stronger contrast
  (`salient`). The target stays in front where they overlap; ground truth: the target only.
- `part` (`part-<src>`): video and ground truth unchanged, plus a degraded first-frame label
  `FirstFrameLabels/480p/<seq>/00000.png` that covers only the top half (by rows of the object's box) of
  the object; the object's box is still the whole object's.

`plan_suite` chooses which source serves which mode (from the first frames' masks only, deterministic from
the seed); `build_sequence` renders one sequence in memory; `write_suite` writes the whole suite, with
`stress.json` (mode, sources and parameters of each sequence), `ImageSets/480p/val.txt` and
`Annotations/db_info.yml` (the source's attribute codes, plus LR for `small` and SV for `grow`).
"""

from __future__ import annotations

import io
import json
import math
import shutil
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from lsevos.data.davis import DavisDataset
from lsevos.data.io import atomic_output, read_frame, read_mask
from lsevos.errors import DataError

MODES = ("small", "grow", "distractor", "part")
OWNER = "stress-suite"
"""Marker of a folder written by `lsevos stress-suite` (see `lsevos.data.io.OUTPUT_MARKER`)."""
SUITE_FILE = "stress.json"
FIRST_LABELS = Path("FirstFrameLabels") / "480p"

SMALL_FRACTION = (0.005, 0.01)  # frame-0 area of the pasted object, as a fraction of the frame
SMALL_MOTION = 0.5  # the pasted object moves with this fraction of its source motion
SMALL_CANDIDATES = 64  # start positions tried; the one least over the background's own object wins
GROW_FACTOR = 3.0  # object area at frame GROW_FRAMES over frame 0
GROW_FRAMES = 10
GROW_MIN_RATIO = 2.7  # a source serves `grow` only if the zoom reaches this area ratio (objects that fit)
DISTRACTOR_KINDS = ("lookalike", "salient")
SALIENT_AREA = 1.5  # frame-0 area of the salient distractor over the target's
SALIENT_CONTRAST = 1.5  # contrast gain of the salient distractor around its mean colour
DISTRACTOR_OVERLAP = 0.1  # the distractor's box overlaps the target's by this fraction of the narrower width
DISTRACTOR_MIN_FIT = 0.8  # a source serves `distractor` if the pasted copy fits in this share of frames
JPEG_QUALITY = 95
MODE_ATTRIBUTES = {"small": ["LR"], "grow": ["SV"], "distractor": [], "part": []}
"""DAVIS attribute codes a mode adds to its source's: LR (box under 10% of the frame), SV (area ratio > 2)."""


@dataclass
class StressSpec:
    """One stress sequence: `mode`, the target's `source` sequence, `other` (the background of `small`, the
    salient distractor's sequence), `kind` (the distractor's kind) and the parameters the build used."""

    name: str
    mode: str
    source: str
    other: str | None = None
    kind: str | None = None
    params: dict = field(default_factory=dict)


@dataclass
class StressVideo:
    """A rendered stress sequence: `frames uint8 [T, H, W, 3]` (None for `part`: the source frames are
    copied), `masks bool [T, H, W]` (ground truth), `first_label bool [H, W]` (`part` only) and
    `pasted bool [T, H, W]` (`small`: the pasted footprint; `distractor`: the distractor's visible pixels)."""

    spec: StressSpec
    frames: np.ndarray | None
    masks: np.ndarray
    first_label: np.ndarray | None = None
    pasted: np.ndarray | None = None


@dataclass
class Clip:
    """The first frames of a source sequence: masks `bool [T, H, W]`, frames read on demand."""

    name: str
    frame_paths: list[Path]
    masks: np.ndarray

    def frame(self, index: int) -> np.ndarray:
        return read_frame(self.frame_paths[index]).astype(np.float32)

    @property
    def size(self) -> tuple[int, int]:
        return self.masks.shape[1], self.masks.shape[2]


def load_clips(dataset: DavisDataset, sources: list[str], frames: int) -> dict[str, Clip]:
    """`load_clip` of each source, in order; a name listed twice is a `DataError`."""
    if len(set(sources)) != len(sources):
        raise DataError(f"--sequences: {','.join(sources)} lists a sequence twice; list each once")
    return {name: load_clip(dataset, name, frames) for name in sources}


def load_clip(dataset: DavisDataset, name: str, frames: int) -> Clip:
    """Masks of the first `frames` frames of `name` (object ids > 0 are the object); `DataError` if the
    sequence is shorter or its first mask is empty."""
    sequence = dataset.sequence(name)
    if len(sequence) < frames:
        raise DataError(
            f"{dataset.masks_dir / name}: {len(sequence)} frames, fewer than --frames {frames}; "
            "lower --frames or leave this sequence out"
        )
    masks = np.stack([read_mask(path) > 0 for path in sequence.mask_paths[:frames]])
    if not masks[0].any():
        raise DataError(
            f"{sequence.mask_paths[0]}: the first mask is empty; a stress source needs its object in frame 0"
        )
    return Clip(name, sequence.frame_paths[:frames], masks)


# ------------------------------------------------------------------------------------------------ geometry
def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) inclusive of a non-empty mask, else None."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def _boxes(masks: np.ndarray) -> np.ndarray:
    """float [T, 4] boxes; a frame without the object keeps the previous frame's box."""
    boxes, last = [], None
    for mask in masks:
        box = _box(mask)
        last = box if box is not None else last
        boxes.append(last)
    return np.array(boxes, dtype=np.float64)


def _centres(boxes: np.ndarray, radius: int = 2) -> np.ndarray:
    """Box centres [T, 2] (x, y), smoothed by a moving mean over +-`radius` frames."""
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    return _smooth(centres, radius)


def _smooth(values: np.ndarray, radius: int) -> np.ndarray:
    count = len(values)
    return np.stack(
        [values[max(0, t - radius) : min(count, t + radius + 1)].mean(axis=0) for t in range(count)]
    )


def _rng(seed: int, *names: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(name.encode()) for name in names)])


# ------------------------------------------------------------------------------------------ cut and paste
def _cut(frame: np.ndarray, mask: np.ndarray, scale: float, flip: bool = False):
    """The object of `frame` under `mask`, scaled by `scale`: (premultiplied colour float [h, w, 3], alpha
    float [h, w]), or None when the mask is empty."""
    box = _box(mask)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    alpha = mask[y0 : y1 + 1, x0 : x1 + 1].astype(np.float32)
    colour = frame[y0 : y1 + 1, x0 : x1 + 1] * alpha[..., None]
    if flip:
        alpha, colour = alpha[:, ::-1], colour[:, ::-1]
    width = max(1, round((x1 - x0 + 1) * scale))
    height = max(1, round((y1 - y0 + 1) * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small_alpha = cv2.resize(np.ascontiguousarray(alpha), (width, height), interpolation=interpolation)
    small_colour = cv2.resize(np.ascontiguousarray(colour), (width, height), interpolation=interpolation)
    return small_colour.reshape(height, width, 3), np.clip(small_alpha, 0.0, 1.0).reshape(height, width)


def _paste(canvas: np.ndarray, piece, centre: tuple[float, float]) -> np.ndarray:
    """Alpha-composite `piece` (from `_cut`) onto `canvas` (float [H, W, 3], in place) with its centre at
    `centre` (x, y); returns the frame-sized alpha (float [H, W]), zero outside the piece."""
    height, width = canvas.shape[:2]
    alpha_full = np.zeros((height, width), dtype=np.float32)
    if piece is None:
        return alpha_full
    colour, alpha = piece
    h, w = alpha.shape
    left, top = round(centre[0] - w / 2), round(centre[1] - h / 2)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + w, width), min(top + h, height)
    if x0 >= x1 or y0 >= y1:
        return alpha_full
    a = alpha[y0 - top : y1 - top, x0 - left : x1 - left]
    c = colour[y0 - top : y1 - top, x0 - left : x1 - left]
    region = canvas[y0:y1, x0:x1]
    region[:] = region * (1 - a[..., None]) + c
    alpha_full[y0:y1, x0:x1] = a
    return alpha_full


# ------------------------------------------------------------------------------------------------- modes
def make_small(source: Clip, background: Clip, seed: int, name: str) -> StressVideo:
    """`small`: `source`'s object scaled to 0.5-1% of the frame, pasted into `background`'s frames."""
    if background.size != source.size:
        raise DataError(
            f"{background.name}: frame size {background.size} differs from {source.name}'s {source.size}; "
            "a background must have its object's frame size"
        )
    rng = _rng(seed, name)
    height, width = source.size
    fraction = float(rng.uniform(*SMALL_FRACTION))
    scale = min(1.0, math.sqrt(fraction * height * width / source.masks[0].sum()))
    boxes = _boxes(source.masks)
    sizes = (boxes[:, 2:] - boxes[:, :2] + 1) * scale
    centres = _centres(boxes)
    offsets = SMALL_MOTION * (centres - centres[0])
    # centre positions at frame 0 that keep the pasted box inside the frame at every frame
    low = np.max(sizes / 2 - offsets, axis=0) + 2
    high = np.min(np.array([width, height]) - sizes / 2 - offsets, axis=0) - 2
    high = np.maximum(high, low)
    candidates = rng.uniform(low, high, size=(SMALL_CANDIDATES, 2))
    start = min(candidates, key=lambda candidate: _overlap(candidate, offsets, sizes, background.masks))
    frames, masks = [], []
    for t in range(len(source.masks)):
        canvas = background.frame(t)
        piece = _cut(source.frame(t), source.masks[t], scale)
        alpha = _paste(canvas, piece, tuple(start + offsets[t]))
        frames.append(np.clip(np.rint(canvas), 0, 255).astype(np.uint8))
        masks.append(alpha >= 0.5)
    footprint = np.stack(masks)
    spec = StressSpec(
        name,
        "small",
        source.name,
        background.name,
        params={
            "scale": round(scale, 4),
            "area_fraction_frame0": round(float(footprint[0].mean()), 5),
            "motion_scale": SMALL_MOTION,
            "start_centre": [round(float(v), 1) for v in start],
        },
    )
    return StressVideo(spec, np.stack(frames), footprint, pasted=footprint.copy())


def _overlap(start: np.ndarray, offsets: np.ndarray, sizes: np.ndarray, masks: np.ndarray) -> int:
    """Pixels of `masks` inside the pasted boxes over all frames (boxes every 3rd frame, for speed)."""
    total = 0
    for t in range(0, len(masks), 3):
        cx, cy = start + offsets[t]
        w, h = sizes[t]
        x0, y0 = max(0, int(cx - w / 2)), max(0, int(cy - h / 2))
        total += int(masks[t, y0 : int(cy + h / 2) + 1, x0 : int(cx + w / 2) + 1].sum())
    return total


def grow_zooms(source: Clip) -> tuple[np.ndarray, np.ndarray]:
    """`grow`'s crop per frame: zoom float [T] (>= 1; the crop is the frame divided by it) and crop centre
    float [T, 2] (x, y). The zoom makes the object's area `GROW_FACTOR` times its frame-0 area at frame
    `GROW_FRAMES` (compensating the object's own size change), then holds."""
    height, width = source.size
    areas = _smooth(source.masks.sum(axis=(1, 2)).astype(np.float64), 2)
    count = len(areas)
    zooms = np.empty(count)
    for t in range(count):
        step = min(t, GROW_FRAMES)
        growth = GROW_FACTOR ** (step / GROW_FRAMES)
        zooms[t] = math.sqrt(growth * areas[0] / max(areas[step], 1.0))
    zooms = np.maximum(zooms, 1.0)
    centres = _centres(_boxes(source.masks))
    half = np.stack([width / (2 * zooms), height / (2 * zooms)], axis=1)
    centres = np.clip(centres, half, np.array([width, height]) - half)
    return zooms, centres


def _zoom(image: np.ndarray, zoom: float, centre: np.ndarray, interpolation: int) -> np.ndarray:
    height, width = image.shape[:2]
    x0, y0 = centre[0] - width / (2 * zoom), centre[1] - height / (2 * zoom)
    matrix = np.array([[zoom, 0, -zoom * x0], [0, zoom, -zoom * y0]], dtype=np.float64)
    return cv2.warpAffine(
        image, matrix, (width, height), flags=interpolation, borderMode=cv2.BORDER_REPLICATE
    )


def grow_mask(source: Clip, t: int, zooms: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Frame `t`'s mask under `grow`'s crop (bilinear, then >= 0.5)."""
    warped = _zoom(source.masks[t].astype(np.float32), zooms[t], centres[t], cv2.INTER_LINEAR)
    return warped >= 0.5


def make_grow(source: Clip, name: str) -> StressVideo:
    """`grow`: a zooming crop of `source`, resized back to the frame size."""
    zooms, centres = grow_zooms(source)
    frames, masks = [], []
    for t in range(len(source.masks)):
        frame = _zoom(source.frame(t), zooms[t], centres[t], cv2.INTER_LINEAR)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        masks.append(grow_mask(source, t, zooms, centres))
    warped = np.stack(masks)
    ratio = warped[min(GROW_FRAMES, len(warped) - 1)].sum() / max(int(warped[0].sum()), 1)
    spec = StressSpec(
        name,
        "grow",
        source.name,
        params={
            "factor": GROW_FACTOR,
            "over_frames": GROW_FRAMES,
            "area_ratio": round(float(ratio), 3),
            "zooms": [round(float(z), 4) for z in zooms],
        },
    )
    return StressVideo(spec, np.stack(frames), warped)


def _distractor_piece(kind: str, source: Clip, other: Clip | None, t: int, scale: float):
    if kind == "lookalike":
        return _cut(source.frame(t), source.masks[t], 1.0, flip=True)
    piece = _cut(other.frame(t), other.masks[t], scale)
    if piece is None:
        return None
    colour, alpha = piece
    weight = max(float(alpha.sum()), 1e-6)
    mean = (colour.reshape(-1, 3).sum(axis=0) / weight).astype(np.float32)
    straight = colour / np.maximum(alpha[..., None], 1e-6)
    boosted = np.clip(mean + SALIENT_CONTRAST * (straight - mean), 0, 255)
    return boosted * alpha[..., None], alpha


def distractor_layout(source: Clip, other: Clip | None, kind: str) -> tuple[float, float, np.ndarray, float]:
    """(scale of the distractor, side -1 left / +1 right, offset of its centre from the target's [2], share
    of frames where it fits in the frame): the side with more room wins (right on a tie)."""
    height, width = source.size
    target_boxes = _boxes(source.masks)
    tw, th = target_boxes[0, 2:] - target_boxes[0, :2] + 1
    if kind == "lookalike":
        scale, other_box = 1.0, target_boxes[0]
    else:
        other_box = _boxes(other.masks[:1])[0]
        scale = math.sqrt(SALIENT_AREA * source.masks[0].sum() / other.masks[0].sum())
        ow, oh = other_box[2:] - other_box[:2] + 1
        scale = min(scale, 0.8 * width / ow, 0.8 * height / oh)
    dw, dh = (other_box[2:] - other_box[:2] + 1) * scale
    centres = _centres(target_boxes)
    best = None
    for side in (1.0, -1.0):
        dx = side * ((tw + dw) / 2 - DISTRACTOR_OVERLAP * min(tw, dw))
        offset = np.array([dx, (th - dh) / 2])  # bottoms aligned at frame 0
        placed = centres + offset
        fits = (
            (placed[:, 0] - dw / 2 >= 0)
            & (placed[:, 0] + dw / 2 <= width)
            & (placed[:, 1] - dh / 2 >= 0)
            & (placed[:, 1] + dh / 2 <= height)
        )
        share = float(fits.mean())
        if best is None or share > best[3]:
            best = (scale, side, offset, share)
    return best


def make_distractor(source: Clip, other: Clip | None, kind: str, name: str) -> StressVideo:
    """`distractor`: a `lookalike` (mirrored copy of the target) or a `salient` object of `other` pasted
    beside the target, moving with it; the target stays in front; ground truth: the target only."""
    if kind not in DISTRACTOR_KINDS:
        raise DataError(f"distractor kind {kind!r}: choose one of {', '.join(DISTRACTOR_KINDS)}")
    if kind == "salient" and (other is None or other.size != source.size):
        raise DataError(f"{name}: a salient distractor needs another sequence of the same frame size")
    scale, side, offset, share = distractor_layout(source, other, kind)
    centres = _centres(_boxes(source.masks))
    frames, pasted = [], []
    for t in range(len(source.masks)):
        original = source.frame(t)
        canvas = original.copy()
        alpha = _paste(canvas, _distractor_piece(kind, source, other, t, scale), tuple(centres[t] + offset))
        target = source.masks[t]
        canvas[target] = original[target]
        frames.append(np.clip(np.rint(canvas), 0, 255).astype(np.uint8))
        pasted.append((alpha >= 0.5) & ~target)
    spec = StressSpec(
        name,
        "distractor",
        source.name,
        other.name if kind == "salient" else None,
        kind,
        params={
            "scale": round(scale, 4),
            "side": "right" if side > 0 else "left",
            "offset": [round(float(v), 1) for v in offset],
            "fits_share": round(share, 3),
            **({"contrast": SALIENT_CONTRAST, "area_over_target": SALIENT_AREA} if kind == "salient" else {}),
        },
    )
    return StressVideo(spec, np.stack(frames), source.masks.copy(), pasted=np.stack(pasted))


def top_half_label(mask: np.ndarray) -> np.ndarray:
    """The object pixels of `mask` in the top half of its box's rows (the first ceil(rows / 2) rows)."""
    box = _box(mask)
    label = np.zeros_like(mask, dtype=bool)
    if box is None:
        return label
    _, y0, _, y1 = box
    end = y0 + (y1 - y0 + 2) // 2
    label[y0:end] = mask[y0:end]
    return label


def make_part(source: Clip, name: str) -> StressVideo:
    """`part`: the source unchanged, with a first-frame label of the top half of the object only."""
    label = top_half_label(source.masks[0])
    spec = StressSpec(
        name,
        "part",
        source.name,
        params={"label_share_of_object": round(float(label.sum() / source.masks[0].sum()), 4)},
    )
    return StressVideo(spec, None, source.masks.copy(), first_label=label)


# ---------------------------------------------------------------------------------------------- the plan
def plan_suite(clips: dict[str, Clip], per_mode: int, seed: int) -> list[StressSpec]:
    """Which source serves which mode: `per_mode` sequences per mode (fewer for `grow` / `distractor` when
    fewer sources suit them), each source used at most ceil(4 * per_mode / len(sources)) times, ties broken
    by the seed. `grow` takes sources whose zoom reaches an area ratio of `GROW_MIN_RATIO` (the object fits
    the zoomed crop), `distractor` those with room beside the target; `small` gets a background from
    another source. `clips`: the sources (from `load_clips`), in the order given."""
    sources = list(clips)
    frames = min(len(clip.masks) for clip in clips.values())
    if len(sources) < 2:
        raise DataError("--sequences: give at least two sequences (small and salient need another one)")
    if per_mode < 1:
        raise DataError(f"--per-mode {per_mode}: give at least 1")
    sizes = {name: clip.size for name, clip in clips.items()}
    rng = _rng(seed, "plan")
    rank = {name: float(value) for name, value in zip(sources, rng.permutation(len(sources)), strict=True)}
    limit = math.ceil(len(MODES) * per_mode / len(sources))
    uses = dict.fromkeys(sources, 0)

    def pick(eligible: list[str], count: int) -> list[str]:
        chosen = sorted((n for n in eligible if uses[n] < limit), key=lambda n: (uses[n], rank[n]))[:count]
        for n in chosen:
            uses[n] += 1
        return sorted(chosen, key=sources.index)

    def grows(name: str) -> bool:
        clip = clips[name]
        zooms, centres = grow_zooms(clip)
        end = min(GROW_FRAMES, frames - 1)
        ratio = grow_mask(clip, end, zooms, centres).sum() / max(grow_mask(clip, 0, zooms, centres).sum(), 1)
        return ratio >= GROW_MIN_RATIO

    specs: list[StressSpec] = []
    for name in pick([n for n in sources if frames > GROW_FRAMES and grows(n)], per_mode):
        specs.append(StressSpec(f"grow-{name}", "grow", name))
    fitting = [n for n in sources if distractor_layout(clips[n], None, "lookalike")[3] >= DISTRACTOR_MIN_FIT]
    for index, name in enumerate(pick(fitting, per_mode)):
        kind = DISTRACTOR_KINDS[index % 2]
        other = None
        if kind == "salient":
            others = [n for n in sources if n != name and sizes[n] == sizes[name]]
            other = min(others, key=lambda n: (rank[n] - rank[name]) % len(sources)) if others else None
            kind = kind if other else "lookalike"
        specs.append(StressSpec(f"distractor-{name}", "distractor", name, other, kind))
    backgrounds_used: set[str] = set()
    for name in pick(list(sources), per_mode):
        others = [n for n in sources if n != name and sizes[n] == sizes[name]]
        if not others:
            raise DataError(f"{name}: no other sequence of its frame size {sizes[name]} to paste it into")
        fresh = [n for n in others if n not in backgrounds_used] or others
        background = min(fresh, key=lambda n: (rank[n] - rank[name]) % len(sources))
        backgrounds_used.add(background)
        specs.append(StressSpec(f"small-{name}-on-{background}", "small", name, background))
    for name in pick(list(sources), per_mode):
        specs.append(StressSpec(f"part-{name}", "part", name))
    return sorted(specs, key=lambda spec: MODES.index(spec.mode))


def build_sequence(spec: StressSpec, clips: dict[str, Clip], seed: int) -> StressVideo:
    """Render `spec` from the loaded `clips` (its source and other sequence)."""
    source, other = clips[spec.source], clips.get(spec.other) if spec.other else None
    if spec.mode == "small":
        return make_small(source, other, seed, spec.name)
    if spec.mode == "grow":
        return make_grow(source, spec.name)
    if spec.mode == "distractor":
        return make_distractor(source, other, spec.kind, spec.name)
    if spec.mode == "part":
        return make_part(source, spec.name)
    raise DataError(f"{spec.name}: unknown stress mode {spec.mode!r}; modes: {', '.join(MODES)}")


# ------------------------------------------------------------------------------------------------ writing
def _jpeg(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _grey_png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_video(root: Path, video: StressVideo, clip: Clip) -> None:
    name = video.spec.name
    frame_dir = root / "JPEGImages" / "480p" / name
    mask_dir = root / "Annotations" / "480p" / name
    frame_dir.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    for t, mask in enumerate(video.masks):
        if video.frames is None:
            shutil.copyfile(clip.frame_paths[t], frame_dir / f"{t:05d}.jpg")
        else:
            (frame_dir / f"{t:05d}.jpg").write_bytes(_jpeg(video.frames[t]))
        (mask_dir / f"{t:05d}.png").write_bytes(_grey_png(mask))
    if video.first_label is not None:
        label_dir = root / FIRST_LABELS / name
        label_dir.mkdir(parents=True)
        (label_dir / "00000.png").write_bytes(_grey_png(video.first_label))


def _db_info(entries: list[tuple[str, list[str], int]]) -> str:
    lines = [
        "# Stress suite (lsevos.data.stress): each sequence's source attributes plus its mode's (LR, SV).",
        "attributes: [AC, BC, CS, DB, DEF, EA, FM, HO, IO, LR, MB, OCC, OV, ROT, SC, SV]",
        "sets:  [train, val, val-dev]",
        "years: [2016, 2017]",
        "",
        "sequences:",
    ]
    for name, attributes, count in entries:
        lines += [
            "",
            f"- name: {name}",
            f"  attributes: [{', '.join(attributes)}]",
            f"  num_frames: {count}",
            "  set: val",
            "  eval_t: True",
            "  year: 2016",
        ]
    return "\n".join(lines) + "\n"


def write_suite(
    out: str | Path,
    davis_root: str | Path,
    sources: list[str],
    frames: int = 30,
    per_mode: int = 4,
    seed: int = 0,
    log=None,
) -> list[StressSpec]:
    """Plan and write the stress suite to `out` (whole, atomically; marker `OWNER`); returns the specs."""
    if frames < 3:
        raise DataError(f"--frames {frames}: give at least 3 (the first and last frames are not scored)")
    dataset = DavisDataset(davis_root, sources)
    clips = load_clips(dataset, sources, frames)
    specs = plan_suite(clips, per_mode, seed)
    for mode in MODES:
        count = sum(spec.mode == mode for spec in specs)
        if count < per_mode and log is not None:
            log(
                f"stress-suite: {mode}: {count} of {per_mode} sequences; only these sources suit it "
                f"(grow needs more than {GROW_FRAMES} frames and an object that fits the zoomed crop, "
                "distractor room beside the target)"
            )
    written, entries = [], []
    with atomic_output(out, owner=OWNER) as temporary:
        for spec in specs:
            video = build_sequence(spec, clips, seed)
            _write_video(temporary, video, clips[spec.source])
            attributes = dataset.attributes(spec.source)
            attributes += [code for code in MODE_ATTRIBUTES[spec.mode] if code not in attributes]
            entries.append((spec.name, attributes, frames))
            written.append(video.spec)
            if log is not None:
                log(f"stress-suite: {spec.name} ({frames} frames)")
        (temporary / "ImageSets" / "480p").mkdir(parents=True)
        (temporary / "ImageSets" / "480p" / "val.txt").write_text("".join(f"{s.name}\n" for s in written))
        (temporary / "Annotations" / "db_info.yml").write_text(_db_info(entries))
        content = {
            "davis_root": str(davis_root),
            "sources": sources,
            "frames": frames,
            "per_mode": per_mode,
            "seed": seed,
            "sequences": [asdict(spec) for spec in written],
        }
        (temporary / SUITE_FILE).write_text(json.dumps(content, indent=2) + "\n")
    return written


def read_suite(root: str | Path) -> dict[str, str]:
    """{sequence: mode} of the suite at `root` (its `stress.json`); `DataError` naming the file."""
    path = Path(root) / SUITE_FILE
    try:
        content = json.loads(path.read_text())
        return {entry["name"]: entry["mode"] for entry in content["sequences"]}
    except FileNotFoundError:
        raise DataError(
            f"{path}: not found; build the suite with `lsevos stress-suite --out {root}`"
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise DataError(f"{path}: not a stress suite description ({error}); rebuild the suite") from None
