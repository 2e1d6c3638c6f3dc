"""Pseudo-label rules: first frame (>= 0.6 inside the box, background outside, ignore the rest) and scan 1."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from lsevos.data.io import read_mask
from lsevos.errors import DataError
from lsevos.video.pseudo_labels import (
    box_span,
    first_frame_labels,
    grabcut_first_frame_labels,
    scan_labels,
)
from lsevos.video.scan_folder import write_scan_labels


def test_first_frame_rule_on_a_toy():
    prob = np.array(
        [
            [0.9, 0.9, 0.1, 0.7],
            [0.9, 0.6, 0.59, 0.2],
            [0.3, 0.95, 0.0, 0.8],
        ],
        dtype=np.float32,
    )
    labels = first_frame_labels(prob, (1, 0, 2, 1), 0.6)  # box: columns 1..2, rows 0..1
    expected = np.array(
        [
            [0, 1, 255, 0],
            [0, 1, 255, 0],
            [0, 0, 0, 0],
        ],
        dtype=np.uint8,
    )
    np.testing.assert_array_equal(labels, expected)


def _red_square_on_blue() -> tuple[np.ndarray, np.ndarray]:
    """A 60x80 blue frame with a red 20x24 rectangle (rows 20..39, columns 30..53) and its mask."""
    frame = np.zeros((60, 80, 3), dtype=np.uint8)
    frame[..., 2] = 200
    frame[20:40, 30:54] = (220, 30, 30)
    mask = np.zeros((60, 80), dtype=np.uint8)
    mask[20:40, 30:54] = 1
    return frame, mask


def test_grabcut_first_frame_labels_complete_a_confident_core():
    frame, mask = _red_square_on_blue()
    prob = np.zeros((60, 80), dtype=np.float32)
    prob[27:33, 38:46] = 0.9  # the model is sure of a small core only
    prob[15:45, 25:60] = np.maximum(prob[15:45, 25:60], 0.45)  # and unsure in the rest of the box
    box = (25, 15, 59, 44)
    rule = first_frame_labels(prob, box, 0.6)
    assert (rule == 1).sum() == 6 * 8 and (rule == 255).sum() > 0
    labels = grabcut_first_frame_labels(frame, prob, box, 0.6, iterations=3)
    assert set(np.unique(labels)) == {0, 1}
    np.testing.assert_array_equal(labels, mask)


def test_grabcut_first_frame_labels_fall_back_to_the_rule_when_opencv_cannot_fit():
    frame, _ = _red_square_on_blue()
    prob = np.full((60, 80), 0.9, dtype=np.float32)
    prob[:10] = 0.5  # unsure (probable foreground), so the rule leaves these rows unlabelled
    box = (0, 0, 79, 59)  # the whole frame: no background pixel, OpenCV cannot fit a background model
    labels = grabcut_first_frame_labels(frame, prob, box, 0.6, iterations=3)
    np.testing.assert_array_equal(labels, first_frame_labels(prob, box, 0.6))
    assert (labels[:10] == 255).all() and (labels[10:] == 1).all()


def test_box_span_is_the_smaller_share_of_rows_and_columns_the_foreground_crosses():
    labels = np.zeros((10, 12), dtype=np.uint8)
    box = (2, 1, 9, 8)  # 8 columns, 8 rows
    assert box_span(labels, box) == 0.0
    labels[1:5, 2:10] = 1  # the top half of the box: all 8 columns, 4 of 8 rows
    assert box_span(labels, box) == 0.5
    labels[5:9, 5] = 1  # a thin leg down to the bottom: every row crossed now
    assert box_span(labels, box) == 1.0
    labels[:, :] = 0
    labels[0, 0] = labels[9, 11] = 1  # foreground outside the box does not count
    assert box_span(labels, box) == 0.0


def _rider_on_bike() -> tuple[np.ndarray, np.ndarray]:
    """A 60x80 grey frame with a "rider" (red, rows 10..29) on a "bike" (green, rows 30..49), both in
    columns 20..59; the object is both, and its box is rows 10..49, columns 20..59."""
    frame = np.full((60, 80, 3), 128, dtype=np.uint8)
    frame[10:30, 20:60] = (220, 30, 30)
    frame[30:50, 20:60] = (30, 200, 30)
    mask = np.zeros((60, 80), dtype=np.uint8)
    mask[10:50, 20:60] = 1
    return frame, mask


def test_grabcut_completes_labels_that_cover_only_a_part_of_the_box():
    frame, mask = _rider_on_bike()
    box = (20, 10, 59, 49)
    prob = np.zeros((60, 80), dtype=np.float32)
    prob[10:30, 20:60] = 0.9  # the model is sure of the rider and calls the bike background
    assert box_span(first_frame_labels(prob, box, 0.6), box) == 0.5
    plain = grabcut_first_frame_labels(frame, prob, box, 0.6, iterations=3)  # min_span 0: off
    assert box_span(plain, box) == 0.5
    labels = grabcut_first_frame_labels(frame, prob, box, 0.6, iterations=3, min_span=0.9)
    assert box_span(labels, box) == 1.0
    np.testing.assert_array_equal(labels, mask)


def test_grabcut_keeps_labels_that_span_their_box():
    frame, mask = _rider_on_bike()
    box = (20, 10, 59, 29)  # a box around the rider alone: the rider spans it
    prob = np.zeros((60, 80), dtype=np.float32)
    prob[10:30, 20:60] = 0.9
    labels = grabcut_first_frame_labels(frame, prob, box, 0.6, iterations=3, min_span=0.9)
    expected = np.zeros_like(mask)
    expected[10:30, 20:60] = 1
    np.testing.assert_array_equal(labels, expected)


def test_scan_rule_ignores_the_uncertain_band():
    prob = np.array([[0.0, 0.3, 0.31, 0.5, 0.69, 0.7, 0.71, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(scan_labels(prob, 0.5, 0.2), [[0, 0, 255, 255, 255, 255, 1, 1]])
    np.testing.assert_array_equal(scan_labels(prob, 0.5, 0.0), [[0, 0, 0, 0, 1, 1, 1, 1]])


def test_scan_rule_default_is_the_paper_masks_as_they_are():
    from lsevos.video.settings import VideoSettings

    settings = VideoSettings()
    assert settings.pseudo_ignore_margin == 0.0
    prob = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    mask = (prob > settings.threshold).astype(np.uint8)  # the tracker's mask
    np.testing.assert_array_equal(scan_labels(prob, settings.threshold, settings.pseudo_ignore_margin), mask)


def test_write_scan_labels_reads_probs_and_copies_boxes(tmp_path):
    scan = tmp_path / "scan"
    (scan / "probs").mkdir(parents=True)
    probs = {"00000": [[0, 100, 200]], "00001": [[255, 180, 50]]}
    for name, values in probs.items():
        Image.fromarray(np.array(values, dtype=np.uint8), mode="L").save(scan / "probs" / f"{name}.png")
    document = {"frames": {"00000": [2, 0, 2, 0], "00001": [0, 0, 1, 0]}, "search": {"00000": [0, 0, 2, 0]}}
    (scan / "boxes.json").write_text(json.dumps(document))
    assert write_scan_labels(scan, tmp_path / "labels", 0.5, 0.2) == 2
    # 100/255 = 0.39 and 200/255 = 0.78; 180/255 = 0.71 and 50/255 = 0.20
    np.testing.assert_array_equal(read_mask(tmp_path / "labels" / "00000.png"), [[0, 255, 1]])
    np.testing.assert_array_equal(read_mask(tmp_path / "labels" / "00001.png"), [[1, 1, 0]])
    assert json.loads((tmp_path / "labels" / "boxes.json").read_text()) == document
    assert (tmp_path / "labels" / ".lsevos-output").read_text() == "pseudo-labels\n"
    assert write_scan_labels(scan, tmp_path / "labels", 0.5, 0.2) == 2  # its own folder: replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's file")
    with pytest.raises(DataError, match="did not write"):
        write_scan_labels(scan, tmp_path / "mine", 0.5, 0.2)
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_new_first_frame_settings_are_checked():
    from lsevos.errors import ConfigError
    from lsevos.video.settings import VideoSettings

    settings = VideoSettings.from_dict({"first_frame_grabcut": 5, "retrain_first_frame_share": 0.25})
    assert (settings.first_frame_grabcut, settings.retrain_first_frame_share) == (5, 0.25)
    assert (VideoSettings().first_frame_grabcut, VideoSettings().retrain_first_frame_share) == (0, 0.0)
    for key, value in (("first_frame_grabcut", -1), ("retrain_first_frame_share", 1.0)):
        with pytest.raises(ConfigError, match=key):
            VideoSettings.from_dict({key: value})
    with pytest.raises(ConfigError, match="first_frame_grabcut"):
        VideoSettings.from_dict({"first_frame_grabcut": 2.5})
