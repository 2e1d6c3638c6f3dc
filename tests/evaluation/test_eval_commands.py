"""Command-line round trips: evaluate, merge-metrics, grabcut."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from lsevos.cli import main
from lsevos.data.io import read_mask
from lsevos.evaluation.grabcut import enlarged_box, grabcut_frame
from lsevos.evaluation.metric_files import read_per_frame, read_per_sequence


def _oracle_row(oracle_root, variant, sequence):
    with open(oracle_root / "per_sequence.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["variant"] == variant and row["sequence"] == sequence:
                return row
    raise AssertionError(f"no oracle row {variant}/{sequence}")


def test_evaluate_and_merge_round_trip(davis_root, oracle_root, tmp_path, capsys):
    pred = tmp_path / "pred"
    for sequence in ("car-shadow", "blackswan"):
        shutil.copytree(oracle_root / "predictions" / "shift" / sequence, pred / sequence)
    outputs = {}
    for sequence in ("car-shadow", "blackswan"):
        out = tmp_path / sequence
        code = main(
            ["evaluate", "--gt", str(davis_root), "--pred-dir", str(pred / sequence),
             "--sequences", sequence, "--out", str(out / "seq.csv"), "--per-frame", str(out / "frames.csv"),
             "--json", str(out / "m.json"), "--jobs", "1"]
        )  # fmt: skip
        assert code == 0
        outputs[sequence] = out
    assert "car-shadow" in capsys.readouterr().out
    rows = read_per_sequence(outputs["car-shadow"] / "seq.csv")
    expected = _oracle_row(oracle_root, "shift", "car-shadow")
    for column, value in rows["car-shadow"].items():
        assert value == pytest.approx(float(expected[column]), abs=1e-9)
    metrics = json.loads((outputs["car-shadow"] / "m.json").read_text())
    assert metrics["JF"] == pytest.approx((float(expected["J_M"]) + float(expected["F_M"])) / 2)
    frames = read_per_frame(outputs["car-shadow"] / "frames.csv")
    assert frames["car-shadow"][0].tolist() == list(range(1, 39))  # frames 1..N-2 of 40
    with open(outputs["car-shadow"] / "seq.csv") as handle:
        assert handle.readline().strip() == "sequence,J_M,J_R,J_D,F_M,F_R,F_D"
        assert handle.readlines()[-1].startswith("mean,")

    merged, merged_frames = tmp_path / "all.csv", tmp_path / "all.per_frame.csv"
    code = main(
        ["merge-metrics", "--out", str(merged), "--per-frame-out", str(merged_frames), "--per-frame-in",
         str(outputs["car-shadow"] / "frames.csv"), str(outputs["blackswan"] / "frames.csv"), "--",
         str(outputs["car-shadow"] / "seq.csv"), str(outputs["blackswan"] / "seq.csv")]
    )  # fmt: skip
    assert code == 0
    all_rows = read_per_sequence(merged)
    assert list(all_rows) == ["car-shadow", "blackswan"]
    with open(merged, newline="") as handle:
        mean = [row for row in csv.DictReader(handle) if row["sequence"] == "mean"][0]
    blackswan = _oracle_row(oracle_root, "shift", "blackswan")
    expected_mean = (float(expected["F_M"]) + float(blackswan["F_M"])) / 2
    assert float(mean["F_M"]) == pytest.approx(expected_mean, abs=1e-9)
    assert set(read_per_frame(merged_frames)) == {"car-shadow", "blackswan"}

    # Results are recomputed, never reused: an emptied prediction changes the numbers.
    Image.fromarray(np.zeros((480, 854), dtype=np.uint8), mode="L").save(pred / "car-shadow" / "00005.png")
    main(["evaluate", "--gt", str(davis_root), "--pred", str(pred), "--sequences", "car-shadow",
          "--out", str(outputs["car-shadow"] / "seq.csv"), "--jobs", "1"])  # fmt: skip
    changed = read_per_sequence(outputs["car-shadow"] / "seq.csv")["car-shadow"]
    assert changed["J_M"] < rows["car-shadow"]["J_M"]


def test_evaluate_error_exits_with_message_and_writes_nothing(davis_root, tmp_path, capsys):
    (tmp_path / "pred").mkdir()
    code = main(["evaluate", "--gt", str(davis_root), "--pred", str(tmp_path / "pred"), "--sequences", "dog",
                 "--out", str(tmp_path / "out.csv")])  # fmt: skip
    assert code == 2
    assert "no predictions for sequence dog" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()
    code = main(["evaluate", "--gt", str(davis_root), "--pred", str(tmp_path / "pred"), "--sequences", "dog",
                 "--out", str(tmp_path / "out.csv"), "--jobs", "0"])  # fmt: skip
    assert code == 2 and "--jobs 0: give an integer of at least 1" in capsys.readouterr().err


def test_merge_rejects_a_sequence_twice(tmp_path):
    part = tmp_path / "part.csv"
    part.write_text("sequence,J_M,J_R,J_D,F_M,F_R,F_D\ndog,0.5,1,0,0.5,1,0\nmean,0.5,1,0,0.5,1,0\n")
    assert main(["merge-metrics", "--out", str(tmp_path / "all.csv"), str(part), str(part)]) == 2
    assert not (tmp_path / "all.csv").exists()


def test_an_empty_or_binary_metrics_file_is_named_in_one_line(tmp_path, capsys):
    empty, binary = tmp_path / "empty.csv", tmp_path / "binary.csv"
    empty.write_text("")
    binary.write_bytes(b"sequence,J_M\n\xff\xfe\x00dog\n")
    cases = ((empty, "no header (an empty file), not sequence,J_M"), (binary, "not a text CSV"),
             (tmp_path, "a folder, not a per-sequence metrics file"))  # fmt: skip
    for part, said in cases:
        assert main(["merge-metrics", "--out", str(tmp_path / "all.csv"), str(part)]) == 2
        line = capsys.readouterr().err.strip()
        assert line.startswith(f"lsevos merge-metrics: error: {part}: {said}") and "\n" not in line
    assert not (tmp_path / "all.csv").exists()


def test_enlarged_box_is_clipped():
    mask = np.zeros((20, 30), dtype=bool)
    mask[2:6, 25:28] = True
    assert enlarged_box(mask, 10) == (15, 0, 29, 15)
    assert enlarged_box(np.zeros((4, 4), dtype=bool), 10) is None


def test_grabcut_whole_frame_box_falls_back_to_the_box():
    frame = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    gt = np.ones((30, 40), dtype=np.uint8)
    assert grabcut_frame(frame, gt, margin=10).all()
    assert not grabcut_frame(frame, np.zeros((30, 40), dtype=np.uint8)).any()


@pytest.mark.slow
def test_grabcut_command_matches_oracle_on_real_frames(davis_root, oracle_root, tmp_path):
    root = tmp_path / "davis"
    for kind, suffix in (("JPEGImages", "jpg"), ("Annotations", "png")):
        target = root / kind / "480p" / "car-shadow"
        target.mkdir(parents=True)
        for index in (1, 2):
            shutil.copy(davis_root / kind / "480p" / "car-shadow" / f"{index:05d}.{suffix}", target)
    out = tmp_path / "grabcut"
    assert main(["grabcut", "--data", str(root), "--out", str(out), "--jobs", "2"]) == 0
    for index in (1, 2):
        ours = read_mask(out / "car-shadow" / f"{index:05d}.png")
        with Image.open(out / "car-shadow" / f"{index:05d}.png") as image:
            assert image.mode == "P"
        oracle = read_mask(oracle_root / "predictions" / "grabcut" / "car-shadow" / f"{index:05d}.png")
        assert np.mean(ours == oracle) > 0.995


def test_worker_pools_survive_a_parent_whose_opencv_threads_have_started():
    """Forked children of a process whose OpenCV thread pool has started hang in their first cv2 call;
    the evaluation's and GrabCut's workers come from a forkserver instead (run in a fresh interpreter,
    with a time limit, so a regression fails instead of hanging)."""
    import subprocess
    import sys

    script = (
        "import cv2, numpy as np\n"
        "cv2.setNumThreads(2)\n"
        "cv2.GaussianBlur(np.zeros((2000, 2000), np.float32), (31, 31), 5)\n"
        "from lsevos.evaluation.evaluate import worker_pool\n"
        "with worker_pool(2) as pool:\n"
        "    print(pool.map(cv2.setNumThreads, [1, 1, 1, 1]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[None, None, None, None]"
