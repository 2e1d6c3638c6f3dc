"""The previous frame's probability carried by optical flow (`flow_weight`): the warp with hand-made
flows, the flow on a shifted texture, the mixture's values, and the tracker keeping an object through a
frame where its prediction hesitates."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lsevos.errors import ConfigError
from lsevos.video.boxes import box_from_mask
from lsevos.video.propagation import FlowCarry, carry, grey
from lsevos.video.settings import VideoSettings
from lsevos.video.tracker import track
from tests.video.test_video_tracker import SETTINGS, SIZE, disk_frame, disk_mask, iou, red_oracle


def block(shape: tuple[int, int], rows: slice, columns: slice) -> np.ndarray:
    image = np.zeros(shape, dtype=np.float32)
    image[rows, columns] = 1.0
    return image


def texture(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Smooth random grey texture as an RGB uint8 frame (flow can be measured everywhere on it)."""
    noise = np.random.default_rng(seed).random(shape).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return np.repeat((smooth * 255).astype(np.uint8)[..., None], 3, axis=2)


def test_carry_moves_the_previous_probability_where_the_flow_says_it_went():
    previous = block((40, 50), slice(10, 20), slice(10, 20))
    # every pixel of the new frame came from 3 px left and 2 px up: the block moved right and down
    flow = np.zeros((40, 50, 2), dtype=np.float32)
    flow[..., 0], flow[..., 1] = -3.0, -2.0
    np.testing.assert_array_equal(carry(previous, flow), block((40, 50), slice(12, 22), slice(13, 23)))
    # the same flow given on a half-size grid, in that grid's pixels: resized and scaled by 2
    half = np.zeros((20, 25, 2), dtype=np.float32)
    half[..., 0], half[..., 1] = -1.5, -1.0
    np.testing.assert_array_equal(carry(previous, half), block((40, 50), slice(12, 22), slice(13, 23)))
    # what came from outside the frame is 0
    edge = block((40, 50), slice(0, 40), slice(0, 50))
    carried = carry(edge, flow)
    assert carried[:2].max() == 0.0 and carried[:, :3].max() == 0.0 and carried[2:, 3:].min() == 1.0


def test_grey_keeps_small_frames_and_shrinks_the_longer_side_to_the_flow_side():
    frame = np.zeros((480, 854, 3), dtype=np.uint8)
    assert grey(frame).shape == (270, 480)
    assert grey(frame[:100, :200]).shape == (100, 200)


def test_the_first_frame_is_unchanged_and_the_next_mixes_in_the_shifted_previous_object():
    shape = (96, 128)
    first = texture(shape)
    second = np.roll(first, shift=(3, 5), axis=(0, 1))  # everything moved 5 px right, 3 px down
    carrier = FlowCarry(0.3)
    previous = block(shape, slice(30, 60), slice(40, 80))
    prediction = np.full(shape, 0.4, dtype=np.float32)
    assert carrier.mix(first, previous) is previous
    carrier.remember(previous)
    mixed = carrier.mix(second, prediction)
    # inside the moved block: 0.7 x 0.4 + 0.3 x 1 = 0.58, foreground; outside it: 0.7 x 0.4 = 0.28
    np.testing.assert_allclose(mixed[38:58, 50:80], 0.58, atol=0.01)
    np.testing.assert_allclose(mixed[:25], 0.28, atol=0.01)
    assert box_from_mask(mixed > 0.5) == pytest.approx((45, 33, 84, 62), abs=1)


def test_remember_needs_a_mixed_frame():
    with pytest.raises(RuntimeError, match="before mix"):
        FlowCarry(0.3).remember(np.zeros((4, 4), dtype=np.float32))


def test_the_tracker_keeps_an_object_through_a_frame_its_prediction_hesitates_on():
    # a disk moving 2 px a frame; on frame 5 the predictor says 0.42 on the disk, below the threshold: the
    # plain tracker loses it there. With the previous frame carried at weight 0.3 the disk stays:
    # 0.7 x 0.42 + 0.3 x 1 = 0.59
    centres = [(20 + 2 * t, 30) for t in range(8)]
    frames = [(f"{t:05d}", disk_frame(SIZE, centre, 8)) for t, centre in enumerate(centres)]
    first_box = box_from_mask(disk_mask(SIZE, centres[0], 8))

    def hesitant():
        calls = iter(range(100))

        def predict(crop: np.ndarray) -> np.ndarray:
            return red_oracle(crop) * (0.42 if next(calls) == 5 else 1.0)

        return predict

    plain = list(track(iter(frames), hesitant(), first_box, SETTINGS))
    assert plain[5].mask.sum() == 0
    carried = SETTINGS.model_copy(update={"flow_weight": 0.3})
    results = list(track(iter(frames), hesitant(), first_box, carried))
    for t, result in enumerate(results):
        assert iou(result.mask, disk_mask(SIZE, centres[t], 8)) > 0.85, t


def test_flow_weight_is_below_one_half():
    with pytest.raises(ConfigError, match=r"flow_weight: invalid value 0.5; allowed: 0 <= x < 0.5"):
        VideoSettings(flow_weight=0.5)
