"""The built-in synthetic benchmark: determinism, on-disk layouts, and the properties each sequence claims."""

import json
from hashlib import sha256
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from lsevos.data.davis import DavisDataset
from lsevos.data.segtrack import SegtrackDataset
from lsevos.data.synthetic import (
    LOOKALIKE_PREFIX,
    SEQUENCE_ATTRIBUTES,
    SyntheticSettings,
    generate_benchmark,
    parse_settings,
    render_static_image,
    render_video,
    segtrack_objects,
    sequence_names,
)
from lsevos.data.voc_sbd import VocInstances
from lsevos.errors import ConfigError, DataError

SMALL = {"static_train": 6, "static_val": 2, "video_frames": 12, "segtrack_frames": 10}
SEED = 7
WIDTH, HEIGHT = 192, 128


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "bench"
    generate_benchmark(root, SEED, SMALL)
    return root


def _tree(root: Path) -> dict[str, bytes]:
    files = (path for path in root.rglob("*") if path.is_file())
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in files}


def _mask(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _frame(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float64)


def _core(mask: np.ndarray) -> np.ndarray:
    """The mask minus a 2 px rim, where JPEG blending with the surroundings is small."""
    return cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


@pytest.mark.slow
def test_same_seed_gives_identical_bytes_and_another_seed_differs(benchmark: Path, tmp_path: Path) -> None:
    generate_benchmark(tmp_path / "again", SEED, SMALL)
    generate_benchmark(tmp_path / "other", SEED + 1, SMALL)
    first, again, other = _tree(benchmark), _tree(tmp_path / "again"), _tree(tmp_path / "other")
    assert first == again
    assert set(other) == set(first)
    differing = [name for name in first if first[name] != other[name]]
    assert len(differing) > 0.9 * len(first)
    manifest = json.loads(first["manifest.json"])
    assert manifest["seed"] == SEED
    assert manifest["settings"]["video_frames"] == 12
    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    del first["manifest.json"]
    # The ownership marker is written after the manifest and is not part of the dataset: every other file is.
    assert first.pop(".lsevos-output") == b"benchmark\n"
    assert listed == {name: sha256(data).hexdigest() for name, data in first.items()}


def test_static_part_has_voc_layout_with_lookalike_instances(benchmark: Path) -> None:
    root = benchmark / "static"
    sets = root / "ImageSets/Segmentation"
    lists = {split: (sets / f"{split}.txt").read_text().split() for split in ("train", "val")}
    assert len(lists["train"]) == 6 and len(lists["val"]) == 2 and not set(lists["train"]) & set(lists["val"])
    assert (sets / "trainval.txt").read_text().split() == lists["train"] + lists["val"]
    assert lists["train"] + lists["val"] == sorted(p.stem for p in (root / "JPEGImages").glob("*.jpg"))
    for name in lists["train"] + lists["val"]:
        image = Image.open(root / "JPEGImages" / f"{name}.jpg")
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (128, 128))
        objects = Image.open(root / "SegmentationObject" / f"{name}.png")
        classes = Image.open(root / "SegmentationClass" / f"{name}.png")
        assert objects.mode == classes.mode == "P"
        assert objects.getpalette()[3:6] == [128, 0, 0]  # VOC colour of id 1
        assert objects.getpalette()[255 * 3 : 256 * 3] == [224, 224, 192]  # VOC void colour
        ids, class_ids = np.asarray(objects), np.asarray(classes)
        instances = sorted(set(np.unique(ids).tolist()) - {0, 255})
        assert len(instances) >= 3 and instances == list(range(1, len(instances) + 1))
        assert set(np.unique(class_ids).tolist()) <= {0, 1, 2, 3, 4, 255}
        assert ((ids == 255) == (class_ids == 255)).all()
        # the void band separates every instance from the background: no instance pixel touches a 0
        touching = cv2.dilate((ids == 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert not (touching & (ids != 0) & (ids != 255)).any()
        frame = _frame(root / "JPEGImages" / f"{name}.jpg")
        means = [frame[_core(ids == i)].mean(axis=0) for i in instances]
        centres = [np.argwhere(ids == i).mean(axis=0) for i in instances]
        twins = [
            (a, b)
            for a in range(len(instances))
            for b in range(a + 1, len(instances))
            if np.abs(means[a] - means[b]).max() < 12 and np.hypot(*(centres[a] - centres[b])) > 15
        ]
        assert twins, f"{name}: no pair of look-alike instances at different places"
    loaded = VocInstances(root, "train")
    image, instances = loaded[0]
    assert image.shape == (128, 128, 3) and instances.max() == 255


def test_static_images_are_not_separable_by_colour_alone() -> None:
    """The best per-colour rule (RGB in 16 levels, fit on the very pixels it is scored on) is poor."""
    settings = SyntheticSettings()
    foreground, background = np.zeros(4096), np.zeros(4096)
    for index in range(40):
        image, instances, _ = render_static_image(index, SEED, settings)
        codes = (image.astype(np.int64) // 16) @ np.array([256, 16, 1])
        foreground += np.bincount(codes[(instances > 0) & (instances < 255)], minlength=4096)
        background += np.bincount(codes[instances == 0], minlength=4096)
    predicted = foreground > background
    iou = foreground[predicted].sum() / (foreground.sum() + background[predicted].sum())
    assert iou < 0.5


def test_davis_part_has_davis_2016_layout_and_attributes(benchmark: Path, davis_root: Path) -> None:
    root = benchmark / "davis"
    info = yaml.safe_load((root / "Annotations/db_info.yml").read_text())
    real = yaml.safe_load((davis_root / "Annotations/db_info.yml").read_text())
    assert info["attributes"] == real["attributes"]
    assert set(info) == set(real)
    assert [entry["name"] for entry in info["sequences"]] == sequence_names(SMALL)
    for entry in info["sequences"]:
        assert set(entry) == set(real["sequences"][0])
        assert entry["attributes"] == list(SEQUENCE_ATTRIBUTES[entry["name"]])
        assert set(entry["attributes"]) <= set(real["attributes"])
        assert entry["num_frames"] == 12 and entry["year"] == 2016 and entry["set"] == "val"
    dataset = DavisDataset(root)
    assert dataset.sequences == sequence_names(SMALL)
    for name in dataset.sequences:
        sequence = dataset.sequence(name)
        assert dataset.attributes(name) == list(SEQUENCE_ATTRIBUTES[name])
        assert [path.name for path in sequence.frame_paths] == [f"{i:05d}.jpg" for i in range(12)]
        for frame_path, mask_path in zip(sequence.frame_paths, sequence.mask_paths, strict=True):
            frame, mask = Image.open(frame_path), Image.open(mask_path)
            assert (frame.format, frame.mode, frame.size) == ("JPEG", "RGB", (WIDTH, HEIGHT))
            assert (mask.mode, mask.size) == ("L", (WIDTH, HEIGHT))
            assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 255}
    lines = (root / "ImageSets/480p/val.txt").read_text().splitlines()
    assert len(lines) == 12 * len(dataset.sequences)
    for line in lines:
        frame, mask = line.split()
        assert (root / frame.lstrip("/")).is_file() and (root / mask.lstrip("/")).is_file()
        assert Path(frame).stem == Path(mask).stem


def test_first_frame_target_is_whole_with_a_valid_box(benchmark: Path) -> None:
    for name in sequence_names(SMALL):
        mask = _mask(benchmark / "davis/Annotations/480p" / name / "00000.png") > 0
        rows, cols = np.nonzero(mask)
        x0, y0, x1, y1 = cols.min(), rows.min(), cols.max(), rows.max()
        assert 0 < x0 < x1 < WIDTH - 1 and 0 < y0 < y1 < HEIGHT - 1, name
        assert mask.sum() >= 150 and (x1 - x0) >= 10 and (y1 - y0) >= 10, name


def test_lookalike_sequences_have_twins_of_identical_colour_at_other_places(benchmark: Path) -> None:
    settings = parse_settings(SMALL)
    lookalikes = [name for name in sequence_names(SMALL) if name.startswith(LOOKALIKE_PREFIX)]
    assert len(lookalikes) >= 2
    for name in lookalikes:
        assert "IO" in SEQUENCE_ATTRIBUTES[name]
        video = render_video(name, SEED, settings)
        for index in range(len(video.labels)):
            written = _mask(benchmark / "davis/Annotations/480p" / name / f"{index:05d}.png")
            assert ((written == 255) == (video.labels[index] == 1)).all()
        frame = _frame(benchmark / "davis/JPEGImages/480p" / name / "00000.jpg")
        labels = video.labels[0]
        target_mean = frame[_core(labels == 1)].mean(axis=0)
        twin_ids = [i + 1 for i, role in enumerate(video.roles) if role == "lookalike"]
        assert twin_ids
        target_centre = np.argwhere(labels == 1).mean(axis=0)
        for twin in twin_ids:
            assert (labels == twin).sum() > 100
            # at another place: the centres lie farther apart than the target's own radius
            apart = np.hypot(*(np.argwhere(labels == twin).mean(axis=0) - target_centre))
            assert apart > np.sqrt((labels == 1).sum() / np.pi), (name, twin, apart)
            assert np.abs(frame[_core(labels == twin)].mean(axis=0) - target_mean).max() < 8
        others = [i + 1 for i, role in enumerate(video.roles) if role == "other"]
        for other in others:  # a different object is told apart by the same measure
            assert np.abs(frame[_core(labels == other)].mean(axis=0) - target_mean).max() > 20


def _areas(benchmark: Path, name: str) -> np.ndarray:
    folder = benchmark / "davis/Annotations/480p" / name
    return np.array([(_mask(path) > 0).sum() for path in sorted(folder.glob("*.png"))])


def test_occlusion_sequences_hide_target_pixels_behind_nearer_objects(benchmark: Path) -> None:
    settings = parse_settings(SMALL)
    for name in [n for n in sequence_names(SMALL) if "OCC" in SEQUENCE_ATTRIBUTES[n]]:
        areas = _areas(benchmark, name)
        full = areas.max()
        assert areas.min() < 0.8 * full, name
        video = render_video(name, SEED, settings)
        hidden = int(np.argmin(areas))
        # the target moves linearly at a constant size: its unhidden place is interpolated from whole frames
        before = max(i for i in range(hidden) if areas[i] > 0.95 * full)
        after = min(i for i in range(hidden + 1, len(areas)) if areas[i] > 0.95 * full)
        centres = {i: np.argwhere(video.labels[i] == 1).mean(axis=0) for i in (before, after)}
        weight = (hidden - before) / (after - before)
        centre = (1 - weight) * centres[before] + weight * centres[after]
        rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
        place = np.hypot(rows - centre[0], cols - centre[1]) <= np.sqrt(full / np.pi)
        nearer = [i + 1 for i, role in enumerate(video.roles) if role in ("occluder", "lookalike")]
        covered = (place & np.isin(video.labels[hidden], nearer)).sum()
        assert covered > 0.5 * (full - areas[hidden]), name


def test_scale_fast_motion_and_appearance_change_are_real(benchmark: Path) -> None:
    areas = _areas(benchmark, "glide-sc")
    assert areas[-1] > 2.5 * areas[0]
    folder = benchmark / "davis/Annotations/480p/dash-fm"
    centres = np.array([np.argwhere(_mask(p) > 0).mean(axis=0) for p in sorted(folder.glob("*.png"))])
    steps = np.hypot(*np.diff(centres, axis=0).T)
    assert steps.max() > np.sqrt(_areas(benchmark, "dash-fm").mean() / np.pi)  # more than its radius
    frames = benchmark / "davis/JPEGImages/480p/morph-ac"
    masks = benchmark / "davis/Annotations/480p/morph-ac"
    first = _frame(frames / "00000.jpg")[_mask(masks / "00000.png") > 0].mean(axis=0)
    last = _frame(frames / "00011.jpg")[_mask(masks / "00011.png") > 0].mean(axis=0)
    assert np.abs(first - last).max() > 30


def test_segtrack_part_has_release_layout(benchmark: Path) -> None:
    root = benchmark / "segtrack"
    dataset = SegtrackDataset(root)
    assert dataset.targets == segtrack_objects(SMALL) == ["duo_1", "duo_2", "solo_1"]
    for sequence in ("duo", "solo"):
        frames = sorted((root / "JPEGImages" / sequence).iterdir())
        assert [p.name for p in frames] == [f"{sequence}_{i:05d}.png" for i in range(10)]
        image = Image.open(frames[0])
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (WIDTH, HEIGHT))
    for target in dataset.targets:
        masks = dataset.target(target).mask_paths
        assert len(masks) == 10
        first = Image.open(masks[0])
        assert first.mode == "L" and set(np.unique(np.asarray(first)).tolist()) == {0, 255}
    duo = [_mask(root / f"GroundTruth/duo/{obj}/duo_00000.png") > 0 for obj in (1, 2)]
    assert not (duo[0] & duo[1]).any()


def test_sequence_lists_without_generating() -> None:
    names = sequence_names()
    assert len(names) == 6 and names == sorted(SEQUENCE_ATTRIBUTES)
    assert sum(name.startswith(LOOKALIKE_PREFIX) for name in names) >= 2
    codes = {code for attributes in SEQUENCE_ATTRIBUTES.values() for code in attributes}
    assert codes == {"SC", "FM", "OCC", "AC", "IO"}
    assert sequence_names({"sequences": ["hide-occ", "dash-fm"]}) == ["dash-fm", "hide-occ"]


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"video_frame": 24}, "video_frame"),
        ({"video_frames": "24"}, "video_frames"),
        ({"static_train": True}, "static_train"),
        ({"noise_std": "3"}, "noise_std"),
        ({"video_width": 10}, "video_width"),
        ({"sequences": ["glide-sc", "nope"]}, "sequences"),
        ({"sequences": "glide-sc"}, "sequences"),
    ],
)
def test_bad_settings_name_the_key_and_write_nothing(settings: dict, key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=key):
        generate_benchmark(tmp_path / "bench", 0, settings)
    assert list(tmp_path.iterdir()) == []


def test_bad_seed_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seed"):
        generate_benchmark(tmp_path / "bench", -1, SMALL)
    assert list(tmp_path.iterdir()) == []


def test_regenerating_replaces_its_own_folder_and_leaves_no_temporaries(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    generate_benchmark(out, 3, {**SMALL, "sequences": ["glide-sc"]})
    (out / "davis" / "stale.txt").write_text("from an older run")
    generate_benchmark(out, 3, {**SMALL, "sequences": ["dash-fm"]})
    assert not (out / "davis" / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"]
    assert sorted(p.name for p in (out / "davis/JPEGImages/480p").iterdir()) == ["dash-fm"]


def test_generating_into_a_folder_it_did_not_write_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    (out / "davis").mkdir(parents=True)
    (out / "davis" / "mine.txt").write_text("a user's file")
    with pytest.raises(DataError, match="did not write"):
        generate_benchmark(out, 3, {**SMALL, "sequences": ["dash-fm"]})
    assert [p.relative_to(tmp_path).as_posix() for p in sorted(tmp_path.rglob("*"))] == [
        "bench",
        "bench/davis",
        "bench/davis/mine.txt",
    ]
