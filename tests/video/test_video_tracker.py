"""The zoom-in tracker with a perfect predictor, the vanished-object policy, modes and scan folders."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from lsevos.data.io import read_mask
from lsevos.errors import ConfigError
from lsevos.video.boxes import box_from_mask, enlarge_box
from lsevos.video.scan_folder import read_probability, scan_metadata, write_scan
from lsevos.video.settings import VideoSettings
from lsevos.video.tracker import track

SIZE = (60, 90)
SETTINGS = VideoSettings(crop_size=32, enlarge=1.5, vanish_growth=2.0)


def disk_frame(size: tuple[int, int], centre: tuple[int, int] | None, radius: int) -> np.ndarray:
    """A red disk (RGB) on a dark grey background; no disk when `centre` is None."""
    frame = np.full((*size, 3), 30, dtype=np.uint8)
    if centre is not None:
        cv2.circle(frame, centre, radius, (220, 20, 20), thickness=-1)
    return frame


def disk_mask(size: tuple[int, int], centre: tuple[int, int] | None, radius: int) -> np.ndarray:
    mask = np.zeros(size, dtype=np.uint8)
    if centre is not None:
        cv2.circle(mask, centre, radius, 1, thickness=-1)
    return mask


def red_oracle(crop: np.ndarray) -> np.ndarray:
    """A perfect `predict` for the red-disk videos: probability 1 on red pixels, 0 elsewhere."""
    return ((crop[..., 0] > 120) & (crop[..., 1] < 100)).astype(np.float32)


def moving_disk(centres, radius=6):
    for index, centre in enumerate(centres):
        yield f"{index:05d}", disk_frame(SIZE, centre, radius)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def test_tracker_follows_a_moving_disk_and_propagates_enlarged_boxes():
    # moves 3 px right and 1 px down per frame: within the 1.5x search margin (about 4 px per side)
    centres = [(12 + 3 * t, 20 + t) for t in range(20)]
    first_box = box_from_mask(disk_mask(SIZE, centres[0], 8))
    results = list(track(moving_disk(centres, radius=8), red_oracle, first_box, SETTINGS))
    assert [r.name for r in results] == [f"{t:05d}" for t in range(20)]
    assert results[0].search_box == enlarge_box(first_box, 1.5, SIZE)
    for t, result in enumerate(results):
        assert iou(result.mask, disk_mask(SIZE, centres[t], 8)) > 0.85, t
        assert result.prob.shape == SIZE and result.prob.dtype == np.float32
    for previous, current in zip(results, results[1:], strict=False):
        assert current.search_box == enlarge_box(previous.object_box, 1.5, SIZE)
    assert results[-1].object_box[0] > results[0].object_box[0] + 50


def test_tracker_is_lazy_one_frame_at_a_time():
    consumed = []

    def frames():
        for index in range(5):
            consumed.append(index)
            yield f"{index:05d}", disk_frame(SIZE, (30, 30), 6)

    stream = track(frames(), red_oracle, (24, 24, 36, 36), SETTINGS)
    next(stream)
    assert consumed == [0]
    next(stream)
    assert consumed == [0, 1]


def test_vanished_object_keeps_last_box_and_widens_the_search_to_the_whole_image():
    centres = [(30, 30), (32, 30), None, None, None, None, (40, 34), (42, 34)]
    first_box = box_from_mask(disk_mask(SIZE, centres[0], 6))
    results = list(track(moving_disk(centres), red_oracle, first_box, SETTINGS))
    last_seen = results[1].object_box
    assert results[2].search_box == enlarge_box(last_seen, 1.5, SIZE)
    assert results[3].search_box == enlarge_box(last_seen, 1.5 * 2.0, SIZE)
    assert results[4].search_box == enlarge_box(last_seen, 1.5 * 4.0, SIZE)
    assert results[5].search_box == (0, 0, SIZE[1] - 1, SIZE[0] - 1)  # grown to the whole image
    for empty in results[2:6]:
        assert empty.object_box is None and not empty.mask.any()
    # the object reappears elsewhere inside the widened search: found again, and tracking narrows back
    # (searched at the whole-image scale, 90x60 -> 32x32, so the disk's outline is coarse)
    assert iou(results[6].mask, disk_mask(SIZE, centres[6], 6)) > 0.75
    assert results[7].search_box == enlarge_box(results[6].object_box, 1.5, SIZE)


def test_nozoom_searches_whole_frames_and_gtbox_uses_given_boxes_without_propagation():
    centres = [(20, 20), (50, 40), (70, 30)]
    nozoom = list(track(moving_disk(centres), red_oracle, None, SETTINGS, mode="nozoom"))
    assert all(r.search_box == (0, 0, 89, 59) for r in nozoom)
    gt_boxes = {"00000": (14, 14, 26, 26), "00001": None, "00002": (64, 24, 76, 36)}
    gtbox = list(track(moving_disk(centres), red_oracle, None, SETTINGS, mode="gtbox", gt_boxes=gt_boxes))
    assert gtbox[0].search_box == enlarge_box(gt_boxes["00000"], 1.5, SIZE)
    assert gtbox[1].search_box is None and not gtbox[1].mask.any()  # empty GT: nothing searched
    assert gtbox[2].search_box == enlarge_box(gt_boxes["00002"], 1.5, SIZE)
    assert iou(gtbox[2].mask, disk_mask(SIZE, centres[2], 6)) > 0.85
    with pytest.raises(ConfigError, match="gt-masks"):
        next(track(moving_disk(centres), red_oracle, None, SETTINGS, mode="gtbox"))
    with pytest.raises(ConfigError, match="box"):
        next(track(moving_disk(centres), red_oracle, None, SETTINGS))


def test_nozoom_keeps_the_frame_aspect_ratio_with_the_shorter_side_at_crop_size():
    seen = []

    def spy(crop: np.ndarray) -> np.ndarray:
        seen.append(crop.shape)
        return red_oracle(crop)

    centres = [(20, 20), (50, 40)]
    results = list(track(moving_disk(centres), spy, None, SETTINGS, mode="nozoom"))
    assert seen == [(32, 48, 3)] * 2  # 60x90 (2:3) -> 32x48, not 32x32
    assert all(r.prob.shape == SIZE for r in results)
    assert iou(results[1].mask, disk_mask(SIZE, centres[1], 6)) > 0.75
    tall = [("00000", np.full((100, 40, 3), 30, np.uint8))]
    seen.clear()
    next(track(iter(tall), spy, None, SETTINGS, mode="nozoom"))
    assert seen == [(80, 32, 3)]  # portrait: the width is the shorter side
    seen.clear()
    list(track(moving_disk(centres), spy, box_from_mask(disk_mask(SIZE, centres[0], 6)), SETTINGS))
    assert seen == [(32, 32, 3)] * 2  # zoom: square crops as before


def test_write_scan_writes_masks_probabilities_and_boxes(tmp_path):
    centres = [(20, 20), (24, 22), None]
    results = track(moving_disk(centres), lambda crop: red_oracle(crop) * 0.8, (14, 14, 26, 26), SETTINGS)
    out = tmp_path / "scan"
    messages = []
    count = write_scan(results, out, scan_metadata(SETTINGS, "zoom"), total=3, progress=messages.append)
    assert count == 3
    # progress: a line per 10% done (here each frame of 3 but the last), then the speed
    assert messages[0].startswith("scan scan: 1/3 (33%)") and "ETA" in messages[0] and len(messages) == 3
    assert re.fullmatch(r"scan scan: 3 frames in \d+\.\d s \(\d+\.\d frames/s\)", messages[-1])
    document = json.loads((out / "boxes.json").read_text())
    assert document["enlarge"] == 1.5 and document["mode"] == "zoom" and document["image_size"] == [60, 90]
    assert list(document["frames"]) == ["00000", "00001", "00002"]
    assert document["frames"]["00002"] is None
    assert document["frames"]["00000"] == list(box_from_mask(disk_mask(SIZE, (20, 20), 6)))
    assert document["search"]["00000"] == list(enlarge_box((14, 14, 26, 26), 1.5, SIZE))
    with Image.open(out / "masks" / "00001.png") as image:
        assert image.mode == "P"
    mask = read_mask(out / "masks" / "00001.png")
    assert set(np.unique(mask)) == {0, 1}
    prob = np.asarray(Image.open(out / "probs" / "00001.png"))
    assert set(np.unique(prob)) <= {0, 204} | set(range(1, 204))  # round(255 * 0.8) = 204 inside the disk
    assert prob[22, 24] == 204
    assert read_probability(out / "probs" / "00001.png")[22, 24] == pytest.approx(0.8, abs=1 / 255)


def test_write_scan_leaves_nothing_when_the_scan_fails(tmp_path):
    def failing(crop):
        raise RuntimeError("model exploded")

    out = tmp_path / "scan"
    with pytest.raises(RuntimeError):
        write_scan(track(moving_disk([(20, 20)]), failing, (14, 14, 26, 26), SETTINGS), out, {})
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_motion_prediction_keeps_a_fast_object_in_the_crop():
    """A disk of radius 5 moving 6 px right per frame: the 1.5x box around it (16 px wide) reaches 3 px past
    its edge, so without prediction each crop sees less of the disk and the track is lost by frame 3; with
    constant velocity the crop is centred where the disk will be (the first shift is known after frame 1)."""
    centres = [(8 + 6 * t, 30) for t in range(9)]
    first_box = box_from_mask(disk_mask(SIZE, centres[0], 5))
    plain = list(track(moving_disk(centres, radius=5), red_oracle, first_box, SETTINGS))
    predicting = SETTINGS.model_copy(update={"motion_prediction": 1.0})
    moved = list(track(moving_disk(centres, radius=5), red_oracle, first_box, predicting))
    truth = [disk_mask(SIZE, centre, 5) for centre in centres]
    assert [iou(r.mask, m) > 0.95 for r, m in zip(moved, truth, strict=True)][3:] == [True] * 6
    assert all(iou(r.mask, m) < 0.1 for r, m in zip(plain[3:6], truth[3:6], strict=True))
    # the search box of frame t+1 is frame t's box moved by the last shift (6 px), then enlarged
    x0, y0, x1, y1 = moved[4].object_box
    assert moved[5].search_box == enlarge_box((x0 + 6, y0, x1 + 6, y1), 1.5, SIZE)
    # no shift is known before two frames have been segmented
    assert moved[1].search_box == enlarge_box(moved[0].object_box, 1.5, SIZE)
