"""lsevos.data.davis on the real DAVIS 2016 subset and on broken copies of it."""

import numpy as np
import pytest
from PIL import Image

from lsevos.data.davis import DavisDataset
from lsevos.data.io import read_frame, read_mask
from lsevos.errors import DataError

FRAME_COUNTS = {
    "blackswan": 50,
    "bmx-trees": 80,
    "breakdance": 84,
    "camel": 90,
    "car-shadow": 40,
    "cows": 104,
    "dance-twirl": 90,
    "dog": 60,
    "goat": 90,
    "parkour": 100,
}


def test_shared_davis_subset_loads(davis_root):
    dataset = DavisDataset(davis_root)
    assert dataset.sequences == sorted(FRAME_COUNTS)
    for name, count in FRAME_COUNTS.items():
        sequence = dataset.sequence(name)
        assert len(sequence) == count
        assert sequence.frame_names == [f"{index:05d}" for index in range(count)]
        assert [path.stem for path in sequence.mask_paths] == sequence.frame_names
        for index in (0, count - 1):
            mask = read_mask(sequence.mask_paths[index])
            assert mask.shape == (480, 854)
            assert set(np.unique(mask)) == {0, 1}


def test_attributes_come_from_db_info(davis_root):
    dataset = DavisDataset(davis_root)
    assert dataset.attributes("blackswan") == []
    assert dataset.attributes("camel") == ["CS", "IO", "DEF", "ROT"]
    assert dataset.sequence("car-shadow").attributes == ["LR", "EA", "AC", "BC"]


def test_subsets_by_name(davis_root):
    dataset = DavisDataset(davis_root, sequences=["dog", "camel"])
    assert dataset.sequences == ["dog", "camel"]
    with pytest.raises(DataError, match="unknown sequence.*'blackswan'"):
        dataset.sequence("blackswan")
    with pytest.raises(DataError, match="kite-surf.*available: blackswan"):
        DavisDataset(davis_root, sequences=["kite-surf"])


def test_sequences_from_folders_without_image_sets(davis_copy):
    dataset = DavisDataset(davis_copy)
    assert dataset.sequences == ["car-shadow"]
    assert len(dataset.sequence("car-shadow")) == 40


def test_image_set_with_one_name_per_line(davis_copy):
    (davis_copy / "ImageSets" / "480p").mkdir(parents=True)
    (davis_copy / "ImageSets" / "480p" / "val.txt").write_text("car-shadow\n")
    assert DavisDataset(davis_copy).sequences == ["car-shadow"]


def test_missing_frame_names_the_file(davis_copy):
    (davis_copy / "JPEGImages" / "480p" / "car-shadow" / "00010.jpg").unlink()
    with pytest.raises(DataError, match=r"car-shadow/00010\.jpg: frame missing"):
        DavisDataset(davis_copy).sequence("car-shadow")


def test_missing_frame_and_mask_disagree_with_db_info(davis_copy):
    (davis_copy / "JPEGImages" / "480p" / "car-shadow" / "00039.jpg").unlink()
    (davis_copy / "Annotations" / "480p" / "car-shadow" / "00039.png").unlink()
    with pytest.raises(DataError, match="39 frames, but .*db_info.yml says 40"):
        DavisDataset(davis_copy).sequence("car-shadow")


def test_unreadable_jpeg_names_the_file(davis_copy):
    frame = davis_copy / "JPEGImages" / "480p" / "car-shadow" / "00005.jpg"
    frame.write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match=r"00005\.jpg: unreadable"):
        DavisDataset(davis_copy).sequence("car-shadow")
    truncated = davis_copy / "JPEGImages" / "480p" / "car-shadow" / "00006.jpg"
    truncated.write_bytes(truncated.read_bytes()[:5000])
    sequence = DavisDataset(davis_copy).sequence("car-shadow", validate=False)
    with pytest.raises(DataError, match=r"00006\.jpg: unreadable or truncated"):
        read_frame(sequence.frame_paths[6])


def test_mask_of_another_size_names_the_file(davis_copy):
    mask_path = davis_copy / "Annotations" / "480p" / "car-shadow" / "00007.png"
    Image.open(mask_path).resize((427, 240)).save(mask_path)
    with pytest.raises(DataError, match=r"00007\.png: mask size \(240, 427\).*resize"):
        DavisDataset(davis_copy).sequence("car-shadow")


def test_not_a_davis_root(tmp_path):
    with pytest.raises(DataError, match="lsevos download davis2016"):
        DavisDataset(tmp_path)
