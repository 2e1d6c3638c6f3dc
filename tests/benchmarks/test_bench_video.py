"""`make bench`'s video benchmark at toy length: the scan, its predictor and GrabCut are timed side by side
in one process per configuration, and the summary table of `benchmarks/run_all.py` reads their ratios."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_video_times_scan_predictor_and_grabcut_side_by_side(tmp_path, repo_root):
    command = [
        sys.executable, str(repo_root / "benchmarks" / "bench_video.py"), "--speed-frames", "3",
        "--short", "2", "--long", "3", "--grabcut-frames", "1",
        "--predictor-calls", "2", "--out-dir", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=repo_root)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "video.json").read_text())
    assert set(report["speed"]) == {
        "demo (tiny, crop 48)",
        "cpu (efficientnet-lite0, crop 241, saliency prior)",
    }
    for figures in report["speed"].values():
        assert figures["frames"] == 3
        assert figures["predictor_ms"] > 0 and figures["network_ms"] > 0  # their ratio: `make bench`'s
        assert figures["scan_over_predictor"] == pytest.approx(
            figures["scan_ms_per_frame"] / figures["predictor_in_scan_ms"]
        )
        assert 0 < figures["predictor_in_scan_ms"] < figures["scan_ms_per_frame"]
        assert figures["scan_over_grabcut"] == pytest.approx(
            figures["scan_ms_per_frame"] / figures["grabcut_ms_per_frame"]
        )
    cpu = report["speed"]["cpu (efficientnet-lite0, crop 241, saliency prior)"]
    demo = report["speed"]["demo (tiny, crop 48)"]
    assert cpu["saliency_weight"] == 0.7 and demo["saliency_weight"] == 0.0  # the prior: in the cpu predictor
    sys.path.insert(0, str(repo_root / "benchmarks"))
    try:
        import run_all
    finally:
        sys.path.pop(0)
    table = run_all.ratios(tmp_path)
    assert f"| scan / predictor per frame, demo (tiny, crop 48) | {demo['scan_over_predictor']:.2f}" in table
    assert "vos-benchmark" not in table  # no evaluate.json in this folder


@pytest.mark.slow
def test_bench_segment_times_the_whole_command_against_full_size_adaptation(tmp_path, repo_root):
    command = [
        sys.executable, str(repo_root / "benchmarks" / "bench_segment.py"), "--frames", "4",
        "--override", '{"finetune_epochs": 1, "first_frame_grabcut": 1}', "--out-dir", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=repo_root)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "segment.json").read_text())
    assert set(report["runs"]) == {"cpu", "cpu, full-size adaptation"}
    for run in report["runs"].values():
        assert run["frames"] == 4
        assert run["fps"] == pytest.approx(4 / run["seconds"])
        assert run["peak_rss_mb"] > 100  # torch alone is more
        assert set(run["phases"]) == {"fine-tune", "retrain", "scan 1", "scan 2"}
        assert run["phases"]["fine-tune"]["steps"] == 1 and run["phases"]["scan 2"]["frames"] == 4
    runs = report["runs"]
    full, cpu = runs["cpu, full-size adaptation"], runs["cpu"]
    assert report["speedup"] == pytest.approx(full["seconds"] / cpu["seconds"])
    sys.path.insert(0, str(repo_root / "benchmarks"))
    try:
        import run_all
    finally:
        sys.path.pop(0)
    table = run_all.ratios(tmp_path)
    assert f"| `lsevos segment` speed-up over full-size adaptation | x{report['speedup']:.2f} |" in table


def test_bench_segment_reads_each_phase_from_the_progress_lines(repo_root):
    sys.path.insert(0, str(repo_root / "benchmarks"))
    try:
        import bench_segment
    finally:
        sys.path.pop(0)
    log = (
        "fine-tune: 50 steps in 0:16 (3.12 step/s), epoch 50/50 loss 0.19\n"
        "scan 1: 9/90 (10%), 7.0 frame/s, ETA 0:11, box [1, 2, 3, 4]\n"
        "scan 1: 90 frames in 13.5 s (6.6 frames/s)\n"
        "retrain: 30 steps in 0:10 (2.92 step/s), epoch 1/1 loss 0.23\n"
        "scan 2: 90 frames in 4.6 s (19.4 frames/s; scan 1's prior on 90)\n"
    )
    assert bench_segment.phases(log) == {
        "fine-tune": {"steps": 50, "steps_per_s": 3.12},
        "retrain": {"steps": 30, "steps_per_s": 2.92},
        "scan 1": {"frames": 90, "seconds": 13.5, "fps": 6.6},
        "scan 2": {"frames": 90, "seconds": 4.6, "fps": 19.4},
    }
