"""DAVIS 2016 layout: `JPEGImages/480p/<seq>/NNNNN.jpg`, `Annotations/480p/<seq>/NNNNN.png`,
`Annotations/db_info.yml` (per-sequence attributes), `ImageSets/480p/<split>.txt`.

The same layout holds the built-in benchmark and converted SegTrack v2, so every later stage reads one format.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lsevos.data.io import image_size, list_frames, natural_key
from lsevos.errors import DataError


@dataclass
class VideoSequence:
    """One annotated video: frame `i` is `frame_paths[i]`, its mask `mask_paths[i]` (same stem)."""

    name: str
    frame_paths: list[Path]
    mask_paths: list[Path]
    attributes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frame_paths)

    @property
    def frame_names(self) -> list[str]:
        return [path.stem for path in self.frame_paths]

    def validate(self) -> None:
        """Check that every frame has a readable mask of the same size (headers only); `DataError` if not."""
        if not self.frame_paths:
            raise DataError(f"sequence {self.name}: no frames found; put its jpg frames under JPEGImages")
        for frame_path, mask_path in zip(self.frame_paths, self.mask_paths, strict=True):
            if not frame_path.is_file():
                raise DataError(
                    f"{frame_path}: frame missing (its mask {mask_path.name} exists); restore the frame or "
                    "re-extract the dataset"
                )
            if not mask_path.is_file():
                raise DataError(
                    f"{mask_path}: mask missing for frame {frame_path}; restore it or re-extract the dataset"
                )
            frame_size, mask_size = image_size(frame_path), image_size(mask_path)
            if frame_size != mask_size:
                raise DataError(
                    f"{mask_path}: mask size {mask_size} (H, W) differs from {frame_path} {frame_size}; "
                    "a mask must have its frame's resolution (re-extract it, or resize it with nearest "
                    "neighbour)"
                )


class DavisDataset:
    """A DAVIS-layout dataset at `root`, restricted to `sequences` if given.

    `.sequences` lists `ImageSets/<resolution>/<split>.txt` (DAVIS 2016 per-frame lines or one name per line)
    when that file exists, else the folders under `JPEGImages/<resolution>`.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        sequences: Iterable[str] | None = None,
        split: str = "val",
        resolution: str = "480p",
    ):
        self.root = Path(root)
        self.resolution = resolution
        self.frames_dir = self.root / "JPEGImages" / resolution
        self.masks_dir = self.root / "Annotations" / resolution
        self.db_info_path = self.root / "Annotations" / "db_info.yml"
        self.image_set_path = self.root / "ImageSets" / resolution / f"{split}.txt"
        if not self.frames_dir.is_dir():
            raise DataError(
                f"{self.frames_dir}: not found; {self.root} must hold the DAVIS layout "
                f"(JPEGImages/{resolution}/<seq>, Annotations/{resolution}/<seq>); "
                "get DAVIS 2016 with `lsevos download davis2016 --resources resources`"
            )
        available = self._listed_sequences()
        if sequences is None:
            self.sequences = available
        else:
            self.sequences = list(sequences)
            unknown = [name for name in self.sequences if name not in available]
            if unknown:
                raise DataError(
                    f"{self.root}: unknown sequence(s) {', '.join(unknown)}; "
                    f"available: {', '.join(available)}"
                )
        self._db_info = self._read_db_info()

    def _listed_sequences(self) -> list[str]:
        if not self.image_set_path.is_file():
            return sorted(path.name for path in self.frames_dir.iterdir() if path.is_dir())
        names: list[str] = []
        for line_number, line in enumerate(self.image_set_path.read_text().splitlines(), start=1):
            entry = line.split()[0] if line.strip() else ""
            if not entry:
                continue
            parts = [part for part in entry.split("/") if part]
            if len(parts) == 1:
                name = parts[0]
            elif len(parts) >= 4 and parts[0] == "JPEGImages":
                name = parts[2]
            else:
                raise DataError(
                    f"{self.image_set_path}:{line_number}: cannot read {entry!r}; each line must be a "
                    "sequence name or '/JPEGImages/<res>/<seq>/<frame>.jpg "
                    "/Annotations/<res>/<seq>/<frame>.png'"
                )
            if name not in names:
                names.append(name)
        return names

    def _read_db_info(self) -> dict[str, dict]:
        if not self.db_info_path.is_file():
            return {}
        try:
            content = yaml.safe_load(self.db_info_path.read_text())
        except yaml.YAMLError as error:
            raise DataError(f"{self.db_info_path}: not valid YAML ({error}); restore the file") from None
        entries = content.get("sequences") if isinstance(content, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "name" in e for e in entries):
            raise DataError(
                f"{self.db_info_path}: expected a 'sequences' list of entries with 'name' and 'attributes'; "
                "restore the file from the dataset release"
            )
        return {str(entry["name"]): entry for entry in entries}

    def _check_known(self, name: str) -> None:
        if name not in self.sequences:
            raise DataError(f"{self.root}: unknown sequence {name!r}; available: {', '.join(self.sequences)}")

    def attributes(self, name: str) -> list[str]:
        """Attribute codes of sequence `name` from db_info.yml (e.g. ['FM', 'OCC']); [] when not listed."""
        self._check_known(name)
        return [str(code) for code in self._db_info.get(name, {}).get("attributes") or []]

    def sequence(self, name: str, validate: bool = True) -> VideoSequence:
        """Frames and masks of sequence `name`, paired by stem; validated unless `validate=False`."""
        self._check_known(name)
        frame_dir, mask_dir = self.frames_dir / name, self.masks_dir / name
        if not mask_dir.is_dir():
            raise DataError(f"{mask_dir}: annotations of sequence {name} missing; re-extract the dataset")
        frames = {path.stem: path for path in list_frames(frame_dir)}
        masks = {path.stem: path for path in mask_dir.glob("*.png")}
        stems = sorted(set(frames) | set(masks), key=natural_key)
        sequence = VideoSequence(
            name=name,
            frame_paths=[frames.get(stem, frame_dir / f"{stem}.jpg") for stem in stems],
            mask_paths=[masks.get(stem, mask_dir / f"{stem}.png") for stem in stems],
            attributes=self.attributes(name),
        )
        if validate:
            sequence.validate()
            expected = self._db_info.get(name, {}).get("num_frames")
            if expected is not None and int(expected) != len(sequence):
                raise DataError(
                    f"{frame_dir}: {len(sequence)} frames, but {self.db_info_path} says {expected}; "
                    "restore the missing frames and masks (re-extract the dataset)"
                )
        return sequence
