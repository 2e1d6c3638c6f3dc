"""Built-in synthetic benchmark, deterministic by seed, in the on-disk layouts of the real datasets.

`generate_benchmark(out_dir, seed, settings)` writes, atomically (the whole folder appears at once):

- `static/`: PASCAL VOC 2012 layout for pretraining: `JPEGImages/<name>.jpg`, `SegmentationObject/<name>.png`
  (palette PNG, instance ids 1..K, 0 background, 255 void on a 2 px band around every instance outline),
  `SegmentationClass/<name>.png` (class = shape family: 1 ellipse, 2 rounded box, 3 blob, 4 polygon; same
  void band), `ImageSets/Segmentation/{train,val,trainval}.txt`. Every image holds a group of look-alike
  instances (same shape, texture and colours, at different places) and other, different instances.
- `davis/`: DAVIS 2016 layout: `JPEGImages/480p/<seq>/NNNNN.jpg`, `Annotations/480p/<seq>/NNNNN.png`
  (grey 0/255), `Annotations/db_info.yml` (DAVIS schema and attribute codes), `ImageSets/480p/val.txt`.
  Each sequence exercises one or two DAVIS attributes (`SEQUENCE_ATTRIBUTES`); the sequences whose names
  start with `LOOKALIKE_PREFIX` have distractors of exactly the target's appearance crossing its path (IO).
- `segtrack/`: SegTrack v2 release layout: `JPEGImages/<seq>/<seq>_NNNNN.png`,
  `GroundTruth/<seq>/<obj>/<seq>_NNNNN.png` (grey 0/255); `duo` has two objects, `solo` one.
- `manifest.json`: seed, settings, sequences, and every file with its sha256 (all but the ownership
  marker `.lsevos-output`, written after the manifest).

Frames are not separable by colour alone: backgrounds are smooth blotches of the main object's own two
colours and a third, with faint stripes and mottling; objects carry sharp high-contrast textures (stripes,
checks, dots, rings) and shading, which is what separates them from the background; the frames get a
global illumination change, sensor noise and JPEG compression. Shapes are drawn without anti-aliasing, so a
mask is exactly the drawn pixels (nearer objects remove pixels from the masks of those behind them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np
from PIL import Image
from pydantic import field_validator

from lsevos.data.io import atomic_output, davis_palette
from lsevos.errors import ConfigError
from lsevos.labels import IGNORE
from lsevos.settings_base import Settings, setting

LOOKALIKE_PREFIX = "lookalike-"
DAVIS_ATTRIBUTE_CODES = tuple("AC BC CS DB DEF EA FM HO IO LR MB OCC OV ROT SC SV".split())
SHAPES = ("ellipse", "rounded_box", "blob", "polygon")
PATTERNS = ("stripes", "checker", "dots", "rings")
VOID = IGNORE  # the void band around instances, as in VOC

# Colours shared by objects and backgrounds (RGB).
PALETTE = np.array(
    [
        (200, 40, 40),  # red
        (230, 130, 30),  # orange
        (230, 210, 60),  # yellow
        (60, 160, 70),  # green
        (40, 150, 150),  # teal
        (50, 80, 190),  # blue
        (130, 60, 160),  # purple
        (230, 120, 170),  # pink
        (120, 80, 40),  # brown
        (225, 225, 215),  # off-white
        (40, 40, 45),  # near-black
        (130, 130, 130),  # grey
    ],
    dtype=np.float32,
)
_LUMA = PALETTE @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
_SHAPE_REACH = 1.25  # every shape lies within this radius of its centre, in object units


@dataclass(frozen=True)
class Appearance:
    """Shape, texture and colours of an object, in object units (the object spans radius ~1)."""

    shape: str
    shape_params: tuple[float, ...]
    pattern: str
    colours: tuple[tuple[float, float, float], tuple[float, float, float]]
    period: float
    angle: float


@dataclass(frozen=True)
class Track:
    """One object over a video: pose per frame (`[T]` arrays or constants): centre x, y and radius in px,
    rotation in rad.

    `role` is `target`, `lookalike` (identical appearance to object 1), `occluder` or `other`; `depth`
    orders drawing (higher is nearer); `appearance_end`, when given, is reached linearly at the last frame.
    """

    role: str
    appearance: Appearance
    x: np.ndarray | float
    y: np.ndarray | float
    radius: np.ndarray | float
    rotation: np.ndarray | float
    depth: int
    appearance_end: Appearance | None = None

    def pose(self, frame: int) -> tuple[float, float, float, float]:
        """(x, y, radius, rotation) at `frame`; scalar fields hold for every frame."""
        x, y, radius, rotation = (
            float(value[frame] if isinstance(value, np.ndarray) else value)
            for value in (self.x, self.y, self.radius, self.rotation)
        )
        return x, y, radius, rotation


@dataclass(frozen=True)
class SyntheticVideo:
    """A rendered video before encoding: `frames uint8 [T, H, W, 3]`, `labels uint8 [T, H, W]` (0 background,
    i = track i); `roles[i - 1]` is the role of label i; `object_ids` are the annotated labels."""

    name: str
    attributes: tuple[str, ...]
    frames: np.ndarray
    labels: np.ndarray
    roles: tuple[str, ...]
    object_ids: tuple[int, ...]


@dataclass(frozen=True)
class _SequenceSpec:
    attributes: tuple[str, ...]
    build: Callable[[np.random.Generator, int, int, np.ndarray], list[Track]]


class SyntheticSettings(Settings):
    """Sizes of the built-in benchmark (`generate_benchmark(settings=...)`); every key has a default, and
    the defaults make the demo DAG run in minutes on 2 CPU cores. The SegTrack part always holds `duo_1`,
    `duo_2` (two objects of `duo`) and `solo_1`."""

    static_train: int = setting(160, "static training images", unit="images", ge=1, le=100_000)
    static_val: int = setting(20, "static validation images", unit="images", ge=1, le=100_000)
    static_size: int = setting(128, "side of the static images", unit="px", ge=64, le=1024)
    video_width: int = setting(192, "video frame width", unit="px", ge=64, le=2048)
    video_height: int = setting(128, "video frame height", unit="px", ge=64, le=2048)
    video_frames: int = setting(24, "frames per DAVIS-part video", unit="frames", ge=8, le=10_000)
    segtrack_frames: int = setting(20, "frames per SegTrack-part video", unit="frames", ge=8, le=10_000)
    sequences: tuple[str, ...] = setting(
        meaning="DAVIS-part sequences to generate (distinct names; `SEQUENCE_ATTRIBUTES`); default: all",
        default_factory=lambda: tuple(sorted(_CATALOGUE)),
        strict=False,  # a YAML list
        min_length=1,
    )
    jpeg_quality: int = setting(90, "JPEG quality of the frames", ge=50, le=100)
    noise_std: float = setting(3.0, "sensor noise", unit="grey levels", ge=0, le=20)

    @field_validator("sequences")
    @classmethod
    def _known_distinct(cls, sequences: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in sequences if name not in _CATALOGUE]
        if unknown or len(set(sequences)) != len(sequences):
            raise ValueError(
                f"{list(sequences)!r} must be a non-empty list of distinct names from {sorted(_CATALOGUE)}"
            )
        return sequences


def parse_settings(settings: dict | None, where: str = "synthetic setting") -> SyntheticSettings:
    """Check a settings mapping against `SyntheticSettings`; unknown or ill-typed keys and values out of
    range raise `ConfigError` naming the key (below `where`)."""
    if settings is None:
        return SyntheticSettings()
    return SyntheticSettings.from_dict(settings, where)


def sequence_names(settings: dict | None = None) -> list[str]:
    """DAVIS-part sequence names (sorted) that `generate_benchmark` writes for these settings."""
    return sorted(parse_settings(settings).sequences)


def segtrack_objects(settings: dict | None = None) -> list[str]:
    """SegTrack-part targets as `<seq>_<obj>` names, the naming of the SegTrack-to-DAVIS conversion."""
    parse_settings(settings)
    return [f"{name}_{obj}" for name in sorted(_SEGTRACK) for obj in range(1, _SEGTRACK[name][0] + 1)]


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """An independent generator per (seed, part): parts do not depend on each other or on the order."""
    return np.random.default_rng(np.random.SeedSequence([seed, *(zlib.crc32(key.encode()) for key in keys)]))


# ----------------------------------------------------------------------------------------------- appearance


def _colour_pair(rng: np.random.Generator) -> tuple[int, int]:
    """Two palette indices, the first at least 50 luma levels lighter (blends between pairs keep contrast)."""
    while True:
        first, second = (int(i) for i in rng.choice(len(PALETTE), size=2, replace=False))
        if _LUMA[first] - _LUMA[second] >= 50:
            return first, second


def _random_appearance(rng: np.random.Generator, avoid: Appearance | None = None) -> Appearance:
    """A random object look; with `avoid`, one sharing no colour with it and differing in shape or pattern."""
    while True:
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        if shape == "ellipse":
            params: tuple[float, ...] = (float(rng.uniform(0.55, 0.95)),)
        elif shape == "rounded_box":
            params = (0.85, float(rng.uniform(0.45, 0.85)), float(rng.uniform(0.15, 0.35)))
        elif shape == "blob":
            params = tuple(float(a) for a in rng.uniform(0.0, 0.09, 3)) + tuple(
                float(p) for p in rng.uniform(0, 2 * np.pi, 3)
            )
        else:
            count = int(rng.integers(5, 8))
            angles = (np.arange(count) + rng.uniform(-0.3, 0.3, count)) * (2 * np.pi / count)
            params = tuple(float(a) for a in np.sort(angles % (2 * np.pi))) + tuple(
                float(r) for r in rng.uniform(0.75, 1.05, count)
            )
        pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
        first, second = _colour_pair(rng)
        look = Appearance(
            shape=shape,
            shape_params=params,
            pattern=pattern,
            colours=(tuple(PALETTE[first].tolist()), tuple(PALETTE[second].tolist())),
            period=float(rng.uniform(0.3, 0.45)),
            angle=float(rng.uniform(0, np.pi)),
        )
        if avoid is None:
            return look
        shared_colours = set(look.colours) & set(avoid.colours)
        if not shared_colours and (look.shape != avoid.shape or look.pattern != avoid.pattern):
            return look


def _blend(start: Appearance, end: Appearance, weight: float) -> Appearance:
    """`start` with colours and texture angle moved `weight` (0..1) of the way to `end`."""
    colours = cast(
        "tuple[tuple[float, float, float], tuple[float, float, float]]",
        tuple(
            tuple((1 - weight) * a + weight * b for a, b in zip(ca, cb, strict=True))
            for ca, cb in zip(start.colours, end.colours, strict=True)
        ),
    )
    return dataclasses.replace(start, colours=colours, angle=(1 - weight) * start.angle + weight * end.angle)


def _shape_mask(look: Appearance, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test in object coordinates `u, v [h, w]` -> bool `[h, w]`."""
    params = look.shape_params
    if look.shape == "ellipse":
        return u * u + (v / params[0]) ** 2 <= 1.0
    if look.shape == "rounded_box":
        half_x, half_y, corner = params
        qx = np.abs(u) - (half_x - corner)
        qy = np.abs(v) - (half_y - corner)
        outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
        return outside + np.minimum(np.maximum(qx, qy), 0) <= corner
    angle = np.arctan2(v, u) % (2 * np.pi)
    if look.shape == "blob":
        radius = np.full_like(u, 0.85)
        for harmonic, amplitude, phase in zip((2, 3, 5), params[:3], params[3:], strict=True):
            radius = radius + 0.85 * amplitude * np.cos(harmonic * angle + phase)
        return np.hypot(u, v) <= radius
    count = len(params) // 2
    vertex_angles = np.asarray(params[:count])
    vertex_radii = np.asarray(params[count:])
    vx, vy = vertex_radii * np.cos(vertex_angles), vertex_radii * np.sin(vertex_angles)
    start = (np.searchsorted(vertex_angles, angle, side="right") - 1) % count
    end = (start + 1) % count
    cross = (vx[end] - vx[start]) * (v - vy[start]) - (vy[end] - vy[start]) * (u - vx[start])
    return cross >= 0


def _texture(look: Appearance, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Colour `float32 [h, w, 3]` of the object's two-colour pattern at object coordinates `u, v`."""
    cos_a, sin_a = math.cos(look.angle), math.sin(look.angle)
    along = (u * cos_a + v * sin_a) / look.period
    across = (-u * sin_a + v * cos_a) / look.period
    if look.pattern == "stripes":
        first = along % 1.0 < 0.5
    elif look.pattern == "checker":
        first = (np.floor(along) + np.floor(across)) % 2 == 0
    elif look.pattern == "dots":
        first = (along % 1.0 - 0.5) ** 2 + (across % 1.0 - 0.5) ** 2 < 0.09
    else:
        first = (np.hypot(u, v) / look.period) % 1.0 < 0.5
    colour_a = np.asarray(look.colours[0], dtype=np.float32)
    colour_b = np.asarray(look.colours[1], dtype=np.float32)
    return np.where(first[..., None], colour_a, colour_b)


def _draw(
    canvas: np.ndarray,
    labels: np.ndarray,
    label: int,
    look: Appearance,
    x: float,
    y: float,
    radius: float,
    rotation: float,
) -> None:
    """Paint one object into `canvas float32 [H, W, 3]` and write `label` into `labels [H, W]` where drawn."""
    height, width = labels.shape
    reach = _SHAPE_REACH * radius
    x0, x1 = max(int(math.floor(x - reach)), 0), min(int(math.ceil(x + reach)) + 1, width)
    y0, y1 = max(int(math.floor(y - reach)), 0), min(int(math.ceil(y + reach)) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return
    rows, cols = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = (cols - x) / radius, (rows - y) / radius
    cos_r, sin_r = math.cos(rotation), math.sin(rotation)
    u, v = cos_r * dx + sin_r * dy, -sin_r * dx + cos_r * dy
    inside = _shape_mask(look, u, v)
    shade = 1.0 + 0.12 * (-0.6 * dx - 0.8 * dy)  # light from the upper left, in image axes
    colour = _texture(look, u, v) * shade[..., None]
    canvas[y0:y1, x0:x1][inside] = colour[inside]
    labels[y0:y1, x0:x1][inside] = label


def _smooth_field(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Low-frequency noise in [0, 1] with flat plateaus at both ends, `float32 [H, W, 1]`."""
    coarse = rng.random((int(rng.integers(3, 6)), int(rng.integers(3, 6)))).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(2.0 * field - 0.5, 0, 1)[..., None]


def _background(rng: np.random.Generator, height: int, width: int, shared: Appearance) -> np.ndarray:
    """Smooth blotches of three colours plus faint stripes and mottling, `float32 [H, W, 3]`.

    Two of the colours are `shared`'s (the main object's), so colour alone does not separate that object
    from the background: its texture (sharp two-colour pattern, shading) does.
    """
    third = PALETTE[int(rng.integers(len(PALETTE)))]
    first, second = (np.asarray(colour, dtype=np.float32) for colour in shared.colours)
    background = third + (first - third) * _smooth_field(rng, height, width)
    background = background + (second - background) * _smooth_field(rng, height, width)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(9, 18)
    stripes = np.sin(2 * np.pi * (cols * math.cos(angle) + rows * math.sin(angle)) / period)
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 1.5)
    stripe_amplitude, mottle_amplitude = rng.uniform(0, 10), rng.uniform(0, 25)
    return background + (stripe_amplitude * stripes + mottle_amplitude * mottle)[..., None]


def _finish(image: np.ndarray, rng: np.random.Generator, gain: float, noise_std: float) -> np.ndarray:
    """Global illumination gain and sensor noise, then `uint8 [H, W, 3]`."""
    noisy = image * gain + rng.normal(0, noise_std, image.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------- static


def render_static_image(
    index: int, seed: int, settings: SyntheticSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Static image `index`: `image uint8 [S, S, 3]` (before JPEG), `instances uint8 [S, S]` (0 background,
    1..K, 255 void band) and `classes uint8 [S, S]` (shape family 1..4, 255 void band)."""
    rng = _rng(seed, "static", str(index))
    size = settings.static_size
    twin = _random_appearance(rng)
    canvas = _background(rng, size, size, shared=twin)
    twin_radius = size * rng.uniform(0.1, 0.15)
    twin_rotation = rng.uniform(0, np.pi)
    objects = [
        (twin, twin_radius * rng.uniform(0.95, 1.05), twin_rotation) for _ in range(int(rng.integers(2, 4)))
    ]
    objects += [
        (_random_appearance(rng, avoid=twin), size * rng.uniform(0.09, 0.17), rng.uniform(0, np.pi))
        for _ in range(int(rng.integers(1, 4)))
    ]
    order = rng.permutation(len(objects))
    placed: list[tuple[float, float, float]] = []
    labels = np.zeros((size, size), dtype=np.uint8)
    shape_of_label = [0]
    for position in order:
        look, radius, rotation = objects[position]
        for _ in range(60):
            x, y = rng.uniform(radius, size - radius, 2)
            if all(math.hypot(x - px, y - py) >= 0.95 * (radius + pr) for px, py, pr in placed):
                placed.append((x, y, radius))
                shape_of_label.append(SHAPES.index(look.shape) + 1)
                _draw(canvas, labels, len(placed), look, x, y, radius, rotation)
                break
    image = _finish(canvas, rng, gain=rng.uniform(0.85, 1.15), noise_std=settings.noise_std)
    instances = _relabel_visible(labels)
    classes = np.asarray(shape_of_label, dtype=np.uint8)[labels]
    void = _outline_band(instances)
    instances[void] = VOID
    classes[void] = VOID
    return image, instances, classes


def _relabel_visible(labels: np.ndarray) -> np.ndarray:
    """Renumber the labels that are still visible to 1..K in order of first drawing."""
    visible = [label for label in np.unique(labels) if label != 0]
    lookup = np.zeros(256, dtype=np.uint8)
    lookup[visible] = np.arange(1, len(visible) + 1)
    return lookup[labels]


def _outline_band(instances: np.ndarray) -> np.ndarray:
    """Bool `[H, W]`: pixels whose 3x3 neighbourhood holds two different ids (a 2 px band on each outline)."""
    kernel = np.ones((3, 3), dtype=np.uint8)
    return cv2.dilate(instances, kernel) != cv2.erode(instances, kernel)


def _write_static(root: Path, seed: int, settings: SyntheticSettings, palette: bytes) -> None:
    for folder in ("JPEGImages", "SegmentationObject", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True)
    total = settings.static_train + settings.static_val
    names = [f"synth_{index:05d}" for index in range(total)]
    for index, name in enumerate(names):
        image, instances, classes = render_static_image(index, seed, settings)
        (root / "JPEGImages" / f"{name}.jpg").write_bytes(_jpeg_bytes(image, settings.jpeg_quality))
        for folder, ids in (("SegmentationObject", instances), ("SegmentationClass", classes)):
            indexed = Image.fromarray(ids)
            indexed.putpalette(palette)
            (root / folder / f"{name}.png").write_bytes(_png_bytes(indexed))
        if (index + 1) % 50 == 0 or index + 1 == total:
            print(f"synthetic: static images {index + 1}/{total}", file=sys.stderr)
    lists = {
        "train": names[: settings.static_train],
        "val": names[settings.static_train :],
        "trainval": names,
    }
    for split, members in lists.items():
        (root / "ImageSets/Segmentation" / f"{split}.txt").write_text("".join(f"{n}\n" for n in members))


# --------------------------------------------------------------------------------------------------- videos


def _lerp(t: np.ndarray, start: float, end: float) -> np.ndarray:
    return start + (end - start) * t


def _glide_scale(rng: np.random.Generator, w: int, h: int, t: np.ndarray) -> list[Track]:
    """SC: the target drifts across the frame while growing from 0.7 to 1.5 times its size."""
    size, target = 0.14 * h, _random_appearance(rng)
    y = h * (0.55 + 0.08 * np.sin(2 * np.pi * t + rng.uniform(0, 2 * np.pi)))
    scale = 0.7 * size * (1.5 / 0.7) ** t
    spin = _lerp(t, 0, rng.uniform(-0.5, 0.5))
    other = _random_appearance(rng, avoid=target)
    return [
        Track("target", target, _lerp(t, 0.22 * w, 0.7 * w), y, scale, spin, depth=1),
        Track("other", other, _lerp(t, 0.12 * w, 0.2 * w), 0.2 * h, 0.8 * size, rng.uniform(0, 3), depth=0),
    ]


def _dash_fast(rng: np.random.Generator, w: int, h: int, t: np.ndarray) -> list[Track]:
    """FM: the target runs a Lissajous path (up to ~20 px per frame at the defaults) while spinning."""
    size, target = 0.12 * h, _random_appearance(rng)
    phase_x, phase_y = rng.uniform(0, 2 * np.pi, 2)
    x = w / 2 + 0.32 * w * np.sin(2 * np.pi * t + phase_x)
    y = h / 2 + 0.26 * h * np.sin(3 * np.pi * t + phase_y)
    spin = _lerp(t, 0, rng.choice([-3.0, 3.0]))
    other = _random_appearance(rng, avoid=target)
    return [
        Track("target", target, x, y, size, spin, depth=1),
        Track("other", other, _lerp(t, 0.8 * w, 0.6 * w), 0.9 * h, 0.9 * size, rng.uniform(0, 3), depth=0),
    ]


def _hide_occluded(rng: np.random.Generator, w: int, h: int, t: np.ndarray) -> list[Track]:
    """OCC: a larger, different upright box passes in front of the target and hides most of it."""
    size, target = 0.14 * h, _random_appearance(rng)
    occluder = _random_appearance(rng, avoid=target)
    occluder = dataclasses.replace(occluder, shape="rounded_box", shape_params=(0.45, 0.85, 0.2))
    y = h * (0.5 + rng.uniform(-0.05, 0.05))
    occluder_x, occluder_y = _lerp(t, 0.95 * w, 0.12 * w), _lerp(t, 0.45 * h, 0.55 * h)
    return [
        Track("target", target, _lerp(t, 0.2 * w, 0.72 * w), y, size, rng.uniform(0, 3), depth=0),
        Track("occluder", occluder, occluder_x, occluder_y, 1.4 * size, 0.0, depth=1),
    ]


def _morph_appearance(rng: np.random.Generator, w: int, h: int, t: np.ndarray) -> list[Track]:
    """AC: the target circles while its colours change to another pair and its texture turns 90 degrees."""
    size, target = 0.14 * h, _random_appearance(rng)
    end_colours = _random_appearance(rng, avoid=target).colours
    end = dataclasses.replace(target, colours=end_colours, angle=target.angle + np.pi / 2)
    angle = 1.5 * np.pi * t + rng.uniform(0, 2 * np.pi)
    x, y = w / 2 + 0.25 * w * np.cos(angle), h / 2 + 0.2 * h * np.sin(angle)
    other = _random_appearance(rng, avoid=target)
    return [
        Track("target", target, x, y, size, _lerp(t, 0, 0.6), depth=1, appearance_end=end),
        Track("other", other, 0.1 * w, _lerp(t, 0.8 * h, 0.7 * h), 0.8 * size, rng.uniform(0, 3), depth=0),
    ]


def _lookalike_cross(rng: np.random.Generator, w: int, h: int, t: np.ndarray) -> list[Track]:
    """IO: a twin of the target (same look, size and pose) crosses the target's path just behind it."""
    size, target, rotation = 0.14 * h, _random_appearance(rng), rng.uniform(0, np.pi)
    other = _random_appearance(rng, avoid=target)
    twin_x, twin_y = _lerp(t, 0.7 * w, 0.45 * w), _lerp(t, 0.2 * h, 0.82 * h)
    return [
        Track("target", target, _lerp(t, 0.15 * w, 0.85 * w), 0.5 * h, size, rotation, depth=1),
        Track("lookalike", target, twin_x, twin_y, size, rotation, depth=0),
        Track("other", other, 0.1 * w, 0.85 * h, 0.8 * size, rng.uniform(0, 3), depth=0),
    ]


def _lookalike_pass(rng: np.random.Generator, w: int, h: int, t: np.ndarray) -> list[Track]:
    """IO + OCC: one twin passes in front of the target, hiding part of it; another travels beside it."""
    size, target, rotation = 0.14 * h, _random_appearance(rng), rng.uniform(0, np.pi)
    return [
        Track("target", target, _lerp(t, 0.3 * w, 0.6 * w), 0.62 * h, size, rotation, depth=1),
        Track("lookalike", target, _lerp(t, 0.88 * w, 0.05 * w), 0.52 * h, size, rotation, depth=2),
        Track("lookalike", target, _lerp(t, 0.12 * w, 0.42 * w), 0.2 * h, size, rotation, depth=0),
    ]


def _duo(rng: np.random.Generator, w: int, h: int, t: np.ndarray) -> list[Track]:
    """SegTrack `duo`: two different objects cross; object 1 passes in front of object 2 and grows."""
    size, first = 0.13 * h, _random_appearance(rng)
    second = _random_appearance(rng, avoid=first)
    other = _random_appearance(rng, avoid=second)
    growth, spin = _lerp(t, size, 1.3 * size), _lerp(t, 0, 0.8)
    return [
        Track("target", first, _lerp(t, 0.15 * w, 0.8 * w), 0.42 * h, growth, spin, depth=2),
        Track("target", second, _lerp(t, 0.85 * w, 0.2 * w), 0.58 * h, size, rng.uniform(0, 3), depth=1),
        Track("other", other, 0.5 * w, 0.12 * h, 0.7 * size, 0.0, depth=0),
    ]


def _solo(rng: np.random.Generator, w: int, h: int, t: np.ndarray) -> list[Track]:
    """SegTrack `solo`: one object on a curved path, with a look-alike crossing the lower half."""
    size, target, rotation = 0.13 * h, _random_appearance(rng), rng.uniform(0, np.pi)
    y = h * (0.35 + 0.15 * np.sin(np.pi * t))
    return [
        Track("target", target, _lerp(t, 0.2 * w, 0.75 * w), y, size, rotation, depth=1),
        Track("lookalike", target, _lerp(t, 0.8 * w, 0.3 * w), 0.8 * h, size, rotation, depth=0),
    ]


_CATALOGUE: dict[str, _SequenceSpec] = {
    "glide-sc": _SequenceSpec(("SC",), _glide_scale),
    "dash-fm": _SequenceSpec(("FM",), _dash_fast),
    "hide-occ": _SequenceSpec(("OCC",), _hide_occluded),
    "morph-ac": _SequenceSpec(("AC",), _morph_appearance),
    f"{LOOKALIKE_PREFIX}cross": _SequenceSpec(("IO",), _lookalike_cross),
    f"{LOOKALIKE_PREFIX}pass": _SequenceSpec(("IO", "OCC"), _lookalike_pass),
}
SEQUENCE_ATTRIBUTES: dict[str, tuple[str, ...]] = {name: spec.attributes for name, spec in _CATALOGUE.items()}
# SegTrack part: name -> (number of annotated objects, scene builder).
_SEGTRACK: dict[str, tuple[int, Callable[[np.random.Generator, int, int, np.ndarray], list[Track]]]] = {
    "duo": (2, _duo),
    "solo": (1, _solo),
}


def _render_tracks(
    name: str,
    attributes: tuple[str, ...],
    tracks: list[Track],
    t: np.ndarray,
    rng: np.random.Generator,
    settings: SyntheticSettings,
) -> SyntheticVideo:
    """Draw the tracks at times `t [T]` (0..1) over a slowly panning textured background with a mild
    illumination change."""
    frames_count, width, height = len(t), settings.video_width, settings.video_height
    margin = 6
    background = _background(rng, height + 2 * margin, width + 2 * margin, shared=tracks[0].appearance)
    pan = rng.uniform(-1, 1, 2) * margin * np.linspace(-1, 1, frames_count)[:, None]
    gain_amplitude, gain_phase = rng.uniform(0.04, 0.08), rng.uniform(0, 2 * np.pi)
    order = sorted(range(len(tracks)), key=lambda index: tracks[index].depth)
    frames = np.empty((frames_count, height, width, 3), dtype=np.uint8)
    labels = np.zeros((frames_count, height, width), dtype=np.uint8)
    for frame in range(frames_count):
        s = float(t[frame])
        ox, oy = (int(round(margin + offset)) for offset in pan[frame])
        canvas = background[oy : oy + height, ox : ox + width].copy()
        for index in order:
            track = tracks[index]
            look = (
                track.appearance
                if track.appearance_end is None
                else _blend(track.appearance, track.appearance_end, s)
            )
            _draw(canvas, labels[frame], index + 1, look, *track.pose(frame))
        gain = 1.0 + gain_amplitude * math.sin(2 * np.pi * s + gain_phase)
        frames[frame] = _finish(canvas, rng, gain, settings.noise_std)
    roles = tuple(track.role for track in tracks)
    object_ids = tuple(index + 1 for index, role in enumerate(roles) if role == "target")
    return SyntheticVideo(name, attributes, frames, labels, roles, object_ids)


def render_video(name: str, seed: int, settings: SyntheticSettings) -> SyntheticVideo:
    """Render DAVIS-part sequence `name` (a key of `SEQUENCE_ATTRIBUTES`) before JPEG encoding; label 1
    is the target."""
    spec = _CATALOGUE[name]
    rng = _rng(seed, "davis", name)
    t = np.linspace(0.0, 1.0, settings.video_frames)
    tracks = spec.build(rng, settings.video_width, settings.video_height, t)
    return _render_tracks(name, spec.attributes, tracks, t, rng, settings)


def render_segtrack(name: str, seed: int, settings: SyntheticSettings) -> SyntheticVideo:
    """Render SegTrack-part sequence `name` (`duo` or `solo`); `object_ids` are its annotated objects 1..K."""
    rng = _rng(seed, "segtrack", name)
    t = np.linspace(0.0, 1.0, settings.segtrack_frames)
    tracks = _SEGTRACK[name][1](rng, settings.video_width, settings.video_height, t)
    return _render_tracks(name, (), tracks, t, rng, settings)


def _grey_png(mask: np.ndarray) -> bytes:
    return _png_bytes(Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)))


def _db_info(videos: list[SyntheticVideo], seed: int) -> str:
    lines = [
        f"# Built-in synthetic benchmark (lsevos.data.synthetic, seed {seed}), schema of DAVIS db_info.yaml.",
        f"attributes: [{', '.join(DAVIS_ATTRIBUTE_CODES)}]",
        "sets:  [train, val, val-dev]",
        "years: [2016, 2017]",
        "",
        "sequences:",
    ]
    for video in videos:
        lines += [
            "",
            f"- name: {video.name}",
            f"  attributes: [{', '.join(video.attributes)}]",
            f"  num_frames: {len(video.frames)}",
            "  set: val",
            "  eval_t: True",
            "  year: 2016",
        ]
    return "\n".join(lines) + "\n"


def _write_davis(root: Path, seed: int, settings: SyntheticSettings) -> None:
    videos = []
    lines = []
    for name in sorted(settings.sequences):
        video = render_video(name, seed, settings)
        frame_dir = root / "JPEGImages/480p" / name
        mask_dir = root / "Annotations/480p" / name
        frame_dir.mkdir(parents=True)
        mask_dir.mkdir(parents=True)
        for index, (frame, labels) in enumerate(zip(video.frames, video.labels, strict=True)):
            (frame_dir / f"{index:05d}.jpg").write_bytes(_jpeg_bytes(frame, settings.jpeg_quality))
            (mask_dir / f"{index:05d}.png").write_bytes(_grey_png(labels == 1))
            lines.append(
                f"/JPEGImages/480p/{name}/{index:05d}.jpg /Annotations/480p/{name}/{index:05d}.png\n"
            )
        videos.append(video)
        print(f"synthetic: DAVIS sequence {name} ({len(video.frames)} frames)", file=sys.stderr)
    (root / "Annotations/db_info.yml").write_text(_db_info(videos, seed))
    (root / "ImageSets/480p").mkdir(parents=True)
    (root / "ImageSets/480p/val.txt").write_text("".join(lines))


def _write_segtrack(root: Path, seed: int, settings: SyntheticSettings) -> None:
    for name in sorted(_SEGTRACK):
        video = render_segtrack(name, seed, settings)
        frame_dir = root / "JPEGImages" / name
        frame_dir.mkdir(parents=True)
        for index, frame in enumerate(video.frames):
            compressed = np.asarray(Image.open(io.BytesIO(_jpeg_bytes(frame, settings.jpeg_quality))))
            (frame_dir / f"{name}_{index:05d}.png").write_bytes(_png_bytes(Image.fromarray(compressed)))
        for number, label in enumerate(video.object_ids, start=1):
            mask_dir = root / "GroundTruth" / name / str(number)
            mask_dir.mkdir(parents=True)
            for index, labels in enumerate(video.labels):
                (mask_dir / f"{name}_{index:05d}.png").write_bytes(_grey_png(labels == label))
        print(f"synthetic: SegTrack sequence {name} ({len(video.object_ids)} objects)", file=sys.stderr)


def _write_manifest(root: Path, seed: int, settings: SyntheticSettings) -> None:
    files = sorted(path for path in root.rglob("*") if path.is_file())
    manifest = {
        "generator": "lsevos.data.synthetic",
        "seed": seed,
        "settings": {**settings.to_dict(), "sequences": list(settings.sequences)},
        "davis_sequences": {name: list(_CATALOGUE[name].attributes) for name in sorted(settings.sequences)},
        "segtrack_objects": segtrack_objects(settings.to_dict()),
        "files": [
            {
                "path": path.relative_to(root).as_posix(),
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            }
            for path in files
        ],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def generate_benchmark(out_dir: Path, seed: int, settings: dict | None = None) -> None:
    """Write the whole benchmark to `out_dir` atomically, replacing only an earlier benchmark (marker file
    `.lsevos-output` naming `benchmark`, not listed in the manifest); same seed and settings give the
    same bytes. Bad settings or seed raise `ConfigError` before anything is written."""
    config = parse_settings(settings)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"synthetic benchmark 'seed': expected a non-negative integer, got {seed!r}")
    palette = davis_palette().tobytes()
    with atomic_output(Path(out_dir), owner="benchmark") as temporary:
        temporary.mkdir()
        _write_static(temporary / "static", seed, config, palette)
        _write_davis(temporary / "davis", seed, config)
        _write_segtrack(temporary / "segtrack", seed, config)
        _write_manifest(temporary, seed, config)
    print(f"synthetic: benchmark written to {out_dir}", file=sys.stderr)
