"""`benchmarks/protocol.py`, the development protocol on whole videos: real `lsevos segment` and `lsevos
evaluate` runs on a tiny DAVIS-layout folder, the comparison with an earlier run, and bad inputs refused in
one line before any video starts."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import yaml

TINY = {"crop_size": 33, "train_crop_size": 33, "finetune_epochs": 1, "retrain_epochs": 1, "batch": 2}


def rows(path) -> dict[str, dict]:
    with open(path, newline="") as handle:
        return {row["sequence"]: row for row in csv.DictReader(handle)}


def test_first_box_is_the_first_masks_box(protocol, davis):
    # frame 0's square spans x 26..40, y 8..22 (cv2.rectangle fills both corners)
    assert protocol.first_box(davis, "square") == "26,8,40,22"


def test_compare_lists_what_moved_and_the_means_of_both_runs(protocol):
    def row(j, f):
        return {"J_M": j, "J_R": 1.0, "J_D": 0.0, "F_M": f, "F_R": 1.0, "F_D": 0.0}

    baseline = {"a": row(0.5, 0.4), "b": row(0.8, 0.7), "gone": row(0.1, 0.1)}
    current = {"a": row(0.6, 0.4), "b": row(0.806, 0.7)}
    lines = protocol.compare(baseline, current)
    assert protocol.compare({"x": row(0.5, 0.5)}, {"y": row(0.6, 0.6)}) == ["  no sequence is in both runs"]
    assert lines == [
        "  a                        J  50.0 ->  60.0",  # b moved by 0.6 J only: not listed
        "  mean over the 2 sequences of both runs: J / F 65.0 / 55.0 -> 70.3 / 55.0",
    ]


@pytest.mark.slow
def test_a_run_segments_every_sequence_and_a_second_run_compares_with_it(
    protocol, davis, tmp_path, tiny_checkpoint, repo_root, capsys
):
    first = tmp_path / "ours"
    common = ["--root", str(davis), "--sequences", "disk,square", "--jobs", "2"]
    assert protocol.main([*common, "--out", str(first), "--checkpoint", str(tiny_checkpoint),
                          "--settings", json.dumps(TINY)]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "[2/2]" in said and "left" in said  # progress with an estimate of what is left
    for seq in ("disk", "square"):
        assert sorted(p.name for p in (first / "masks" / seq).glob("*.png")) == [
            f"{i:05d}.png" for i in range(5)
        ]
        assert (first / "boxes" / f"{seq}.json").is_file()
        assert (first / "logs" / f"{seq}.log").is_file()
    assert not (first / ".work").exists() and not list(tmp_path.glob(".*.lock"))  # OUT released at the end
    cpu_video = yaml.safe_load((repo_root / "config" / "cpu.yaml").read_text())["video"]
    assert json.loads((first / "settings.json").read_text()) == {**cpu_video, **TINY}
    run = json.loads((first / "run.json").read_text())
    assert set(run["seconds"]) == {"total", "disk", "square"} and run["commit"]
    scores = rows(first / "metrics.csv")
    assert set(scores) == {"disk", "square", "mean"}

    second = tmp_path / "prior"
    assert protocol.main([*common, "--out", str(second), "--settings", json.dumps(TINY), "--prior-alone",
                          "--baseline", str(first)]) == 0  # fmt: skip
    said = capsys.readouterr().out
    after = rows(second / "metrics.csv")
    old = [np.mean([float(scores[s][k]) for s in ("disk", "square")]) for k in ("J_M", "F_M")]
    new = [np.mean([float(after[s][k]) for s in ("disk", "square")]) for k in ("J_M", "F_M")]
    expected = (
        f"mean over the 2 sequences of both runs: J / F {100 * old[0]:.1f} / {100 * old[1]:.1f}"
        f" -> {100 * new[0]:.1f} / {100 * new[1]:.1f}"
    )
    assert f"against {first}:" in said and expected in said
    assert float(after["disk"]["J_M"]) > 0.5  # the prior alone finds the red disk

    again = [
        *common[:2],
        "--sequences",
        "disk",
        "--out",
        str(first),
        "--prior-alone",
        "--settings",
        json.dumps(TINY),
    ]
    assert protocol.main(again) == 0  # a run's own folder may be run into again; its metrics are this run's
    assert set(rows(first / "metrics.csv")) == {"disk", "mean"}
    assert rows(first / "metrics.csv")["disk"] == after["disk"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--sequences": "disk,nothing"}, "--sequences: not in"),
        ({"--checkpoint": None}, "--checkpoint: needed for Ours"),
        ({"--checkpoint": "missing.pt"}, "--checkpoint: missing.pt: checkpoint not found"),
        ({"--checkpoint": "TEXT"}, "notes.pt: not a PyTorch checkpoint"),
        ({"--baseline": "no-such-run"}, "--baseline no-such-run: no metrics.csv there"),
        ({"--settings": '{"crop_sise": 33}'}, "crop_sise"),
        ({"--settings": "{not json"}, "--settings '{not json': neither an existing file nor valid JSON"),
        ({"--sequences": "late"}, "the first mask is not of the first frame (00000.jpg)"),
        ({"--out": "DAVIS/results"}, "is the input"),
        ({"--sequences": "empty"}, "the first mask is empty"),
    ],
)
def test_bad_inputs_are_refused_in_one_line_before_any_work(
    protocol, davis, tmp_path, tiny_checkpoint, capsys, change, message
):
    for seq, first in (("empty", "00000"), ("late", "00001")):  # a first mask marking nothing; one late
        (davis / "JPEGImages/480p" / seq).mkdir()
        (davis / "Annotations/480p" / seq).mkdir()
        for name in ("00000", "00001"):
            cv2.imwrite(str(davis / "JPEGImages/480p" / seq / f"{name}.jpg"), np.zeros((48, 64, 3), np.uint8))
        cv2.imwrite(str(davis / "Annotations/480p" / seq / f"{first}.png"), np.zeros((48, 64), np.uint8))
    (tmp_path / "notes.pt").write_text("not a model\n")
    named = {"DAVIS/results": str(davis / "results"), "TEXT": str(tmp_path / "notes.pt")}
    change = {key: named.get(value, value) for key, value in change.items()}
    options = {"--root": str(davis), "--sequences": "disk", "--out": str(tmp_path / "run"),
               "--checkpoint": str(tiny_checkpoint), **change}  # fmt: skip
    argv = [item for key, value in options.items() if value is not None for item in (key, value)]
    assert protocol.main(argv) == 2
    said = capsys.readouterr().err.strip()
    assert said.startswith("protocol: ") and message in said and "\n" not in said
    assert not (tmp_path / "run").exists() and not (davis / "results").exists()


def test_a_failing_video_stops_the_run_and_an_out_it_did_not_write_is_refused(
    protocol, davis, tmp_path, tiny_checkpoint, capsys
):
    (davis / "JPEGImages/480p/square/00002.jpg").write_bytes(b"not a jpeg")  # lsevos segment refuses it
    out = tmp_path / "run"
    argv = ["--root", str(davis), "--sequences", "square", "--checkpoint", str(tiny_checkpoint),
            "--settings", json.dumps(TINY), "--jobs", "1"]  # fmt: skip
    assert protocol.main([*argv, "--out", str(out)]) == 2
    said = capsys.readouterr().err.strip()
    assert said == f"protocol: square: lsevos segment failed (exit 2); see {out / 'logs' / 'square.log'}"
    assert "00002.jpg" in (out / "logs" / "square.log").read_text()
    assert not (out / "masks" / "square").exists() and not (out / "metrics.csv").exists()
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"mine")
    assert protocol.main([*argv, "--out", str(foreign)]) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"protocol: {foreign}: --out is an existing folder that lsevos did not write")
    assert "(it holds holiday.jpg)" in said and said.count("\n") == 1
    assert sorted(p.name for p in foreign.iterdir()) == ["holiday.jpg"]


def test_settings_from_a_file_and_a_malformed_baseline(protocol, davis, tmp_path, tiny_checkpoint, capsys):
    settings = tmp_path / "seed1.yaml"
    settings.write_text("seed: 1\ncrop_size: 33\n")
    assert protocol.video_settings(str(settings))["seed"] == 1
    assert protocol.video_settings(str(settings))["saliency_weight"] == 0.7  # config/cpu.yaml's, kept
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.csv").write_text("sequence,J\ndisk,0.5\n")
    argv = ["--root", str(davis), "--sequences", "disk", "--out", str(tmp_path / "run"), "--prior-alone",
            "--baseline", str(bad)]  # fmt: skip
    assert protocol.main(argv) == 2
    said = capsys.readouterr().err.strip()
    assert said == (
        f"protocol: {bad / 'metrics.csv'}: header ['sequence', 'J'], not "
        "sequence,J_M,J_R,J_D,F_M,F_R,F_D; write it with `lsevos evaluate`"
    )
