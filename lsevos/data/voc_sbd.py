"""Static instance images from PASCAL VOC 2012 and SBD, and the usual augmented training set.

Every dataset here is indexable: `ds[i] -> (image uint8 [H, W, 3] RGB, instances uint8 [H, W])` with 0 =
background, 1..K = instances (renumbered contiguously), 255 = ignore (VOC's void border); `.names` lists the
image ids.

- VOC 2012 (`VOCdevkit/VOC2012`): `JPEGImages/<id>.jpg`, `SegmentationObject/<id>.png` (palette indices),
  `SegmentationClass/<id>.png` (class ids 1..20, 255 void), `ImageSets/Segmentation/<split>.txt`.
- SBD (`benchmark_RELEASE/dataset`): `img/<id>.jpg`, `inst/<id>.mat` (struct `GTinst`, field `Segmentation`:
  instance ids), `cls/<id>.mat` (struct `GTcls`, field `Segmentation`: class ids), `<split>.txt`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from lsevos.data.io import read_frame, read_mask
from lsevos.errors import DataError
from lsevos.labels import IGNORE


class StaticInstanceDataset(Protocol):
    """What pretraining needs: `ds[i] -> (image uint8 [H, W, 3], instances uint8 [H, W])` and `.names`."""

    names: list[str]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]: ...


def read_id_list(path: str | os.PathLike, what: str) -> list[str]:
    """The image ids of a list file (first word of each non-empty line); `DataError` naming a missing file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} image list not found; check the dataset root or re-extract it")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _contiguous_instances(ids: np.ndarray) -> np.ndarray:
    """Renumber instance ids `[H, W]` to 1..K in increasing order, keeping 0 and 255."""
    present = [value for value in np.unique(ids) if value not in (0, IGNORE)]
    table = np.zeros(256, dtype=np.uint8)
    table[IGNORE] = IGNORE
    table[np.asarray(present, dtype=np.int64)] = np.arange(1, len(present) + 1, dtype=np.uint8)
    return table[ids]


def _checked_pair(image: np.ndarray, labels: np.ndarray, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    if labels.shape != image.shape[:2]:
        raise DataError(
            f"{label_path}: annotation size {labels.shape} (H, W) differs from its image {image.shape[:2]}; "
            "re-extract the dataset"
        )
    return image, labels


def _read_mat_segmentation(path: Path, struct_name: str) -> np.ndarray:
    import scipy.io

    try:
        content = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
        segmentation = np.asarray(content[struct_name].Segmentation)
    except FileNotFoundError:
        raise DataError(f"{path}: annotation file not found; re-extract SBD (benchmark.tgz)") from None
    except (KeyError, AttributeError):
        raise DataError(
            f"{path}: no {struct_name}.Segmentation in this .mat file; it is not an SBD annotation "
            "(re-extract SBD benchmark.tgz)"
        ) from None
    except (ValueError, OSError, TypeError) as error:
        raise DataError(f"{path}: unreadable .mat file ({error}); re-extract SBD (benchmark.tgz)") from None
    if segmentation.ndim != 2 or segmentation.min() < 0 or segmentation.max() > 255:
        raise DataError(f"{path}: {struct_name}.Segmentation must be a 2-D map of ids 0..255; re-extract SBD")
    return segmentation.astype(np.uint8)


def _instance_classes(instances: np.ndarray, classes: np.ndarray) -> list[int]:
    """Class of each instance 1..K: the most frequent class id under it (ignoring 0 and 255)."""
    result = []
    for instance in range(1, int(instances[instances != IGNORE].max(initial=0)) + 1):
        under = classes[(instances == instance) & (classes != 0) & (classes != IGNORE)]
        result.append(int(np.bincount(under).argmax()) if under.size else 0)
    return result


class VocInstances:
    """PASCAL VOC 2012 instance segmentation at `root` (the `VOC2012` folder), images of `split`."""

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        self.root = Path(root)
        if not (self.root / "SegmentationObject").is_dir():
            raise DataError(
                f"{self.root / 'SegmentationObject'}: not found; pass the VOC2012 folder "
                "(VOCdevkit/VOC2012), e.g. from `lsevos download voc2012 --resources resources`"
            )
        self.split = split
        self.names = read_id_list(self.root / "ImageSets" / "Segmentation" / f"{split}.txt", f"VOC {split}")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.load(self.names[index])

    def has(self, name: str) -> bool:
        """Whether image `name` has a VOC instance annotation."""
        return (self.root / "SegmentationObject" / f"{name}.png").is_file()

    def load(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Image `uint8 [H, W, 3]` and instances `uint8 [H, W]` (0 bg, 1..K, 255 void) of image `name`."""
        mask_path = self.root / "SegmentationObject" / f"{name}.png"
        image = read_frame(self.root / "JPEGImages" / f"{name}.jpg")
        return _checked_pair(image, _contiguous_instances(read_mask(mask_path)), mask_path)

    def load_classes(self, name: str) -> np.ndarray:
        """Class ids `uint8 [H, W]` (0 bg, 1..20, 255 void) of image `name`."""
        return read_mask(self.root / "SegmentationClass" / f"{name}.png")

    def instance_classes(self, index: int) -> list[int]:
        """VOC class id of each instance 1..K of image `index`."""
        name = self.names[index]
        return _instance_classes(self.load(name)[1], self.load_classes(name))


class SbdInstances:
    """SBD instance segmentation at `root` (the `benchmark_RELEASE/dataset` folder), images of `split`."""

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        self.root = Path(root)
        if not (self.root / "inst").is_dir():
            raise DataError(
                f"{self.root / 'inst'}: not found; pass the SBD folder (benchmark_RELEASE/dataset), "
                "e.g. from `lsevos download sbd --resources resources`"
            )
        self.split = split
        self.names = read_id_list(self.root / f"{split}.txt", f"SBD {split}")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.load(self.names[index])

    def load(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Image `uint8 [H, W, 3]` and instances `uint8 [H, W]` (0 bg, 1..K) of image `name`."""
        mat_path = self.root / "inst" / f"{name}.mat"
        image = read_frame(self.root / "img" / f"{name}.jpg")
        instances = _contiguous_instances(_read_mat_segmentation(mat_path, "GTinst"))
        return _checked_pair(image, instances, mat_path)

    def load_classes(self, name: str) -> np.ndarray:
        """Class ids `uint8 [H, W]` (0 bg, 1..20) of image `name`."""
        return _read_mat_segmentation(self.root / "cls" / f"{name}.mat", "GTcls")

    def instance_classes(self, index: int) -> list[int]:
        """VOC class id of each instance 1..K of image `index`."""
        name = self.names[index]
        return _instance_classes(self.load(name)[1], self.load_classes(name))


def augmented_training_list(voc_root: str | os.PathLike, sbd_root: str | os.PathLike) -> list[str]:
    """VOC train + SBD train + SBD val, minus VOC val, sorted (10582 ids with the full datasets)."""
    voc_val = set(VocInstances(voc_root, "val").names)
    ids = set(VocInstances(voc_root, "train").names)
    ids |= set(SbdInstances(sbd_root, "train").names) | set(SbdInstances(sbd_root, "val").names)
    return sorted(ids - voc_val)


class AugmentedInstances:
    """VOC + SBD instances over `names` (default: `augmented_training_list`); VOC annotations win where
    both datasets annotate an image."""

    def __init__(
        self, voc_root: str | os.PathLike, sbd_root: str | os.PathLike, names: list[str] | None = None
    ):
        self.voc = VocInstances(voc_root, "train")
        self.sbd = SbdInstances(sbd_root, "train")
        self.names = augmented_training_list(voc_root, sbd_root) if names is None else list(names)

    def __len__(self) -> int:
        return len(self.names)

    def source(self, index: int) -> str:
        """'voc' or 'sbd': which annotation image `index` uses."""
        return "voc" if self.voc.has(self.names[index]) else "sbd"

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        name = self.names[index]
        return self.voc.load(name) if self.source(index) == "voc" else self.sbd.load(name)
