"""The appearance follower (`lsevos.video.follower`, `follow_appearance`): OpenCV's CSRT tracker on
hand-made frames, and the zoom tracker's recovery looking near its box where the last good box no longer
reaches the object."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lsevos.errors import ConfigError
from lsevos.video import follower as follower_module
from lsevos.video.boxes import box_from_mask, box_iou, enlarge_box
from lsevos.video.follower import Follower, check_available
from lsevos.video.settings import VideoSettings
from lsevos.video.tracker import track

SIZE = (240, 320)
RADIUS = 18


def background(seed: int = 0) -> np.ndarray:
    """A dim, smooth, textured background (CSRT needs something to tell the object from)."""
    noise = np.random.default_rng(seed).integers(0, 60, size=(SIZE[0] // 8, SIZE[1] // 8, 3))
    return cv2.resize(noise.astype(np.uint8), (SIZE[1], SIZE[0]), interpolation=cv2.INTER_LINEAR)


def frame_with(centres, colour=(220, 30, 30)) -> np.ndarray:
    """The background with a striped disk (its stripes give HOG an edge pattern) at each centre."""
    frame = background()
    for x, y in centres:
        cv2.circle(frame, (x, y), RADIUS, colour, thickness=-1)
        cv2.line(frame, (x - RADIUS + 4, y), (x + RADIUS - 4, y), (250, 250, 250), thickness=4)
    return frame


def disk_box(x: int, y: int) -> tuple[int, int, int, int]:
    mask = np.zeros(SIZE, dtype=np.uint8)
    cv2.circle(mask, (x, y), RADIUS, 1, thickness=-1)
    return box_from_mask(mask)


def test_the_follower_follows_an_object_across_the_frame():
    follower = Follower(frame_with([(60, 120)]), disk_box(60, 120))
    for step in range(1, 11):
        x = 60 + 16 * step
        followed = follower.update(frame_with([(x, 120)]))
        assert followed is not None and box_iou(followed, disk_box(x, 120)) > 0.5


def test_the_follower_starts_again_from_a_mask_it_disagrees_with():
    """Two objects: the follower is on the left one; a trusted mask on the right one moves it there, and
    it then follows the right one; a mask it agrees with changes nothing."""
    left, right = (70, 120), (240, 120)
    frame = frame_with([left, right])
    follower = Follower(frame, disk_box(*left))
    followed = follower.update(frame)
    assert box_iou(followed, disk_box(*left)) > 0.5
    kept = follower._tracker
    follower.agree(frame, followed, disk_box(*left))  # agrees: the same CSRT model goes on
    assert follower._tracker is kept
    follower.agree(frame, followed, disk_box(*right))  # IoU 0 < AGREE_IOU: starts again on the mask
    assert follower._tracker is not kept
    moved = follower.update(frame_with([left, (right[0] + 12, right[1])]))
    assert box_iou(moved, disk_box(right[0] + 12, right[1])) > 0.5


def test_a_box_under_the_minimum_side_is_no_template():
    follower = Follower(frame_with([(60, 120)]), (60, 120, 60 + follower_module.MIN_SIDE - 2, 140))
    assert follower.update(frame_with([(60, 120)])) is None
    follower = Follower(frame_with([(60, 120)]), (60, 120, 60 + follower_module.MIN_SIDE - 1, 140))
    assert follower.update(frame_with([(60, 120)])) is not None


def test_a_box_csrt_cannot_learn_is_ignored_not_fatal():
    """CSRT's init asserts on a box of about 40:1 and flatter (the whole width, 5 rows high here): the
    follower keeps what it had, nothing is raised."""
    frame = frame_with([(60, 120)])
    thin = (0, 100, SIZE[1] - 1, 104)
    with pytest.raises(cv2.error):
        cv2.TrackerCSRT.create().init(frame, (0, 100, SIZE[1], 5))
    assert Follower(frame, thin).update(frame) is None
    follower = Follower(frame, disk_box(60, 120))
    kept = follower._tracker
    follower.start(frame, thin)
    assert follower._tracker is kept


def test_follow_appearance_needs_the_recovery_and_opencv_contrib(monkeypatch):
    assert check_available() is None  # the project's OpenCV is the contrib build
    with pytest.raises(ConfigError, match="'follow_appearance' acts only with 'redetect_below'"):
        VideoSettings.from_dict({"follow_appearance": True})
    monkeypatch.delattr(cv2, "TrackerCSRT")
    with pytest.raises(ConfigError) as refused:
        VideoSettings.from_dict({"follow_appearance": True, "redetect_below": 0.3})
    message = str(refused.value)
    assert "\n" not in message
    assert "'follow_appearance' needs OpenCV's contrib modules" in message
    assert "pip install --force-reinstall --no-deps opencv-contrib-python-headless==" in message


# A video of 3 easy frames (the object still) and 6 hard ones: in a hard frame the zoomed square crop
# sees nothing, the whole frame (a non-square input) sees the object, so every hard frame collapses and
# the recovery looks for the object in the whole frame. At the first hard frame the object jumps 56 px,
# farther than the last good box (37 px wide) enlarged 1.5x reaches (46 px from its centre), not farther
# than CSRT searches; then it moves 24 px a frame, which a re-found box reaches.
START, JUMP, SHIFT, EASY, HARD = (60, 120), 56, 24, 3, 6


def centre(t: int) -> tuple[int, int]:
    return START[0] + (0 if t < EASY else JUMP + SHIFT * (t - EASY)), START[1]


SPILL = (0, 40, 40, 200)  # a green block (x0, y0, x1, y1) left of the start, away from the object's new place


def run(zoomed_blob: int = 0, whole_sees_top: float = 1.0, spill: bool = False, **settings):
    """The video above. In a hard frame the zoomed crop sees nothing, or a square blob of `zoomed_blob` crop
    pixels a side at its centre (the mask's collapsed remnant); the whole frame sees the object's top
    `whole_sees_top` share of rows, and with `spill` also the green block (a salient background region
    beside the last good box, larger than the recovery's cap)."""
    hard = {"now": False}

    def frames():
        for t in range(EASY + HARD):
            hard["now"] = t >= EASY
            frame = frame_with([centre(t)])
            if spill and hard["now"]:
                x0, y0, x1, y1 = SPILL
                frame[y0 : y1 + 1, x0 : x1 + 1] = (30, 200, 30)
            yield f"{t:05d}", frame

    def predict(crop: np.ndarray) -> np.ndarray:
        red = (crop[..., 0] > 150) & (crop[..., 1] < 120)
        white = (crop > 200).all(axis=-1)
        seen = red | white
        if hard["now"] and crop.shape[0] == crop.shape[1]:
            seen = np.zeros_like(seen)
            low = crop.shape[0] // 2 - zoomed_blob // 2
            seen[low : low + zoomed_blob, low : low + zoomed_blob] = True
        elif hard["now"]:
            rows = np.nonzero(seen.any(axis=1))[0]
            if rows.size:
                seen[rows[0] + max(1, round(whole_sees_top * (rows[-1] + 1 - rows[0]))) :] = False
            seen |= (crop[..., 1] > 150) & (crop[..., 0] < 120)
        return seen.astype(np.float32)

    values = {"crop_size": 64, "enlarge": 1.5, "vanish_growth": 1.0, "redetect_below": 0.3, **settings}
    return list(track(frames(), predict, disk_box(*START), VideoSettings(**values)))


def test_the_tracker_keeps_the_follower_on_the_trusted_masks_box(monkeypatch):
    """The follower starts from the first mask's box; on a trusted frame where it is elsewhere (here it
    is made to answer a far box) it starts again from the mask's box; on held frames it is left alone."""
    starts, answers = [], iter([(250, 10, 290, 50)] * 2 + [None] * 20)

    class Recorded(Follower):
        def start(self, frame, box):
            starts.append(tuple(int(v) for v in box))
            super().start(frame, box)

        def update(self, frame):
            real = super().update(frame)
            wrong = next(answers)
            return wrong if wrong is not None else real

    monkeypatch.setattr("lsevos.video.tracker.Follower", Recorded)
    results = run(follow_appearance=True)
    boxes = [result.object_box for result in results]
    # frame 0: the first mask's box; frames 1 and 2 (easy, trusted): the far answer is replaced by the mask's
    assert starts[:3] == [boxes[0], boxes[1], boxes[2]]
    # then only re-found frames may restart it, and only from their own mask's box
    for box in starts[3:]:
        assert box in [r.object_box for r in results[EASY:] if r.recovery == "redetected"]


def test_the_recovery_looks_near_the_followers_box_when_the_last_good_box_no_longer_reaches():
    truth = [disk_box(*centre(t)) for t in range(EASY + HARD)]
    held = run()
    followed = run(follow_appearance=True)
    # without the follower the object leaves the last good box's reach: frames are held, then lost
    assert "held" in [result.recovery for result in held[EASY:]]
    assert held[-1].object_box is None or box_iou(held[-1].object_box, truth[-1]) < 0.1
    # with it every hard frame is re-found where the object is
    assert [result.recovery for result in followed[EASY:]] == ["redetected"] * HARD
    for result, box in zip(followed, truth, strict=True):
        assert box_iou(result.object_box, box) > 0.8
    # the easy frames are the same with and without the follower
    for a, b in zip(held[:EASY], followed[:EASY], strict=True):
        assert a.search_box == b.search_box and np.array_equal(a.prob, b.prob)


def test_a_small_find_near_the_followers_box_leaves_the_frame_held():
    """Near the follower's box the whole frame sees only the object's top rows, less than the zoomed
    mask's remnant: "confirmed" there would compare the remnant with a component elsewhere, so the frame
    stays "held" with the zoomed mask it has without the follower; seeing the whole object there, the
    same frames are re-found."""
    truth = [disk_box(*centre(t)) for t in range(EASY + HARD)]
    plain = run(zoomed_blob=18, whole_sees_top=0.15)
    looked = [t for t, result in enumerate(plain) if result.recovery == "held"]
    assert len(looked) >= 4 and min(looked) == EASY
    small = run(zoomed_blob=18, whole_sees_top=0.15, follow_appearance=True)
    for t in looked:
        assert small[t].recovery == "held"
        assert np.array_equal(small[t].mask, plain[t].mask) and small[t].mask.any()
    whole = run(zoomed_blob=18, follow_appearance=True)
    for t in looked:
        assert whole[t].recovery == "redetected" and box_iou(whole[t].object_box, truth[t]) > 0.8


def test_after_a_spill_near_the_last_good_box_the_recovery_looks_near_the_followers_box():
    """A green block beside the last good box, larger than the recovery's cap, is all the whole frame sees
    near it (a spill: held); the second look, near the follower's box, re-finds the object without it."""
    truth = [disk_box(*centre(t)) for t in range(EASY + HARD)]
    held = run(spill=True)
    assert held[EASY].recovery == "held"
    x0, y0, x1, y1 = SPILL
    reach = enlarge_box(held[EASY - 1].object_box, 1.5, SIZE)
    assert reach[0] <= x1 and y0 <= reach[1] and reach[3] <= y1  # the block is near the last good box
    cap = max(np.count_nonzero(result.mask) for result in held[:EASY]) / 0.3
    assert (x1 + 1 - x0) * (y1 + 1 - y0) > cap  # and larger than the recovery takes
    followed = run(spill=True, follow_appearance=True)
    assert [result.recovery for result in followed[EASY:]] == ["redetected"] * HARD
    for result, box in zip(followed, truth, strict=True):
        assert box_iou(result.object_box, box) > 0.8
        assert not result.mask[y0 : y1 + 1, x0 : x1 + 1].any()


def test_csrt_learns_and_searches_the_frames_in_opencvs_channel_order(monkeypatch):
    """The video's frames are RGB; OpenCV's trackers take BGR (CSRT's colour names depend on it): the
    frame every init and update receives is the RGB frame with its channels reversed."""
    received = []

    class Recorder:
        def init(self, frame, rect):
            received.append(frame)

        def update(self, frame):
            received.append(frame)
            return True, (60, 100, 37, 37)

    monkeypatch.setattr(cv2.TrackerCSRT, "create", staticmethod(lambda: Recorder()))
    rgb = [frame_with([(60, 120)]), frame_with([(70, 120)], colour=(30, 60, 220))]
    follower = Follower(rgb[0], disk_box(60, 120))
    assert follower.update(rgb[1]) == (60, 100, 96, 136)
    assert len(received) == 2
    for got, frame in zip(received, rgb, strict=True):
        assert got.flags["C_CONTIGUOUS"]
        assert np.array_equal(got, frame[..., ::-1])
