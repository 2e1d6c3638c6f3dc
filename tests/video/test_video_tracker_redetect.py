"""The zoom tracker's recovery (`redetect_below`): a mask that collapses inside the crop is re-found in the
whole frame, near the last good box, on hand-made videos."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from lsevos.errors import ConfigError
from lsevos.video.boxes import box_from_mask, enlarge_box, whole_image_box
from lsevos.video.scan_folder import scan_metadata, write_scan
from lsevos.video.settings import VideoSettings
from lsevos.video.tracker import REDETECT_WINDOW, SearchBoxes, redetect, track

SIZE = (120, 160)
BASE = {"crop_size": 48, "enlarge": 1.5}
RED, MAGENTA = (220, 20, 20), (220, 20, 220)


def frame_with(disks) -> np.ndarray:
    """Dark grey frame with disks [(centre, radius, colour)]."""
    frame = np.full((*SIZE, 3), 30, dtype=np.uint8)
    for centre, radius, colour in disks:
        cv2.circle(frame, centre, radius, colour, thickness=-1)
    return frame


def disk(centre, radius) -> np.ndarray:
    mask = np.zeros(SIZE, dtype=np.uint8)
    cv2.circle(mask, centre, radius, 1, thickness=-1)
    return mask


def predict(crop: np.ndarray) -> np.ndarray:
    """Sees every red or magenta pixel in the whole frame (a non-square input, 48x64 here); in a square
    zoomed crop a magenta object (the dog turned towards the camera) only in the crop's left quarter."""
    reddish = (crop[..., 0] > 120) & (crop[..., 1] < 100)
    if crop.shape[0] != crop.shape[1]:
        return reddish.astype(np.float32)
    magenta = reddish & (crop[..., 2] > 120)
    left = np.zeros(crop.shape[:2], dtype=bool)
    left[:, : crop.shape[1] // 4] = True
    return (reddish & (~magenta | left)).astype(np.float32)


def run(frames, **settings):
    first = box_from_mask(disk(CENTRE, RADIUS))
    video = ((f"{t:05d}", frame) for t, frame in enumerate(frames))
    return list(track(video, predict, first, VideoSettings(**{**BASE, **settings})))


def iou(a, b) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return float((a & b).sum() / max((a | b).sum(), 1))


CENTRE, RADIUS = (80, 60), 16
EASY = [frame_with([(CENTRE, RADIUS, RED)])] * 3
HARD = [frame_with([(CENTRE, RADIUS, MAGENTA)])] * 6


def test_a_mask_that_collapses_in_the_crop_is_refound_in_the_whole_frame():
    truth = disk(CENTRE, RADIUS)
    plain = run(EASY + HARD)
    recovered = run(EASY + HARD, redetect_below=0.4)
    # without recovery each crop is made from the last sliver: the mask collapses onto the disk's edge
    assert iou(plain[-1].mask, truth) < 0.3
    assert plain[-1].mask.sum() < 0.25 * truth.sum()
    assert not any(result.recovery for result in plain)
    # with it every hard frame is re-found in the whole frame and keeps the object
    assert [result.recovery for result in recovered] == [""] * 3 + ["redetected"] * 6
    for result in recovered[3:]:
        assert iou(result.mask, truth) > 0.9
        assert result.search_box == whole_image_box(SIZE)
        assert result.object_box == box_from_mask(result.mask)
    # the easy frames are untouched: the same masks, probabilities and boxes as without recovery
    for a, b in zip(plain[:3], recovered[:3], strict=True):
        assert a.search_box == b.search_box and np.array_equal(a.prob, b.prob)


def test_a_distractor_far_from_the_last_good_box_is_not_taken():
    far = ((20, 20), 10, RED)  # outside the anchor region, the enlarged box of the easy frames' disk
    hard = [frame_with([(CENTRE, RADIUS, MAGENTA), far])] * 3
    recovered = run(EASY + hard, redetect_below=0.4)
    assert all(result.recovery == "redetected" for result in recovered[3:])
    last = recovered[-1]
    assert last.mask[20, 20] == 0 and last.prob[20, 20] == 0.0  # the far disk's foreground is removed
    assert iou(last.mask, disk(CENTRE, RADIUS)) > 0.9


def test_an_object_that_leaves_is_held_with_the_search_widening_as_without_recovery():
    """The object leaves at frame 3: each frame keeps its (empty) zoomed mask and is "held" while the
    anchor, the last good box, is in the window of REDETECT_WINDOW frames; the search widens from the
    anchor by vanish_growth per empty frame, exactly as the vanished-object policy does without recovery."""
    gone = [frame_with([])] * 7
    plain = run(EASY + gone)
    recovered = run(EASY + gone, redetect_below=0.4)
    assert REDETECT_WINDOW == 5
    assert [r.recovery for r in recovered] == [""] * 3 + ["held"] * 5 + [""] * 2
    assert [r.search_box for r in recovered] == [r.search_box for r in plain]
    anchor = recovered[2].object_box
    assert recovered[5].search_box == enlarge_box(anchor, 1.5 * 1.5**2, SIZE)


def test_an_object_that_reappears_elsewhere_is_found_as_fast_as_without_recovery():
    away = [frame_with([((130, 60), RADIUS, RED)])] * 3
    frames = EASY + [frame_with([])] * 3 + away
    plain = run(frames)
    recovered = run(frames, redetect_below=0.4)
    truth = disk((130, 60), RADIUS)
    assert iou(plain[6].mask, truth) > 0.9
    for a, b in zip(plain[6:], recovered[6:], strict=True):
        assert np.array_equal(a.mask, b.mask)


def test_an_object_that_really_shrinks_is_confirmed_and_followed():
    # the disk shrinks to a quarter of its radius in one frame: the whole frame sees it as small as the
    # crop does, so the small disk is followed (the box is not held on the old size)
    small = [frame_with([(CENTRE, 4, RED)])] * 3
    plain = run(EASY + small)
    recovered = run(EASY + small, redetect_below=0.4)
    assert recovered[3].recovery == "confirmed"
    assert [r.search_box for r in recovered] == [r.search_box for r in plain]
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(plain, recovered, strict=True))


def test_the_held_box_is_the_newest_good_one_of_a_moving_object():
    easy = [frame_with([((60 + 6 * t, 60), RADIUS, RED)]) for t in range(3)]
    hard = frame_with([((78, 60), RADIUS, MAGENTA)])
    hard[60 + 14 :, :] = MAGENTA  # a spill band: nothing is re-found, the box is held
    video = ((f"{t:05d}", frame) for t, frame in enumerate(easy + [hard, hard]))
    first = box_from_mask(disk((60, 60), RADIUS))
    results = list(track(video, predict, first, VideoSettings(**BASE, redetect_below=0.4)))
    assert results[3].recovery == "held"
    areas = [int(r.mask.sum()) for r in results[:3]]
    assert max(areas) - min(areas) <= 0.05 * max(areas)  # all three frames are good ones
    assert results[4].search_box == enlarge_box(results[2].object_box, 1.5, SIZE)  # not frame 0's


def band_frame(centre=CENTRE, radius=RADIUS) -> np.ndarray:
    """A magenta disk on a magenta band below it: the zoomed crop sees a sliver, the whole frame a spill."""
    frame = frame_with([(centre, radius, MAGENTA)])
    frame[centre[1] + radius - 2 :, :] = MAGENTA
    return frame


def test_repeated_holds_stay_on_the_newest_good_box():
    recovered = run(EASY + [band_frame()] * 3, redetect_below=0.4)
    assert [r.recovery for r in recovered] == [""] * 3 + ["held"] * 3
    # the held frames' slivers are newer but collapsed: they never become the anchor
    assert recovered[5].search_box == enlarge_box(recovered[2].object_box, 1.5, SIZE)


def test_an_object_back_during_a_hold_is_found_in_the_widened_region():
    """Two empty frames, then a disk the zoomed crop sees only a sliver of, beyond the anchor's 1.5x
    region but inside the 1.5 x 1.5^2 one the vanished-object policy has widened to."""
    back = [frame_with([((122, 60), 10, MAGENTA)])]
    recovered = run(EASY + [frame_with([])] * 2 + back, redetect_below=0.4)
    anchor = recovered[2].object_box
    assert not any(
        enlarge_box(anchor, 1.5, SIZE)[0] <= x <= enlarge_box(anchor, 1.5, SIZE)[2] for x in (112, 132)
    )
    assert [r.recovery for r in recovered] == [""] * 3 + ["held", "held", "redetected"]
    assert iou(recovered[5].mask, disk((122, 60), 10)) > 0.9


def test_the_cap_is_the_recent_largest_area_over_redetect_below():
    # the disk doubles its area while the crop collapses onto a sliver: re-found (2x < 1 / 0.4 = 2.5x)
    recovered = run(EASY + [frame_with([(CENTRE, 22, MAGENTA)])], redetect_below=0.4)
    assert recovered[3].recovery == "redetected"
    assert 1.5 * recovered[2].mask.sum() < recovered[3].mask.sum() < 2.5 * recovered[2].mask.sum()


def test_after_a_confirmed_shrink_the_larger_frames_stay_the_reference_for_the_window():
    """The disk shrinks (confirmed: followed as it is); the next frames are still measured against the
    larger recent ones, so while those are in the window a collapse there holds the last good large box
    (a partial view behind an occluder is confirmed too), and after them the small disk is the reference."""
    small = (CENTRE, 6)
    frames = EASY + [frame_with([(*small, RED)])] * 2 + [band_frame(*small)]
    plain = run(frames)
    recovered = run(frames, redetect_below=0.4)
    assert [r.recovery for r in recovered][3:] == ["confirmed", "confirmed", "held"]
    assert recovered[4].search_box == plain[4].search_box  # followed as it is
    held_next = run(frames + [band_frame(*small)], redetect_below=0.4)[6]
    assert held_next.search_box == enlarge_box(recovered[2].object_box, 1.5, SIZE)
    # five small frames later the large ones have left the window: nothing is collapsed any more
    later = run(EASY + [frame_with([(*small, RED)])] * 7, redetect_below=0.4)
    assert [r.recovery for r in later][3:] == ["confirmed"] * 5 + ["", ""]


def test_a_spill_the_area_guard_rejected_never_becomes_the_anchor():
    """Frame 3's crop is all foreground (a spill) and `box_area_jump` rejects it; the correct frame 4 is
    then not "collapsed" against the spill, and the far disk the spill's box would reach is never taken."""
    calls = []

    def spill_once(crop):
        calls.append(1)
        return np.ones(crop.shape[:2], np.float32) if len(calls) == 4 else predict(crop)

    far = ((132, 60), 8, RED)
    frames = [frame_with([(CENTRE, RADIUS, RED), far])] * 6
    first = box_from_mask(disk(CENTRE, RADIUS))
    settings = VideoSettings(crop_size=48, enlarge=2.0, box_area_jump=1.5, redetect_below=0.3)
    video = ((f"{t:05d}", frame) for t, frame in enumerate(frames))
    results = list(track(video, spill_once, first, settings))
    assert results[3].mask.sum() > 3 * results[2].mask.sum()  # the spill
    assert all(r.recovery == "" for r in results)
    assert all(r.mask[60, 132] == 0 for r in results[4:])


def test_a_redetected_frame_reseeds_the_box_past_the_guards():
    """By hand: the growth guard (1.1) would cap a re-found 40x40 box to 12x12 around its centre (1.1 x the
    collapsed 10x10 one); a re-found frame re-seeds the box as it is, and the area the jump guard uses."""
    settings = VideoSettings(
        **BASE, redetect_below=0.4, box_max_growth=1.1, box_area_jump=1.5, box_component=True
    )
    boxes = SearchBoxes((50, 50, 59, 59), settings, SIZE)
    mask = np.zeros(SIZE, dtype=np.uint8)
    mask[20:60, 30:70] = 1
    boxes.update(mask.astype(np.float32), mask, (30, 20, 69, 59), "redetected")
    assert boxes.last_box == (30, 20, 69, 59) and boxes.last_area == 1600 and boxes.empty_run == 0
    guarded = SearchBoxes((50, 50, 59, 59), settings, SIZE)
    guarded.update(mask.astype(np.float32), mask, (30, 20, 69, 59))
    assert guarded.last_box == (44, 34, 55, 45)  # what the guards alone make of it


def test_a_refound_object_larger_than_the_cap_is_a_spill_and_the_box_is_held():
    # the magenta disk touches a large magenta band below it in the hard frames: the whole frame's
    # component covers far more than 1 / redetect_below times the disk's area, so it is not taken
    def hard_with_band():
        frame = frame_with([(CENTRE, RADIUS, MAGENTA)])
        frame[CENTRE[1] + 14 :, :] = MAGENTA
        return frame

    recovered = run(EASY + [hard_with_band()] * 2, redetect_below=0.4)
    assert [r.recovery for r in recovered] == ["", "", "", "held", "held"]
    assert recovered[3].search_box != whole_image_box(SIZE)
    anchor = recovered[2].object_box
    assert recovered[3].mask.sum() < 0.4 * recovered[2].mask.sum()  # collapsed
    assert recovered[4].search_box == enlarge_box(anchor, 1.5, SIZE)  # held, not the zoomed sliver's


def test_redetect_by_hand():
    whole = np.zeros((6, 6), dtype=np.float32)
    whole[0:2, 0:2] = 0.9  # component A, 4 pixels
    whole[4:6, 3:6] = 0.8  # component B, 6 pixels
    whole[3, 0] = 0.3  # background, below the threshold: kept as it is
    mask = np.zeros((6, 6), dtype=np.uint8)
    mask[5, 5] = 1
    state, found = redetect(whole, mask, (3, 3, 5, 5), 0.5, 6)  # the region touches B only
    expected = whole.copy()
    expected[0:2, 0:2] = 0.0
    assert state == "redetected" and found.dtype == np.float32 and np.array_equal(found, expected)
    bigger = np.zeros((6, 6), dtype=np.uint8)
    bigger[0:3, 0:2] = 1  # the zoomed mask already covers 6 pixels: B confirms a small object
    assert redetect(whole, bigger, (3, 3, 5, 5), 0.5, 6) == ("confirmed", None)
    assert redetect(whole, mask, (2, 2, 2, 2), 0.5, 6) == ("held", None)  # nothing in the region
    assert redetect(whole, mask, (3, 3, 5, 5), 0.5, 5) == ("held", None)  # B's 6 pixels exceed 5
    state, both = redetect(whole, mask, (0, 0, 5, 5), 0.5, 10)  # the region touches both: 10 pixels
    assert state == "redetected" and np.array_equal(both, whole)


def test_recovered_frames_are_listed_in_boxes_json(tmp_path):
    settings = VideoSettings(**BASE, redetect_below=0.4)
    results = run(EASY + HARD[:2], redetect_below=0.4)
    write_scan(results, tmp_path / "scan", scan_metadata(settings, "zoom"))
    document = json.loads((tmp_path / "scan" / "boxes.json").read_text())
    assert document["recovery"] == {"00003": "redetected", "00004": "redetected"}
    assert document["search"]["00003"] == list(whole_image_box(SIZE))
    assert document["search"]["00001"] == list(enlarge_box(results[0].object_box, 1.5, SIZE))
    write_scan(run(EASY), tmp_path / "plain", scan_metadata(settings, "zoom"))
    assert "recovery" not in json.loads((tmp_path / "plain" / "boxes.json").read_text())


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_redetect_below_is_checked(value):
    with pytest.raises(ConfigError, match="redetect_below"):
        VideoSettings(redetect_below=value)


def test_the_recovery_looks_with_the_refind_predictor_when_one_is_given():
    """A collapsed zoom mask is re-found in the whole frame by `refind`, not by the scan's predictor."""
    from lsevos.video.tracker import track

    size = (60, 80)
    frames = [(f"{index:05d}", np.zeros((*size, 3), np.uint8)) for index in range(3)]
    seen = {"refind": 0}

    def predict(crop):  # the object fills the crop at frame 0, then vanishes from the scan's view
        predict.calls += 1
        return np.full(crop.shape[:2], 0.9 if predict.calls == 1 else 0.0, np.float32)

    predict.calls = 0

    def refind(crop):
        seen["refind"] += 1
        return np.full(crop.shape[:2], 0.0, np.float32)

    settings = VideoSettings(crop_size=32, redetect_below=0.3)
    results = list(track(frames, predict, (30, 20, 49, 39), settings, "zoom", refind=refind))
    assert seen["refind"] >= 1
    assert [result.recovery for result in results][1] == "held"
