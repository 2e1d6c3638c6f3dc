"""lsevos.data.segtrack: the SegTrack v2 release layout and its conversion to the DAVIS layout."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from lsevos.data.davis import DavisDataset
from lsevos.data.io import read_frame, read_mask
from lsevos.data.segtrack import SegtrackDataset, convert_segtrack_to_davis
from lsevos.errors import DataError


def test_bmx_object_2(segtrack_root):
    dataset = SegtrackDataset(segtrack_root)
    assert dataset.targets == ["bmx_2"]
    target = dataset.target("bmx_2")
    assert (target.sequence, target.object_id, len(target)) == ("bmx", "2", 36)
    assert target.frame_paths[0].name == "bmx_06668.png"
    assert target.frame_paths[-1].name == "bmx_06703.png"
    assert [path.name for path in target.mask_paths] == [path.name for path in target.frame_paths]
    raw = np.asarray(Image.open(target.mask_paths[0]))
    mask = target.read_mask(0)
    assert mask.dtype == bool and mask.shape == (360, 640)
    assert int(mask.sum()) == int((raw == 255).sum()) > 0


def test_convert_bmx_to_davis_layout(segtrack_root, tmp_path):
    out = tmp_path / "segtrack_davis"
    assert convert_segtrack_to_davis(segtrack_root, out) == ["bmx_2"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["segtrack_davis"]
    dataset = DavisDataset(out)
    assert dataset.sequences == ["bmx_2"]
    assert dataset.attributes("bmx_2") == []
    sequence = dataset.sequence("bmx_2")
    assert len(sequence) == 36
    assert sequence.frame_paths[0].name == "00000.jpg"
    source = SegtrackDataset(segtrack_root).target("bmx_2")
    for index in (0, 35):
        original = read_frame(source.frame_paths[index]).astype(int)
        converted = read_frame(sequence.frame_paths[index]).astype(int)
        assert np.abs(converted - original).mean() < 2.0  # JPEG quality 95, no chroma subsampling
        np.testing.assert_array_equal(read_mask(sequence.mask_paths[index]), source.read_mask(index))
        assert set(np.unique(np.asarray(Image.open(sequence.mask_paths[index])))) == {0, 255}
    entry = yaml.safe_load((out / "Annotations" / "db_info.yml").read_text())["sequences"][0]
    assert entry["source_frames"][:2] == ["bmx_06668.png", "bmx_06669.png"]
    lines = (out / "ImageSets" / "480p" / "val.txt").read_text().splitlines()
    assert len(lines) == 36
    assert lines[1] == "/JPEGImages/480p/bmx_2/00001.jpg /Annotations/480p/bmx_2/00001.png"


def _release(root: Path) -> Path:
    """A tiny release: `duo` (2 objects, bmp frames) and `solo` (single-object GroundTruth/<seq>/*.png)."""
    rng = np.random.default_rng(0)
    for sequence, objects in (("duo", ["1", "2"]), ("solo", None)):
        (root / "JPEGImages" / sequence).mkdir(parents=True)
        for index in range(3):
            name = f"{sequence}_{index:05d}"
            Image.fromarray(rng.integers(0, 255, (8, 12, 3), dtype=np.uint8)).save(
                root / "JPEGImages" / sequence / f"{name}.bmp"
            )
            for object_id in objects or [None]:
                folder = root / "GroundTruth" / sequence / (object_id or "")
                folder.mkdir(parents=True, exist_ok=True)
                mask = np.zeros((8, 12), dtype=np.uint8)
                mask[index : index + 2, int(object_id or 0) * 3 : int(object_id or 0) * 3 + 2] = 255
                Image.fromarray(mask).save(folder / f"{name}.png")
    return root


def test_multi_and_single_object_sequences(tmp_path):
    dataset = SegtrackDataset(_release(tmp_path / "release"))
    assert dataset.targets == ["duo_1", "duo_2", "solo_1"]
    target = dataset.target("duo_2")
    assert target.mask_paths[1].parent.name == "2"
    assert np.flatnonzero(target.read_mask(1).any(axis=0)).tolist() == [6, 7]
    assert np.flatnonzero(target.read_mask(1).any(axis=1)).tolist() == [1, 2]
    out = tmp_path / "converted"
    names = convert_segtrack_to_davis(tmp_path / "release", out, objects=["duo_2", "solo_1"])
    assert names == ["duo_2", "solo_1"]
    converted = DavisDataset(out)
    assert converted.sequences == ["duo_2", "solo_1"]
    np.testing.assert_array_equal(read_mask(converted.sequence("duo_2").mask_paths[1]), target.read_mask(1))


def test_unknown_object_writes_nothing(tmp_path):
    _release(tmp_path / "release")
    with pytest.raises(DataError, match="unknown SegTrack target 'duo_3'.*duo_1, duo_2, solo_1"):
        convert_segtrack_to_davis(tmp_path / "release", tmp_path / "out", objects=["duo_3"])
    assert not (tmp_path / "out").exists()


def test_missing_mask_names_the_folder_and_leaves_no_output(tmp_path):
    _release(tmp_path / "release")
    (tmp_path / "release" / "GroundTruth" / "duo" / "1" / "duo_00002.png").unlink()
    with pytest.raises(DataError, match=r"GroundTruth/duo/1: 2 masks for 3 frames .*duo_00002.bmp"):
        convert_segtrack_to_davis(tmp_path / "release", tmp_path / "out")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["release"]


def test_mask_of_another_size_fails_the_conversion_atomically(tmp_path):
    _release(tmp_path / "release")
    small = Image.fromarray(np.zeros((4, 4), dtype=np.uint8))
    small.save(tmp_path / "release" / "GroundTruth" / "solo" / "solo_00001.png")
    with pytest.raises(DataError, match=r"solo_00001\.png: mask size \(4, 4\)"):
        convert_segtrack_to_davis(tmp_path / "release", tmp_path / "out")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["release"]
