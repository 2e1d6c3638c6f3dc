"""Pseudo-label rules: first frame (>= 0.6 inside the box, background outside, ignore the rest) and scan 1."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from lsevos.data.io import read_mask
from lsevos.video.pseudo_labels import first_frame_labels, scan_labels, write_scan_labels


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


def test_scan_rule_ignores_the_uncertain_band():
    prob = np.array([[0.0, 0.3, 0.31, 0.5, 0.69, 0.7, 0.71, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(scan_labels(prob, 0.5, 0.2), [[0, 0, 255, 255, 255, 255, 1, 1]])
    np.testing.assert_array_equal(scan_labels(prob, 0.5, 0.0), [[0, 0, 0, 0, 1, 1, 1, 1]])


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
