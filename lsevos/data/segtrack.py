"""SegTrack v2 in its release layout, and its conversion to the DAVIS layout.

Release layout: `JPEGImages/<seq>/*.png|bmp` frames; `GroundTruth/<seq>/<obj>/*.png` for multi-object
sequences or `GroundTruth/<seq>/*.png` for single-object ones. Each object is its own target, named
`<seq>_<obj>` (single-object sequences: `<seq>_1`).

The conversion writes `JPEGImages/480p/<target>/NNNNN.jpg` (frames re-encoded as JPEG, quality 95, no chroma
subsampling, so the DAVIS layout holds; the folder keeps the name `480p` although SegTrack frames keep their
own size), `Annotations/480p/<target>/NNNNN.png` (grey 0/255), `Annotations/db_info.yml` (empty attribute
lists; the original sequence, object and frame names are recorded per target) and `ImageSets/480p/val.txt`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from lsevos.data.io import atomic_output, list_frames, natural_key, open_image, read_frame
from lsevos.errors import DataError

JPEG_QUALITY = 95


def read_binary_mask(path: str | os.PathLike) -> np.ndarray:
    """A SegTrack ground-truth mask as `bool [H, W]`: palette index > 0, or grey level > 127 (grey, 1-bit or
    RGB files, as the release mixes them)."""
    image = open_image(path)
    if image.mode == "P":
        return np.asarray(image) > 0
    return np.asarray(image.convert("L")) > 127


@dataclass
class SegtrackTarget:
    """One object of one SegTrack sequence: frame `i` is `frame_paths[i]`, its mask `mask_paths[i]`."""

    name: str
    sequence: str
    object_id: str
    frame_paths: list[Path]
    mask_paths: list[Path]

    def __len__(self) -> int:
        return len(self.frame_paths)

    def read_mask(self, index: int) -> np.ndarray:
        """Mask of frame `index` as `bool [H, W]`."""
        return read_binary_mask(self.mask_paths[index])


def _pair_masks(frames: list[Path], masks: list[Path], mask_dir: Path) -> list[Path]:
    by_stem = {mask.stem: mask for mask in masks}
    if all(frame.stem in by_stem for frame in frames) and len(by_stem) == len(frames):
        return [by_stem[frame.stem] for frame in frames]
    if len(masks) == len(frames):
        return masks
    missing = next((frame for frame in frames if frame.stem not in by_stem), frames[-1])
    raise DataError(
        f"{mask_dir}: {len(masks)} masks for {len(frames)} frames (no mask named like {missing.name}); "
        "every frame needs a mask with its name: restore the missing files or re-extract SegTrack v2"
    )


class SegtrackDataset:
    """SegTrack v2 release at `root`; `.targets` lists `<seq>_<obj>` names in natural order."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.frames_dir = self.root / "JPEGImages"
        self.truth_dir = self.root / "GroundTruth"
        for folder in (self.frames_dir, self.truth_dir):
            if not folder.is_dir():
                raise DataError(
                    f"{folder}: not found; {self.root} must hold the SegTrack v2 release layout "
                    "(JPEGImages/<seq>, GroundTruth/<seq>[/<obj>]); get it with "
                    "`lsevos download segtrackv2 --resources resources`"
                )
        self._targets: dict[str, tuple[str, str, Path]] = {}
        for sequence_dir in sorted(self.truth_dir.iterdir(), key=lambda path: natural_key(path.name)):
            if not sequence_dir.is_dir():
                continue
            object_dirs = sorted(
                (path for path in sequence_dir.iterdir() if path.is_dir()),
                key=lambda path: natural_key(path.name),
            )
            if object_dirs:
                for object_dir in object_dirs:
                    name = f"{sequence_dir.name}_{object_dir.name}"
                    self._targets[name] = (sequence_dir.name, object_dir.name, object_dir)
            else:
                self._targets[f"{sequence_dir.name}_1"] = (sequence_dir.name, "1", sequence_dir)
        self.targets = list(self._targets)

    def target(self, name: str) -> SegtrackTarget:
        """Frames and masks of target `name` (e.g. `bmx_2`), paired by file stem."""
        if name not in self._targets:
            raise DataError(
                f"{self.root}: unknown SegTrack target {name!r}; available: {', '.join(self.targets)}"
            )
        sequence, object_id, mask_dir = self._targets[name]
        frames = list_frames(self.frames_dir / sequence)
        if not frames:
            raise DataError(f"{self.frames_dir / sequence}: no frames of {name}; re-extract SegTrack v2")
        masks = list_frames(mask_dir)
        return SegtrackTarget(name, sequence, object_id, frames, _pair_masks(frames, masks, mask_dir))


def _write_target(target: SegtrackTarget, out: Path) -> list[str]:
    frame_dir = out / "JPEGImages" / "480p" / target.name
    mask_dir = out / "Annotations" / "480p" / target.name
    frame_dir.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    lines = []
    for index, (frame_path, mask_path) in enumerate(zip(target.frame_paths, target.mask_paths, strict=True)):
        frame = read_frame(frame_path)
        mask = read_binary_mask(mask_path)
        if mask.shape != frame.shape[:2]:
            raise DataError(
                f"{mask_path}: mask size {mask.shape} (H, W) differs from {frame_path} {frame.shape[:2]}; "
                "restore the original SegTrack v2 files"
            )
        stem = f"{index:05d}"
        Image.fromarray(frame).save(frame_dir / f"{stem}.jpg", quality=JPEG_QUALITY, subsampling=0)
        Image.fromarray(mask.astype(np.uint8) * 255).save(mask_dir / f"{stem}.png")
        lines.append(f"/JPEGImages/480p/{target.name}/{stem}.jpg /Annotations/480p/{target.name}/{stem}.png")
    return lines


def convert_segtrack_to_davis(
    src: str | os.PathLike, out: str | os.PathLike, objects: Iterable[str] | None = None
) -> list[str]:
    """Write SegTrack v2 at `src` as a DAVIS-layout dataset at `out` (atomically, marked as a `segtrack`
    output: an existing folder is replaced only if it is one); returns the target names.

    `objects` picks targets by name (`bmx_2`, ...); None converts all of them.
    """
    dataset = SegtrackDataset(src)
    names = dataset.targets if objects is None else list(objects)
    targets = [dataset.target(name) for name in names]
    entries, lines = [], []
    with atomic_output(out, owner="segtrack") as temporary:
        temporary.mkdir()
        for number, target in enumerate(targets, start=1):
            print(
                f"prepare-segtrack: [{number}/{len(targets)}] {target.name}: {len(target)} frames",
                file=sys.stderr,
            )
            lines += _write_target(target, temporary)
            entries.append(
                {
                    "name": target.name,
                    "attributes": [],
                    "num_frames": len(target),
                    "set": "val",
                    "source_sequence": target.sequence,
                    "source_object": target.object_id,
                    "source_frames": [path.name for path in target.frame_paths],
                }
            )
        db_info = {"attributes": [], "sets": ["val"], "sequences": entries}
        (temporary / "Annotations" / "db_info.yml").write_text(yaml.safe_dump(db_info, sort_keys=False))
        image_sets = temporary / "ImageSets" / "480p"
        image_sets.mkdir(parents=True)
        (image_sets / "val.txt").write_text("".join(line + "\n" for line in lines))
    return [target.name for target in targets]
