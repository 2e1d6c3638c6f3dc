"""Static multi-instance training data for pretraining, sampled as a pure function of (seed, step).

The `--data` description of `lsevos pretrain` is a JSON/YAML object `{"sources": [...]}`; each source is
drawn with probability proportional to its `weight` (default 1):

- `{"kind": "voc", "root": VOC2012, "split": "train"}`: PASCAL VOC 2012 instances;
- `{"kind": "sbd", "root": SBD_DATASET, "split": "train"}`: SBD instances;
- `{"kind": "voc_sbd", "voc_root": VOC2012, "sbd_root": SBD_DATASET, "list": TRAIN_AUG_TXT}`: the paper's
  augmented set (VOC train + SBD train/val minus VOC val, 10,582 images), one source sampled uniformly over
  its images; `list` is the id list `lsevos sbd-augment` wrote (the workflow's rule `sbd_augment`),
  without it the list is computed from the two roots;
- `{"kind": "static", "root": FOLDER, "split": "train"}`: the built-in static images (VOC layout);
- `{"kind": "copy_paste", "davis_root": DAVIS, "sequences": [...] or "all", "copies": [2, 3]}`:
  composites made from annotated frames of *training* DAVIS-layout sequences: a frame (its object an
  instance) receives 2-3 pasted copies of an object cut from another frame, each copy a new instance, so
  that look-alike instances exist. Sequences in `"exclude"` (the workflow passes the sequences it
  evaluates with this model) are refused; without `"exclude"`, those of the root's
  `ImageSets/480p/val.txt` are (never train on evaluated sequences). `"all"`: every annotated sequence of
  the folder but the excluded ones (the model of `make model` evaluates nothing: `"exclude": []`).

Half of the samples are *scene crops*: scaled so that the shorter side is `crop` times a factor in
[0.7, 1.4], padded (image grey, instances 255 = ignore) to at least `crop` and cropped at random to
`crop` x `crop`. The other half are *zoom-in crops*, the view the video tracker gives the network: the box
of a random instance, enlarged by a factor in [1.2, 2.2] around a jittered centre, stretched to
`crop` x `crop` (neighbours and look-alikes that fall inside stay in the crop). Without them a network
pretrained on small objects in whole scenes meets a target that fills the crop for the first time in the
video, and its embeddings are not compact there. Every sample is flipped horizontally with probability
1/2. Sample `b` of step `t` uses `numpy.random.default_rng([seed, t, b])`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from lsevos.errors import ConfigError
from lsevos.labels import IGNORE

SCALE_RANGE = (0.7, 1.4)
ZOOM_PROBABILITY = 0.5
ZOOM_ENLARGE_RANGE = (1.2, 2.2)
ZOOM_SHIFT = 0.15  # centre jitter as a share of the box size
PAD_COLOUR = (124, 116, 104)
SOURCE_KEYS = {
    "voc": ({"root"}, {"split", "weight"}),
    "sbd": ({"root"}, {"split", "weight"}),
    "voc_sbd": ({"voc_root", "sbd_root"}, {"list", "weight"}),
    "static": ({"root"}, {"split", "weight"}),
    "copy_paste": ({"davis_root", "sequences"}, {"copies", "exclude", "weight"}),
}


class CopyPasteComposites:
    """Composites from annotated frames of training sequences; `sample(rng) -> (image, instances)`."""

    def __init__(
        self,
        davis_root: str,
        sequences: list[str] | str,
        copies: tuple[int, int] = (2, 3),
        exclude: list[str] | None = None,
    ):
        from lsevos.data.davis import DavisDataset

        root = Path(davis_root)
        evaluated = set(exclude or [])
        if exclude is None and (root / "ImageSets" / "480p" / "val.txt").is_file():
            evaluated = set(DavisDataset(root, split="val").sequences)
        if sequences == "all":
            annotated = annotated_sequences(root)
            sequences = [name for name in annotated if name not in evaluated]
            if annotated and not sequences:
                raise ConfigError(
                    f"data: copy_paste sequences 'all' leaves none in {root}: every annotated sequence is "
                    "evaluated (ImageSets/480p/val.txt or exclude); give a folder with training sequences"
                )
        overlap = sorted(set(sequences) & evaluated)
        if overlap:
            raise ConfigError(
                f"data: copy_paste sequences {', '.join(overlap)} are evaluated sequences of {root} "
                "(ImageSets/480p/val.txt or exclude); list only training sequences"
            )
        if not sequences:
            raise ConfigError("data: copy_paste needs at least one training sequence in 'sequences'")
        from lsevos.data.io import check_mask_header

        dataset = DavisDataset(root, sequences=sequences, split="train")
        self.frames = []
        for name in sequences:
            sequence = dataset.sequence(name)
            self.frames += list(zip(sequence.frame_paths, sequence.mask_paths, strict=True))
        for _, mask_path in self.frames:  # a mask in a wrong format fails now, not hours into the run
            check_mask_header(mask_path)
        self.copies = copies

    def __len__(self) -> int:
        return len(self.frames)

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        from lsevos.data.io import read_frame, read_mask

        frame_path, mask_path = self.frames[index]
        return read_frame(frame_path), read_mask(mask_path)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One composite: image `uint8 [H,W,3]`, instances `uint8 [H,W]` (frame's ids, then the copies)."""
        image, instances = self._read(int(rng.integers(len(self.frames))))
        image, instances = image.copy(), instances.copy()
        source_image, source_mask = self._read(int(rng.integers(len(self.frames))))
        rows, cols = np.nonzero((source_mask > 0) & (source_mask != IGNORE))
        if rows.size == 0:
            return image, instances
        patch = source_image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        patch_mask = source_mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        patch_mask = (patch_mask > 0) & (patch_mask != IGNORE)
        height, width = instances.shape
        next_id = int(instances[instances != IGNORE].max(initial=0)) + 1
        for _ in range(int(rng.integers(self.copies[0], self.copies[1] + 1))):
            fit = min(0.5 * height / patch.shape[0], 0.5 * width / patch.shape[1])
            scale = fit * rng.uniform(0.5, 1.0)
            size = (max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[0] * scale)))
            piece = cv2.resize(patch, size, interpolation=cv2.INTER_LINEAR)
            exact = cv2.INTER_NEAREST_EXACT  # sampled where INTER_LINEAR samples the image (see scene_crop)
            piece_mask = cv2.resize(patch_mask.astype(np.uint8), size, interpolation=exact) > 0
            if rng.random() < 0.5:
                piece, piece_mask = piece[:, ::-1], piece_mask[:, ::-1]
            top = int(rng.integers(0, height - size[1] + 1))
            left = int(rng.integers(0, width - size[0] + 1))
            window = (slice(top, top + size[1]), slice(left, left + size[0]))
            image[window][piece_mask] = piece[piece_mask]
            instances[window][piece_mask] = next_id
            next_id += 1
        return image, instances


def annotated_sequences(root: Path) -> list[str]:
    """Every sequence of a DAVIS-layout folder with frames and masks (`"sequences": "all"`)."""
    frames, masks = root / "JPEGImages" / "480p", root / "Annotations" / "480p"
    if not frames.is_dir():
        raise ConfigError(f"{frames}: not found; copy_paste needs a DAVIS-layout folder (davis_root)")
    return sorted(path.name for path in frames.iterdir() if path.is_dir() and (masks / path.name).is_dir())


def _open_source(source: dict):
    kind = source["kind"]
    if kind == "copy_paste":
        copies = tuple(source.get("copies", (2, 3)))
        sequences = source["sequences"]
        sequences = "all" if sequences == "all" else list(sequences)
        return CopyPasteComposites(source["davis_root"], sequences, copies, source.get("exclude"))
    from lsevos.data import voc_sbd

    if kind == "voc_sbd":
        names = voc_sbd.read_id_list(source["list"], "augmented training") if "list" in source else None
        return voc_sbd.AugmentedInstances(source["voc_root"], source["sbd_root"], names)
    if kind == "sbd":
        return voc_sbd.SbdInstances(source["root"], source.get("split", "train"))
    return voc_sbd.VocInstances(source["root"], source.get("split", "train"))


PATH_KEYS = ("root", "davis_root", "voc_root", "sbd_root")


def builtin_only(spec: dict) -> bool:
    """True when every folder of every source lies inside the built-in benchmark (a folder that
    `lsevos generate-benchmark` marked as its output): a model trained on it knows synthetic shapes only."""
    from lsevos.data.io import OUTPUT_MARKER

    def in_benchmark(path: str) -> bool:
        for folder in (Path(path).resolve(), *Path(path).resolve().parents):
            marker = folder / OUTPUT_MARKER
            if marker.is_file():
                return marker.read_text().strip() == "benchmark"
        return False

    folders = [source[key] for source in spec.get("sources", []) for key in PATH_KEYS if key in source]
    return bool(folders) and all(in_benchmark(folder) for folder in folders)


def check_data_spec(spec: object) -> list[dict]:
    """The list of sources of a `--data` description; `ConfigError` naming a bad kind or key."""
    if not isinstance(spec, dict) or set(spec) != {"sources"} or not isinstance(spec["sources"], list):
        raise ConfigError('data: expected an object {"sources": [...]} (see lsevos.train.data for the kinds)')
    if not spec["sources"]:
        raise ConfigError("data: 'sources' is empty; list at least one source")
    for position, source in enumerate(spec["sources"]):
        kind = source.get("kind") if isinstance(source, dict) else None
        if kind not in SOURCE_KEYS:
            raise ConfigError(
                f"data: sources[{position}].kind is {kind!r}; choose one of {', '.join(SOURCE_KEYS)}"
            )
        required, optional = SOURCE_KEYS[kind]
        missing = sorted(required - set(source))
        unknown = sorted(set(source) - required - optional - {"kind"})
        if missing or unknown:
            raise ConfigError(
                f"data: sources[{position}] ({kind}): missing key(s) {missing}, unknown key(s) {unknown}; "
                f"required {sorted(required)}, optional {sorted(optional)}"
            )
    return spec["sources"]


def zoom_crop(
    image: np.ndarray, instances: np.ndarray, crop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """The enlarged, jittered box of a random instance stretched to `crop` x `crop` (None: no instance)."""
    labels = [label for label in np.unique(instances) if label not in (0, IGNORE)]
    if not labels:
        return None
    ys, xs = np.nonzero(instances == labels[int(rng.integers(len(labels)))])
    box_w, box_h = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
    factor = rng.uniform(*ZOOM_ENLARGE_RANGE)
    centre_x = (xs.min() + xs.max() + 1) / 2 + rng.uniform(-ZOOM_SHIFT, ZOOM_SHIFT) * box_w
    centre_y = (ys.min() + ys.max() + 1) / 2 + rng.uniform(-ZOOM_SHIFT, ZOOM_SHIFT) * box_h
    half_w, half_h = factor * box_w / 2, factor * box_h / 2
    scale_x, scale_y = crop / (2 * half_w), crop / (2 * half_h)
    matrix = np.array(
        [[scale_x, 0.0, -(centre_x - half_w) * scale_x], [0.0, scale_y, -(centre_y - half_h) * scale_y]]
    )

    def warp(array: np.ndarray, flags: int, border: object) -> np.ndarray:
        """`array` through `matrix` into `crop` x `crop`, `border` outside the source."""
        return cv2.warpAffine(
            array, matrix, (crop, crop), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=border
        )

    return warp(image, cv2.INTER_LINEAR, PAD_COLOUR), warp(instances, cv2.INTER_NEAREST, IGNORE)


def augment(
    image: np.ndarray, instances: np.ndarray, crop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A scene or zoom-in crop of `crop` x `crop`, flipped at random, of one sample (see the module doc)."""
    zoomed = zoom_crop(image, instances, crop, rng) if rng.random() < ZOOM_PROBABILITY else None
    image, instances = zoomed if zoomed is not None else scene_crop(image, instances, crop, rng)
    if rng.random() < 0.5:
        image, instances = image[:, ::-1], instances[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(instances)


def scene_crop(
    image: np.ndarray, instances: np.ndarray, crop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The whole sample scaled (shorter side `crop` x [0.7, 1.4]), padded and cropped at random."""
    height, width = instances.shape
    scale = crop / min(height, width) * rng.uniform(*SCALE_RANGE)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    # INTER_NEAREST_EXACT: labels sampled at the pixel centres INTER_LINEAR samples the image at (plain
    # INTER_NEAREST puts them up to half a source pixel off: a row or column on the wrong side)
    instances = cv2.resize(instances, size, interpolation=cv2.INTER_NEAREST_EXACT)
    pad_y, pad_x = max(0, crop - size[1]), max(0, crop - size[0])
    if pad_y or pad_x:
        image = cv2.copyMakeBorder(image, 0, pad_y, 0, pad_x, cv2.BORDER_CONSTANT, value=PAD_COLOUR)
        instances = cv2.copyMakeBorder(instances, 0, pad_y, 0, pad_x, cv2.BORDER_CONSTANT, value=IGNORE)
    top = int(rng.integers(0, instances.shape[0] - crop + 1))
    left = int(rng.integers(0, instances.shape[1] - crop + 1))
    return image[top : top + crop, left : left + crop], instances[top : top + crop, left : left + crop]


@dataclass
class Batch:
    """`images` float `[B,3,crop,crop]` in [0,1]; `instances` long `[B,crop,crop]` (0, 1..K, 255 ignore)."""

    images: torch.Tensor
    instances: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        """The batch on `device` (asynchronous copy from pinned memory)."""
        if self.images.device == device:
            return self
        return Batch(self.images.to(device, non_blocking=True), self.instances.to(device, non_blocking=True))

    def pin_memory(self) -> Batch:
        """Called by a DataLoader with `pin_memory=True`."""
        return Batch(self.images.pin_memory(), self.instances.pin_memory())

    @property
    def foreground(self) -> torch.Tensor:
        """`[B,crop,crop]` long: 1 on instances, 0 on background, 255 ignore."""
        return torch.where(self.instances == IGNORE, self.instances, (self.instances > 0).long())


class TrainingData:
    """Mixture of the sources of a `--data` description; `batch(seed, step, size)` is deterministic."""

    def __init__(self, spec: object, crop: int):
        sources = check_data_spec(spec)
        self.datasets = [_open_source(source) for source in sources]
        for source, dataset in zip(sources, self.datasets, strict=True):
            if len(dataset) == 0:
                raise ConfigError(f"data: source {source} holds no images; check its root and split")
        weights = np.array([float(source.get("weight", 1.0)) for source in sources])
        self.probabilities = weights / weights.sum()
        self.crop = crop

    def sample(self, seed: int, step: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample `index` of step `step`: image `uint8 [crop,crop,3]`, instances `uint8 [crop,crop]`."""
        rng = np.random.default_rng([seed, step, index])
        dataset = self.datasets[int(rng.choice(len(self.datasets), p=self.probabilities))]
        if isinstance(dataset, CopyPasteComposites):
            image, instances = dataset.sample(rng)
        else:
            image, instances = dataset[int(rng.integers(len(dataset)))]
        return augment(image, instances, self.crop, rng)

    def batch(self, seed: int, step: int, size: int) -> Batch:
        samples = [self.sample(seed, step, index) for index in range(size)]
        images = torch.from_numpy(np.stack([image for image, _ in samples])).permute(0, 3, 1, 2).float() / 255
        instances = torch.from_numpy(np.stack([labels for _, labels in samples])).long()
        return Batch(images=images, instances=instances)
