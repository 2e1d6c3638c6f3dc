"""Small archives in the real release layouts of the paper's four downloads, made from the built-in benchmark.

`build_archives(out, frames)` writes `DAVIS-data.zip`, `SegTrackv2.zip`, `VOCtrainval_11-May-2012.tar` and
`benchmark.tgz` (SBD: `inst/*.mat` with struct `GTinst`, `cls/*.mat` with `GTcls`) into `out` and returns
the sequence names they hold. The VOC and SBD splits overlap as the real ones do, so the augmented list is
a real set difference: VOC train + SBD train + SBD val - VOC val.
"""

from __future__ import annotations

import io
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from lsevos.data.synthetic import generate_benchmark

DAVIS_SEQUENCE = "lookalike-cross"
SEGTRACK_SEQUENCE = "solo"  # one object: the converted target is `solo_1`
STATIC_TRAIN, STATIC_VAL = 8, 4
# Image ids by split (indices into the static images `synth_NNNNN`, train first then val).
VOC_TRAIN, VOC_VAL = [0, 1, 2, 3], [8, 9]
SBD_TRAIN, SBD_VAL = [2, 4, 5, 8], [6, 7, 9, 10]


def _names(indices: list[int]) -> list[str]:
    return [f"synth_{index:05d}" for index in indices]


def augmented_count() -> int:
    """The images the paper's augmented list must hold, derived from the splits above."""
    return len((set(VOC_TRAIN) | set(SBD_TRAIN) | set(SBD_VAL)) - set(VOC_VAL))


def _lines(names: list[str]) -> bytes:
    return "".join(f"{name}\n" for name in names).encode()


def _davis_zip(bench: Path, path: Path, frames: int) -> None:
    davis = bench / "davis"
    stems = [f"{index:05d}" for index in range(frames)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for stem in stems:
            bundle.write(davis / "JPEGImages/480p" / DAVIS_SEQUENCE / f"{stem}.jpg",
                         f"DAVIS/JPEGImages/480p/{DAVIS_SEQUENCE}/{stem}.jpg")  # fmt: skip
            bundle.write(davis / "Annotations/480p" / DAVIS_SEQUENCE / f"{stem}.png",
                         f"DAVIS/Annotations/480p/{DAVIS_SEQUENCE}/{stem}.png")  # fmt: skip
        info = (davis / "Annotations/db_info.yml").read_text()  # num_frames of the trimmed sequence
        info = re.sub(r"num_frames: \d+", f"num_frames: {frames}", info)
        bundle.writestr("DAVIS/Annotations/db_info.yml", info)
        listing = "".join(
            f"/JPEGImages/480p/{DAVIS_SEQUENCE}/{s}.jpg /Annotations/480p/{DAVIS_SEQUENCE}/{s}.png\n"
            for s in stems
        )
        for split in ("val", "trainval"):
            bundle.writestr(f"DAVIS/ImageSets/480p/{split}.txt", listing)
        bundle.writestr("DAVIS/ImageSets/480p/train.txt", "")


def _segtrack_zip(bench: Path, path: Path, frames: int) -> None:
    segtrack = bench / "segtrack"
    stems = [f"{SEGTRACK_SEQUENCE}_{index:05d}.png" for index in range(frames)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for stem in stems:
            bundle.write(segtrack / "JPEGImages" / SEGTRACK_SEQUENCE / stem,
                         f"SegTrackv2/JPEGImages/{SEGTRACK_SEQUENCE}/{stem}")  # fmt: skip
            bundle.write(segtrack / "GroundTruth" / SEGTRACK_SEQUENCE / "1" / stem,
                         f"SegTrackv2/GroundTruth/{SEGTRACK_SEQUENCE}/1/{stem}")  # fmt: skip


def _add(bundle: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    bundle.addfile(member, io.BytesIO(data))


def _add_images(bundle: tarfile.TarFile, bench: Path, folder: str, splits: list[list[int]]) -> Iterator[str]:
    """Add the static images of `splits` (each once, sorted) as `folder/<name>.jpg`; yields each name after
    adding its image, for the caller to add its labels next to it."""
    for name in _names(sorted(set().union(*splits))):
        bundle.add(bench / "static" / "JPEGImages" / f"{name}.jpg", f"{folder}/{name}.jpg")
        yield name


def _add_lists(bundle: tarfile.TarFile, folder: str, **splits: list[int]) -> None:
    """Add the image list `folder/<split>.txt` of each split."""
    for split, indices in splits.items():
        _add(bundle, f"{folder}/{split}.txt", _lines(_names(indices)))


def _voc_tar(bench: Path, path: Path) -> None:
    static = bench / "static"
    root = "VOCdevkit/VOC2012"
    with tarfile.open(path, "w") as bundle:
        for name in _add_images(bundle, bench, f"{root}/JPEGImages", [VOC_TRAIN, VOC_VAL]):
            for folder in ("SegmentationObject", "SegmentationClass"):
                bundle.add(static / folder / f"{name}.png", f"{root}/{folder}/{name}.png")
        _add_lists(
            bundle,
            f"{root}/ImageSets/Segmentation",
            train=VOC_TRAIN,
            val=VOC_VAL,
            trainval=VOC_TRAIN + VOC_VAL,
        )


def _mat(struct: str, segmentation: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {struct: {"Segmentation": segmentation.astype(np.uint8)}})
    return buffer.getvalue()


def _sbd_tgz(bench: Path, path: Path) -> None:
    static = bench / "static"
    root = "benchmark_RELEASE/dataset"
    with tarfile.open(path, "w:gz") as bundle:
        for name in _add_images(bundle, bench, f"{root}/img", [SBD_TRAIN, SBD_VAL]):
            for folder, struct, kind in (("SegmentationObject", "GTinst", "inst"), ("SegmentationClass", "GTcls", "cls")):  # noqa: E501  # fmt: skip
                labels = np.array(Image.open(static / folder / f"{name}.png"))
                labels[labels == 255] = 0  # SBD has no void band
                _add(bundle, f"{root}/{kind}/{name}.mat", _mat(struct, labels))
        _add_lists(bundle, root, train=SBD_TRAIN, val=SBD_VAL)


def build_archives(out: Path, frames: int = 4) -> dict[str, str]:
    """Write the four archives into `out`; returns {"davis": sequence, "segtrack": target}."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        bench = Path(scratch) / "bench"
        settings = {
            "static_train": STATIC_TRAIN,
            "static_val": STATIC_VAL,
            "video_frames": max(8, frames),
            "segtrack_frames": max(8, frames),
            "sequences": [DAVIS_SEQUENCE],
        }
        generate_benchmark(bench, 0, settings)
        _davis_zip(bench, out / "DAVIS-data.zip", frames)
        _segtrack_zip(bench, out / "SegTrackv2.zip", frames)
        _voc_tar(bench, out / "VOCtrainval_11-May-2012.tar")
        _sbd_tgz(bench, out / "benchmark.tgz")
        shutil.rmtree(bench)
    return {"davis": DAVIS_SEQUENCE, "segtrack": f"{SEGTRACK_SEQUENCE}_1"}
