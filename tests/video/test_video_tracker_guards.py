"""The zoom tracker's guards against a runaway box, each on a hand-made video where it is needed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lsevos.errors import ConfigError
from lsevos.video.boxes import box_from_mask, enlarge_box
from lsevos.video.components import components_touching
from lsevos.video.settings import VideoSettings
from lsevos.video.tracker import cap_size, track

SIZE = (120, 160)
BASE = {"crop_size": 48, "enlarge": 1.5}


def frame_with(disks, size=SIZE) -> np.ndarray:
    """Dark grey frame with red disks [(centre, radius)]."""
    frame = np.full((*size, 3), 30, dtype=np.uint8)
    for centre, radius in disks:
        cv2.circle(frame, centre, radius, (220, 20, 20), thickness=-1)
    return frame


def red(crop: np.ndarray) -> np.ndarray:
    return ((crop[..., 0] > 120) & (crop[..., 1] < 100)).astype(np.float32)


def disk_box(centre, radius):
    mask = np.zeros(SIZE, dtype=np.uint8)
    cv2.circle(mask, centre, radius, 1, thickness=-1)
    return box_from_mask(mask)


def run(frames, predict, first_box, **settings):
    video = ((f"{t:05d}", frame) for t, frame in enumerate(frames))
    return list(track(video, predict, first_box, VideoSettings(**{**BASE, **settings})))


def area(box) -> int:
    return (box[2] + 1 - box[0]) * (box[3] + 1 - box[1])


def test_box_threshold_keeps_an_unsure_halo_out_of_the_box():
    # The network is sure of the disk (1.0) and unsure of everything else (0.55 > threshold 0.5): the mask
    # is the whole crop, and without the guard each box is the last search box, 1.5x larger every frame.
    def spill(crop):
        return np.maximum(red(crop), 0.55).astype(np.float32)

    centre, radius = (80, 60), 8
    frames = [frame_with([(centre, radius)])] * 6
    first = disk_box(centre, radius)
    runaway = run(frames, spill, first)
    guarded = run(frames, spill, first, box_threshold=0.7)
    assert area(runaway[-1].search_box) > 5 * area(runaway[0].search_box)
    for result in guarded:
        assert result.search_box == enlarge_box(first, 1.5, SIZE)
    assert guarded[-1].mask.sum() > 0  # the mask itself is still prob > threshold


def test_box_component_drops_a_distractor_that_does_not_touch_the_previous_box():
    centre, radius = (80, 60), 10
    first = disk_box(centre, radius)
    search = enlarge_box(first, 1.5, SIZE)
    # a red blob in the search box's corner, outside the object box and not touching the disk
    distractor = ((search[0] + 2, search[1] + 2), 2)
    frames = [frame_with([(centre, radius), distractor])] * 4
    plain = run(frames, red, first)
    guarded = run(frames, red, first, box_component=True)
    assert plain[1].search_box != search  # the box grew to take the distractor in
    assert [result.search_box for result in guarded] == [search] * 4
    assert guarded[0].mask[search[1] + 2, search[0] + 2] == 1  # the mask keeps it; the box does not


def test_components_touching_keeps_the_largest_when_none_touches_the_box():
    pixels = np.zeros((20, 20), dtype=bool)
    pixels[0:3, 0:3] = True  # 9 pixels
    pixels[10:15, 10:15] = True  # 25 pixels
    kept = components_touching(pixels, (5, 5, 7, 7))
    assert kept.sum() == 25 and kept[12, 12]
    touching = components_touching(pixels, (2, 2, 4, 4))
    assert touching.sum() == 9 and touching[0, 0]
    assert not components_touching(np.zeros((4, 4), dtype=bool), (0, 0, 1, 1)).any()


def test_box_area_jump_rejects_a_sudden_spill_and_keeps_the_previous_box():
    calls = []

    def flash(crop):  # frame 2: the network calls the whole crop foreground
        calls.append(1)
        return np.ones(crop.shape[:2], np.float32) if len(calls) == 3 else red(crop)

    centre, radius = (80, 60), 8
    frames = [frame_with([(centre, radius)])] * 5
    first = disk_box(centre, radius)
    plain = run(frames, flash, first)
    calls.clear()
    guarded = run(frames, flash, first, box_area_jump=2.0)
    assert area(plain[3].search_box) > 2 * area(plain[2].search_box)
    assert guarded[3].search_box == guarded[2].search_box == enlarge_box(first, 1.5, SIZE)
    assert guarded[4].search_box == enlarge_box(first, 1.5, SIZE)


def test_box_max_growth_limits_each_side_per_frame():
    assert cap_size((0, 0, 39, 9), (0, 0, 9, 9), (100, 100), grow=2.0) == (10, 0, 29, 9)
    assert cap_size((5, 5, 14, 14), (0, 0, 19, 19), (100, 100), grow=1.25) == (5, 5, 14, 14)  # shrinking
    # a disk that doubles its radius in one frame: the box side grows by at most 1.25x per frame
    centre = (80, 60)
    frames = [frame_with([(centre, 8)]), frame_with([(centre, 16)]), frame_with([(centre, 16)])]
    first = disk_box(centre, 8)
    guarded = run(frames, red, first, box_max_growth=1.25)
    width = [r.search_box[2] + 1 - r.search_box[0] for r in guarded]
    assert width[1] == width[0]  # frame 0's disk box is the first box
    assert width[2] <= 1.25 * width[1] + 2 and width[2] > width[1]


def test_box_max_shrink_limits_each_side_per_frame():
    """By hand: a 20x20 box shrinking to 4x4 with shrink 2 keeps 10x10 around the new centre; a side
    that shrinks less is kept; the image clips."""
    assert cap_size((8, 8, 11, 11), (0, 0, 19, 19), (100, 100), shrink=2.0) == (5, 5, 14, 14)
    assert cap_size((2, 2, 15, 15), (0, 0, 19, 19), (100, 100), shrink=2.0) == (2, 2, 15, 15)
    assert cap_size((0, 0, 1, 1), (0, 0, 19, 19), (100, 100), shrink=2.0) == (0, 0, 5, 5)
    # a disk that shrinks to a quarter of its radius in one frame (the mask thins onto a part): the
    # search box shrinks by at most 1.5x per frame
    centre = (80, 60)
    frames = [frame_with([(centre, 16)]), frame_with([(centre, 4)]), frame_with([(centre, 4)])]
    first = disk_box(centre, 16)
    plain = run(frames, red, first)
    guarded = run(frames, red, first, box_max_shrink=1.5)
    width = [r.search_box[2] + 1 - r.search_box[0] for r in guarded]
    assert plain[2].search_box[2] + 1 - plain[2].search_box[0] < width[1] / 1.5 - 2
    assert width[2] >= width[1] / 1.5 - 2 and width[2] < width[1]


@pytest.mark.parametrize(
    "key, value",
    [("box_threshold", 1.0), ("box_max_growth", 0.5), ("box_max_shrink", 0.5), ("box_area_jump", 1.0)],
)
def test_guard_settings_are_checked(key, value):
    with pytest.raises(ConfigError, match=key):
        VideoSettings(**{key: value})


def test_box_area_jump_accepts_an_object_that_stays_larger():
    # the disk doubles its radius at frame 1 and stays so: rejected MAX_REJECTED times, then accepted
    from lsevos.video.tracker import MAX_REJECTED

    centre = (80, 60)
    frames = [frame_with([(centre, 8)])] + [frame_with([(centre, 16)])] * (MAX_REJECTED + 2)
    first = disk_box(centre, 8)
    guarded = run(frames, red, first, box_area_jump=2.0, enlarge=3.0)
    small = enlarge_box(first, 3.0, SIZE)
    assert [r.search_box for r in guarded[: MAX_REJECTED + 2]] == [small] * (MAX_REJECTED + 2)
    grown = guarded[MAX_REJECTED + 2].search_box
    assert area(grown) > 2.5 * area(small)  # the 2x larger disk's box (through the crop), enlarged 3x
