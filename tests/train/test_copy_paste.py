"""Copy-paste composites from training sequences of a DAVIS-layout folder, and the augmentation."""

import numpy as np
import pytest

from lsevos.data.io import write_mask
from lsevos.errors import ConfigError
from lsevos.train.data import CopyPasteComposites, TrainingData, augment, scene_crop, zoom_crop


@pytest.fixture()
def davis_training_root(tmp_path):
    """Two training sequences (2 frames each) with one square object; no val list."""
    from PIL import Image

    for name, colour in (("train-a", (250, 20, 20)), ("train-b", (20, 250, 20))):
        frames = tmp_path / "JPEGImages" / "480p" / name
        masks = tmp_path / "Annotations" / "480p" / name
        frames.mkdir(parents=True)
        masks.mkdir(parents=True)
        for index in range(2):
            image = np.full((60, 80, 3), 90, dtype=np.uint8)
            mask = np.zeros((60, 80), dtype=np.uint8)
            mask[10 + 5 * index : 30 + 5 * index, 20:40] = 1
            image[mask == 1] = colour
            Image.fromarray(image).save(frames / f"{index:05d}.png")  # lossless: colours stay exact
            (frames / f"{index:05d}.png").rename(frames / f"{index:05d}.jpg")
            write_mask(masks / f"{index:05d}.png", mask)
    return tmp_path


def test_copy_paste_composites_hold_lookalike_instances(davis_training_root):
    spec = {
        "sources": [
            {
                "kind": "copy_paste",
                "davis_root": str(davis_training_root),
                "sequences": ["train-a", "train-b"],
                "copies": [2, 2],
            }
        ]
    }
    data = TrainingData(spec, crop=48)
    composite = data.datasets[0]
    image, instances = composite.sample(np.random.default_rng(0))
    ids = [k for k in np.unique(instances).tolist() if k not in (0, 255)]
    assert len(ids) == 3  # the frame's object (if still visible) and two pasted copies, or two copies
    copy_colours = [tuple(np.median(image[instances == k], axis=0)) for k in ids[-2:]]
    assert copy_colours[0] == copy_colours[1]  # the copies are look-alikes
    batch = data.batch(seed=1, step=5, size=2)
    assert batch.images.shape == (2, 3, 48, 48) and batch.instances.shape == (2, 48, 48)
    again = data.batch(seed=1, step=5, size=2)
    assert np.array_equal(batch.images.numpy(), again.images.numpy())  # a pure function of (seed, step)
    assert set(batch.foreground.unique().tolist()) <= {0, 1, 255}


def test_copy_paste_refuses_excluded_sequences(davis_training_root):
    spec = {
        "sources": [
            {
                "kind": "copy_paste",
                "davis_root": str(davis_training_root),
                "sequences": ["train-a", "train-b"],
                "exclude": ["train-b"],
            }
        ]
    }
    with pytest.raises(ConfigError, match="train-b"):
        TrainingData(spec, crop=48)


def test_copy_paste_all_on_a_folder_of_evaluated_sequences_says_so(davis_training_root):
    sets = davis_training_root / "ImageSets" / "480p"
    sets.mkdir(parents=True)
    (sets / "val.txt").write_text(
        "/JPEGImages/480p/train-a/00000.jpg /Annotations/480p/train-a/00000.png\n"
        "/JPEGImages/480p/train-b/00000.jpg /Annotations/480p/train-b/00000.png\n"
    )
    spec = {"sources": [{"kind": "copy_paste", "davis_root": str(davis_training_root), "sequences": "all"}]}
    with pytest.raises(ConfigError, match="'all' leaves none in .*every annotated sequence is evaluated"):
        TrainingData(spec, crop=48)
    spec["sources"][0]["exclude"] = ["train-a"]  # an explicit exclude list replaces val.txt
    assert len(TrainingData(spec, crop=48).datasets[0]) == 2  # train-b's two frames


def test_copy_paste_names_a_mask_in_a_wrong_format_before_sampling(davis_training_root):
    from PIL import Image

    from lsevos.errors import DataError

    bad = davis_training_root / "Annotations" / "480p" / "train-b" / "00001.png"
    Image.new("RGB", (80, 60)).save(bad)
    spec = {"sources": [{"kind": "copy_paste", "davis_root": str(davis_training_root), "sequences": "all"}]}
    with pytest.raises(DataError, match=r"train-b/00001.png: mask has image mode 'RGB'"):
        TrainingData(spec, crop=48)


def test_pasted_copies_are_labelled_where_the_image_shows_them(tmp_path):
    """A chequered object (red 200 on its 3x3 squares, 0 between them) pasted shrunk: every pixel labelled
    as a copy shows at least a quarter of a red square in the bilinear piece (>= 50); labels resized with
    OpenCV's INTER_NEAREST land up to half a source pixel off, on the black between the squares."""
    from PIL import Image

    frames, masks = (
        tmp_path / "JPEGImages" / "480p" / "chequer",
        tmp_path / "Annotations" / "480p" / "chequer",
    )
    frames.mkdir(parents=True)
    masks.mkdir(parents=True)
    rows, columns = np.mgrid[0:60, 0:80]
    mask = (
        (((rows // 3) + (columns // 3)) % 2 == 0)
        & (rows >= 6)
        & (rows < 54)
        & (columns >= 9)
        & (columns < 72)
    )
    image = np.zeros((60, 80, 3), dtype=np.uint8)
    image[mask, 0] = 200
    Image.fromarray(image).save(frames / "00000.png")  # lossless: the squares stay exact
    (frames / "00000.png").rename(frames / "00000.jpg")
    write_mask(masks / "00000.png", mask.astype(np.uint8))
    composites = CopyPasteComposites(str(tmp_path), ["chequer"], copies=(2, 2), exclude=[])
    for seed in range(10):
        pasted_image, instances = composites.sample(np.random.default_rng(seed))
        copies = instances >= 2
        assert copies.any() and pasted_image[copies, 0].min() >= 50, seed


def test_zoom_crop_fills_the_crop_with_the_enlarged_instance_box():
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    instances = np.zeros((100, 100), dtype=np.uint8)
    instances[40:60, 30:50] = 1  # a 20 x 20 instance
    for seed in range(10):
        cropped_image, cropped = zoom_crop(image, instances, crop=40, rng=np.random.default_rng(seed))
        assert cropped_image.shape == (40, 40, 3) and cropped.shape == (40, 40)
        share = (cropped == 1).mean()  # enlargement 1.2-2.2 per side: 1/2.2^2 .. 1/1.2^2 of the crop
        assert 1 / 2.2**2 - 0.05 <= share <= 1 / 1.2**2 + 0.05
    assert zoom_crop(image, np.zeros_like(instances), crop=40, rng=np.random.default_rng(0)) is None


def test_augment_is_deterministic_per_generator():
    image = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    instances = np.zeros((30, 40), dtype=np.uint8)
    instances[5:15, 5:15] = 1
    first = augment(image, instances, crop=24, rng=np.random.default_rng(3))
    second = augment(image, instances, crop=24, rng=np.random.default_rng(3))
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_augment_keeps_image_and_labels_aligned_through_both_crops_and_the_flip():
    """Red encodes the instance (100 on it, 0 off it), green the column (rising to the right): after
    `augment`, the labels still sit on the red pixels, whichever crop, scale and flip the seed drew; the flip
    (green falling to the right) and the zoom-in crop (the instance filling over a third of the crop)
    each happen for some of 40 seeds, and not for all."""
    height, width = 60, 80
    instances = np.zeros((height, width), dtype=np.uint8)
    instances[20:40, 10:30] = 1
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = instances * 100
    image[..., 1] = np.arange(width, dtype=np.uint8)[None, :] * 3
    flipped = zoomed = 0
    for seed in range(40):
        out, labels = augment(image, instances, crop=32, rng=np.random.default_rng(seed))
        red = out[..., 0].astype(int)
        on, off = labels == 1, labels == 0
        # no label on the wrong side of the image's (bilinear) edge: a pixel labelled object is at least
        # a corner of it (bilinear: 0.5 x 0.5 = 25), one labelled background at most 75 (the same from
        # outside); a label map resized against the image's sampling (OpenCV's INTER_NEAREST when it
        # shrinks) puts whole rows of labels a pixel off, where the image is 0 or 100
        assert red[on].min() >= 20 and red[off].max() <= 80, seed
        green = out[..., 1].astype(int)
        step = np.diff(green, axis=1)[(labels[:, 1:] != 255) & (labels[:, :-1] != 255)]
        flipped += int(np.median(step) < 0)
        zoomed += int(on.mean() > 1 / 3)
    assert 0 < flipped < 40 and 0 < zoomed < 40


def test_scene_crop_scales_to_the_crop_and_pads_with_ignore():
    image = np.zeros((10, 20, 3), dtype=np.uint8)
    instances = np.ones((10, 20), dtype=np.uint8)
    padded = 0
    for seed in range(10):  # scale factor in [0.7, 1.4] of crop / shorter side: below 1 needs padding
        cropped_image, cropped = scene_crop(image, instances, crop=40, rng=np.random.default_rng(seed))
        assert cropped_image.shape == (40, 40, 3) and cropped.shape == (40, 40)
        assert set(np.unique(cropped).tolist()) <= {1, 255} and (cropped == 1).mean() >= 0.7 - 1e-9
        padded += int((cropped == 255).any())
    assert 0 < padded < 10
