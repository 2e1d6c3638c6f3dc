"""Boxes from masks, enlargement, crop and paste."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lsevos.errors import ConfigError
from lsevos.video.boxes import (
    box_from_mask,
    box_iou,
    clip_box,
    crop_and_resize,
    enlarge_box,
    move_crop_map,
    parse_box,
    paste_probability,
    whole_frame_shape,
    whole_image_box,
)


def test_box_from_mask_takes_the_extreme_foreground_pixels():
    mask = np.zeros((8, 10), dtype=np.uint8)
    mask[2, 3] = 1  # top-most and left-most
    mask[5, 7] = 1  # bottom-most and right-most
    mask[4, 5] = 1
    assert box_from_mask(mask) == (3, 2, 7, 5)
    assert box_from_mask(np.zeros((4, 4), dtype=np.uint8)) is None
    single = np.zeros((4, 4), dtype=bool)
    single[1, 2] = True
    assert box_from_mask(single) == (2, 1, 2, 1)


def test_enlarge_box_around_its_centre_and_clipped():
    assert enlarge_box((10, 10, 19, 19), 1.0, (100, 100)) == (10, 10, 19, 19)
    # 10 px wide, centre 15 (continuous span [10, 20)); factor 2 -> span [5, 25) -> pixels 5..24
    assert enlarge_box((10, 10, 19, 19), 2.0, (100, 100)) == (5, 5, 24, 24)
    # 3 px wide span [2, 5), factor 2 -> [0.5, 6.5) rounded outwards -> pixels 0..6
    assert enlarge_box((2, 2, 4, 4), 2.0, (100, 100)) == (0, 0, 6, 6)
    # non-square: 20x4 box, factor 1.5 -> 30x6 around centre (30, 12)
    assert enlarge_box((20, 10, 39, 13), 1.5, (100, 100)) == (15, 9, 44, 14)
    # clipped at the image border
    assert enlarge_box((0, 0, 9, 9), 2.0, (12, 50)) == (0, 0, 14, 11)
    assert enlarge_box((0, 0, 9, 9), 100.0, (12, 50)) == whole_image_box((12, 50)) == (0, 0, 49, 11)


def test_crop_paste_round_trip_is_identity_at_native_scale():
    rng = np.random.default_rng(0)
    prob = rng.random((40, 60)).astype(np.float32)
    box = (10, 5, 25, 20)  # 16 x 16
    crop = crop_and_resize(prob, box, 16)
    np.testing.assert_array_equal(crop, prob[5:21, 10:26])
    pasted = paste_probability(crop, box, (40, 60))
    np.testing.assert_array_equal(pasted[5:21, 10:26], prob[5:21, 10:26])
    assert pasted.sum() == pytest.approx(prob[5:21, 10:26].sum())
    assert not pasted[:5].any() and not pasted[:, :10].any() and not pasted[21:].any()


def test_crop_paste_round_trip_through_a_rescale_keeps_a_smooth_image():
    # a linear ramp survives bilinear down- and up-sampling exactly away from the crop border
    ys, xs = np.mgrid[0:60, 0:80].astype(np.float32)
    image = (0.004 * xs + 0.003 * ys).astype(np.float32)
    box = (8, 4, 71, 51)  # 64 x 48, resized to 32 x 32 and back
    pasted = paste_probability(crop_and_resize(image, box, 32), box, (60, 80))
    inner = (slice(4 + 4, 52 - 4), slice(8 + 4, 72 - 4))
    np.testing.assert_allclose(pasted[inner], image[inner], atol=1e-4)
    colour = np.stack([image, image * 0.5, image * 0.25], axis=-1)
    colour_crop = crop_and_resize((colour * 255).astype(np.uint8), box, 32)
    assert colour_crop.shape == (32, 32, 3) and colour_crop.dtype == np.uint8


def test_labels_cropped_and_shrunk_sit_where_the_frame_shows_the_object():
    """A block labelled 1 in a frame painted 100 on the same block: shrunk into a crop (20 of 48 px, as
    a large object's search box into the training crop), every pixel labelled 1 is at least a corner of
    the block in the frame's bilinear crop (>= 25) and every pixel labelled 0 at most one (<= 75);
    OpenCV's INTER_NEAREST samples a shrinking crop half a source pixel off, so a row or column of
    labels lands on the wrong side of the block's edge (at 37 px: background where the crop is 82)."""
    labels = np.zeros((60, 80), dtype=np.uint8)
    labels[10:40, 17:47] = 1
    frame = (labels * 100).astype(np.uint8)
    for box, size in (((5, 4, 52, 51), 20), ((5, 4, 52, 51), 37), ((0, 0, 79, 59), (29, 31))):
        small = crop_and_resize(labels, box, size, nearest=True)
        image = crop_and_resize(frame, box, size).astype(int)
        assert image[small == 1].min() >= 25 and image[small == 0].max() <= 75, (box, size)


def test_whole_frame_shape_keeps_the_aspect_ratio_with_the_shorter_side_given():
    assert whole_frame_shape((480, 854), 321) == (321, 571)  # DAVIS 480p at the paper's crop
    assert whole_frame_shape((100, 40), 32) == (80, 32)
    assert whole_frame_shape((64, 64), 33) == (33, 33)
    image = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)
    resized = crop_and_resize(image, (0, 0, 63, 47), whole_frame_shape((48, 64), 33))
    assert resized.shape == (33, 44, 3)
    labels = crop_and_resize(image[..., 0], (0, 0, 63, 47), (33, 44), nearest=True)
    assert labels.shape == (33, 44) and set(np.unique(labels)) <= set(np.unique(image[..., 0]))
    assert paste_probability(np.ones((33, 44), np.float32), (0, 0, 63, 47), (48, 64)).min() == 1.0


def test_parse_and_clip_box_errors_name_the_fix():
    assert parse_box("1, 2,30,40") == (1, 2, 30, 40)
    assert parse_box("-5,18,30,40") == (-5, 18, 30, 40)  # partly left of the frame: clipped where used
    assert clip_box((-5, 18, 30, 40), (48, 64)) == (0, 18, 30, 40)
    for text in ("1,2,3", "5,2,3,40", "a,b,c,d", "-1,0,-3,3"):
        with pytest.raises(ConfigError, match="x0,y0,x1,y1"):
            parse_box(text)
    assert clip_box((5, 5, 500, 30), (20, 40)) == (5, 5, 39, 19)
    with pytest.raises(ConfigError, match="outside"):
        clip_box((50, 50, 60, 60), (20, 40))


def test_box_iou_of_hand_counted_boxes():
    assert box_iou((0, 0, 9, 9), (0, 0, 9, 9)) == 1.0
    assert box_iou((0, 0, 9, 9), (5, 0, 14, 9)) == pytest.approx(50 / 150)  # 5x10 shared of 100 + 100 - 50
    assert box_iou((0, 0, 9, 9), (10, 0, 19, 9)) == 0.0  # touching, not overlapping


def test_a_crop_map_moved_to_another_box_keeps_each_frame_pixels_value():
    """A map whose value is x + 100 y of each pixel's centre in the frame stays that after the move
    (bilinear is exact on a linear function); outside the source box the edge value is kept."""
    source, width, height = (10, 4, 29, 13), 40, 30  # a 20x10 box, its map 40 wide and 30 high
    xs = 10 + (np.arange(width) + 0.5) * 20 / width - 0.5
    ys = 4 + (np.arange(height) + 0.5) * 10 / height - 0.5
    plane = (xs[None, :] + 100 * ys[:, None]).astype(np.float32)
    moved = move_crop_map(plane, source, (14, 6, 25, 11), (3, 6))  # 12x6 box at 6x3: 2 px per pixel
    expected_x = 14 + (np.arange(6) + 0.5) * 2 - 0.5
    expected_y = 6 + (np.arange(3) + 0.5) * 2 - 0.5
    np.testing.assert_allclose(moved, expected_x[None, :] + 100 * expected_y[:, None], atol=1e-3)
    beyond = move_crop_map(plane, source, (24, 4, 35, 13), (5, 6))  # half of it right of the source
    rows = 100 * (4 + (np.arange(5) + 0.5) * 2 - 0.5)[:, None]
    np.testing.assert_allclose(beyond[:, :3], np.array([[24.5, 26.5, 28.5]]) + rows, atol=1e-3)
    np.testing.assert_allclose(beyond[:, 3:], np.broadcast_to(xs[-1] + rows, (5, 3)), atol=1e-3)
    # the same box: exactly cv2.resize, as a crop's own map is resized back to the crop
    same = move_crop_map(plane, source, source, (7, 9))
    assert np.array_equal(same, cv2.resize(plane, (9, 7), interpolation=cv2.INTER_LINEAR))
