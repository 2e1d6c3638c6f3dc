"""DAVIS measures on hand-derived cases, the official oracle and the official leaderboard."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from lsevos.evaluation.davis_metrics import (
    boundary_f,
    boundary_map,
    boundary_precision_recall,
    decay_bin_edges,
    disk,
    frame_measures,
    jaccard,
    sequence_statistics,
    tolerance_radius,
)
from lsevos.evaluation.evaluate import evaluate
from lsevos.evaluation.metric_files import sequence_row
from lsevos.evaluation.tables import LEADERBOARD as LEADERBOARD_TABLE


def test_both_empty_gives_j_and_f_one():
    empty = np.zeros((20, 30), dtype=bool)
    assert jaccard(empty, empty) == 1.0
    assert boundary_f(empty, empty) == 1.0
    assert frame_measures(empty, empty, 1) == (1.0, 1.0)


def test_empty_prediction_on_object_gives_zero():
    gt = np.zeros((20, 30), dtype=bool)
    gt[5:10, 5:12] = True
    empty = np.zeros_like(gt)
    assert boundary_precision_recall(gt, empty) == (1.0, 0.0)
    assert boundary_f(gt, empty) == 0.0
    assert jaccard(gt, empty) == 0.0
    assert boundary_precision_recall(empty, gt) == (0.0, 1.0)


def test_jaccard_counts_pixels():
    gt = np.zeros((4, 4), dtype=bool)
    pred = np.zeros((4, 4), dtype=bool)
    gt[0, :] = True  # 4 pixels
    pred[0, :2] = True
    pred[1, 0] = True  # intersection 2, union 5
    assert jaccard(gt, pred) == pytest.approx(2 / 5)


def test_boundary_of_object_touching_border():
    # Object fills columns 3..5 of a 6x6 image, touching the top, bottom and right border.
    mask = np.zeros((6, 6), dtype=bool)
    mask[:, 3:] = True
    expected = np.zeros((6, 6), dtype=bool)
    expected[:, 2] = True  # the background pixels whose east neighbour is object; the border is no boundary
    np.testing.assert_array_equal(boundary_map(mask), expected)
    assert boundary_f(mask, mask) == 1.0
    full = np.ones((6, 6), dtype=bool)
    assert not boundary_map(full).any()
    assert boundary_f(full, full) == 1.0


def test_boundary_uses_south_east_neighbour():
    mask = np.zeros((3, 3), dtype=bool)
    mask[1, 1] = True
    expected = np.zeros((3, 3), dtype=bool)
    expected[0, 0] = expected[0, 1] = expected[1, 0] = expected[1, 1] = True
    np.testing.assert_array_equal(boundary_map(mask), expected)


def test_tolerance_radius_is_8_at_davis_resolution():
    assert tolerance_radius(480, 854) == 8
    # 17 + 2 * (15 + 15 + 15 + 13 + 13 + 11 + 7 + 1) pixels with x^2 + y^2 <= 64
    assert disk(8).sum() == 197
    assert disk(7).sum() == 149


def _square(shift: int) -> np.ndarray:
    mask = np.zeros((480, 854), dtype=bool)
    mask[100:200, 100 + shift : 200 + shift] = True
    return mask


@pytest.mark.parametrize("shift", [3, 5, 8])
def test_shift_within_tolerance_has_perfect_boundary(shift):
    assert boundary_precision_recall(_square(0), _square(shift)) == (1.0, 1.0)
    assert jaccard(_square(0), _square(shift)) == pytest.approx((100 - shift) / (100 + shift))


def test_shift_beyond_tolerance_loses_boundary_pixels():
    precision, recall = boundary_precision_recall(_square(0), _square(9))
    # Each boundary has 400 pixels: the outside row above (101, corner included) and column left (100),
    # the inside column right (100) and row below (99). Radius 8, shift 9. Predicted pixels within reach
    # of the GT boundary: left column (108) only near the GT's top row (rows 100..107: 8) and bottom row
    # (rows 191..199: 9); top row: 92 on the GT's top row, 8 more past its corner (cols 200..207); right
    # column (208): none; bottom row: 90 on the GT's, 9 within 8 of its right column (cols 199..207).
    # 17 + 100 + 0 + 99 = 216 of 400; the recall is the same count mirrored.
    assert precision == 216 / 400
    assert recall == 216 / 400


def test_decay_on_four_frames():
    np.testing.assert_array_equal(decay_bin_edges(4), [0, 1, 2, 2, 3])
    stats = sequence_statistics(np.array([1.0, 0.5, 0.6, 0.2]))
    assert stats.mean == pytest.approx(0.575)
    assert stats.recall == pytest.approx(0.5)  # 0.5 is not > 0.5
    assert stats.decay == pytest.approx((1.0 + 0.5) / 2 - (0.6 + 0.2) / 2)


def test_decay_on_300_frames_uses_64_bit_edges():
    edges = decay_bin_edges(300)
    assert edges.dtype == np.int64
    np.testing.assert_array_equal(edges, [0, 75, 150, 224, 299])
    values = np.arange(300) / 299
    stats = sequence_statistics(values)
    assert stats.decay == pytest.approx(np.arange(0, 76).mean() / 299 - np.arange(224, 300).mean() / 299)


def _oracle_rows(oracle_root, name: str) -> list[dict[str, str]]:
    with open(oracle_root / name, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["dilate7", "shift", "grabcut"])
def test_oracle_per_frame_and_per_sequence(davis_root, oracle_root, variant):
    predictions = oracle_root / "predictions" / variant
    # The oracle covers five of the shared sequences: score those, not the whole root.
    sequences = sorted(path.name for path in predictions.iterdir() if path.is_dir())
    assert len(sequences) == 5
    results = evaluate(davis_root, predictions, sequences=sequences, jobs=2, progress=None)
    scores = {item.name: item for item in results}
    frames = [row for row in _oracle_rows(oracle_root, "per_frame.csv") if row["variant"] == variant]
    assert len(frames) == sum(s.frames.size for s in scores.values()) == 314
    for row in frames:
        item = scores[row["sequence"]]
        position = int(np.flatnonzero(item.frames == int(row["frame"]))[0])
        assert item.j[position] == pytest.approx(float(row["J"]), abs=1e-3)
        assert item.f[position] == pytest.approx(float(row["F"]), abs=1e-3)
    sequences = [row for row in _oracle_rows(oracle_root, "per_sequence.csv") if row["variant"] == variant]
    assert len(sequences) == 5
    for row in sequences:
        ours = sequence_row(scores[row["sequence"]])
        for column, value in ours.items():
            assert value == pytest.approx(float(row[column]), abs=1e-3), (row["sequence"], column)


def test_leaderboard_aggregation_reproduces_official_numbers(leaderboard_root):
    text = (leaderboard_root / "global_eval_val_2016.js").read_text()
    official = json.loads(text[text.index("=") + 1 :].strip().rstrip(";"))
    sequences = (
        "blackswan bmx-trees breakdance camel car-roundabout car-shadow cows dance-twirl dog drift-chicane "
        "drift-straight goat horsejump-high kite-surf libby motocross-jump paragliding-launch parkour "
        "scooter-black soapbox"
    ).split()
    table = dict(LEADERBOARD_TABLE)
    labels = {
        "osvos": "OSVOS",
        "msk": "MSK",
        "onavos": "OnAVOS",
        "siammask": "SiamMask",
        "siamrcnn": "Siam R-CNN",
    }
    for method, label in labels.items():
        per_frame = json.loads((leaderboard_root / f"{method}_davis.json").read_text())
        for index, measure in enumerate(("J", "F")):
            stats = [sequence_statistics(np.array(per_frame[s][measure], dtype=float)) for s in sequences]
            ours = (
                np.mean([s.mean for s in stats]),
                np.mean([s.recall for s in stats]),
                np.mean([s.decay for s in stats]),
            )
            for offset, key in enumerate(("mean", "recall", "decay")):
                expected = float(official[method][f"{measure}{key}"])
                assert ours[offset] == pytest.approx(expected, abs=1e-3), (method, measure, key)
                assert table[label][3 * index + offset] == expected  # Table 4 copies the official numbers
