"""The stress suite (lsevos.data.stress): each mode built right on a hand-made three-sequence DAVIS root,
determinism from the seed, the `stress-suite` / `stress-table` commands, and the cpu-stress config."""

import argparse
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from lsevos.data.commands import register
from lsevos.data.davis import DavisDataset
from lsevos.data.io import read_frame, read_mask
from lsevos.data.stress import (
    GROW_FRAMES,
    SMALL_FRACTION,
    load_clips,
    make_distractor,
    make_grow,
    make_part,
    make_small,
    plan_suite,
    read_suite,
)
from lsevos.errors import ConfigError, DataError
from lsevos.evaluation.metric_files import write_per_sequence
from lsevos.evaluation.stress_table import stress_table

REPO = Path(__file__).resolve().parents[2]
HEIGHT, WIDTH, FRAMES = 108, 192, 14
# name -> (start centre x, y; velocity x, y per frame; half axes)
TOY = {
    "a": (60, 50, 2.0, 0.5, (14, 10)),
    "b": (120, 60, -2.0, 0.0, (12, 16)),
    "c": (90, 40, 1.0, 1.0, (16, 9)),
}


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG" if image.ndim == 2 else "JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    """Three 14-frame 192x108 sequences: a checkered ellipse moving over a smooth coloured background."""
    root = tmp_path_factory.mktemp("toy") / "davis"
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    for index, (name, (x, y, vx, vy, axes)) in enumerate(TOY.items()):
        noise = cv2.GaussianBlur(rng.uniform(0, 255, (HEIGHT, WIDTH, 3)).astype(np.float32), (0, 0), 9)
        background = np.clip(80 + 0.8 * (noise - noise.mean()) + 30 * index, 0, 255)
        for kind in ("JPEGImages", "Annotations"):
            (root / kind / "480p" / name).mkdir(parents=True)
        for t in range(FRAMES):
            centre = (x + vx * t, y + vy * t)
            mask = ((xs - centre[0]) / axes[0]) ** 2 + ((ys - centre[1]) / axes[1]) ** 2 <= 1
            checks = ((xs // 4 + ys // 4) % 2).astype(bool)
            colour = np.where(checks[..., None], [230, 40 + 60 * index, 40], [20, 20, 200])
            frame = np.where(mask[..., None], colour, background).astype(np.uint8)
            (root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg").write_bytes(_png(frame))
            (root / "Annotations" / "480p" / name / f"{t:05d}.png").write_bytes(
                _png(np.where(mask, 255, 0).astype(np.uint8))
            )
    return root


@pytest.fixture(scope="module")
def clips(toy_root):
    return load_clips(DavisDataset(toy_root), list(TOY), FRAMES)


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_small_pastes_the_object_at_half_a_percent_to_one_percent_of_the_frame(clips):
    video = make_small(clips["a"], clips["b"], 0, "small-a-on-b")
    fractions = video.masks.reshape(FRAMES, -1).mean(axis=1)
    assert SMALL_FRACTION[0] * 0.9 <= fractions[0] <= SMALL_FRACTION[1] * 1.1
    assert (fractions > 0).all() and fractions.max() < 0.02
    background = [clips["b"].frame(t).astype(np.uint8) for t in range(FRAMES)]
    for t in range(FRAMES):
        near = cv2.dilate(video.masks[t].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        # outside the pasted footprint (and its soft edge) the frame is the background's, untouched
        assert np.array_equal(video.frames[t][~near], background[t][~near])
        # inside it, the pasted object: most pixels differ from the background
        changed = np.abs(video.frames[t].astype(int) - background[t]).sum(axis=2) > 30
        assert changed[video.masks[t]].mean() > 0.8
    assert np.array_equal(video.pasted, video.masks)
    # the pasted object follows its source's motion, halved (source: 2 px/frame right, 0.5 down; the path
    # is smoothed over 5 frames, exact for this linear motion from frame 2 to frame T - 3)
    moved = _centroid(video.masks[FRAMES - 3]) - _centroid(video.masks[2])
    assert np.allclose(moved, 0.5 * np.array([2.0, 0.5]) * (FRAMES - 5), atol=1.0)
    assert video.spec.mode == "small" and video.spec.other == "b"


def test_grow_zooms_the_object_to_about_3x_its_area_at_frame_10(clips):
    video = make_grow(clips["a"], "grow-a")
    areas = video.masks.reshape(FRAMES, -1).sum(axis=1)
    assert areas[GROW_FRAMES] / areas[0] >= 2.5
    assert areas[GROW_FRAMES] / areas[0] <= 3.3
    assert np.all(np.diff(areas[: GROW_FRAMES + 1]) > 0)
    # frame 0 is the whole source frame (no zoom yet); the frames have the source's size
    assert np.array_equal(video.masks[0], clips["a"].masks[0])
    assert np.abs(video.frames[0].astype(int) - clips["a"].frame(0)).max() <= 1
    assert video.frames.shape == (FRAMES, HEIGHT, WIDTH, 3)
    # the zoom holds after frame 10
    assert video.spec.params["zooms"][GROW_FRAMES:] == [video.spec.params["zooms"][GROW_FRAMES]] * (
        FRAMES - GROW_FRAMES
    )


@pytest.mark.parametrize("kind", ["lookalike", "salient"])
def test_distractor_is_beside_the_target_and_not_in_its_ground_truth(clips, kind):
    source = clips["a"]
    video = make_distractor(source, clips["c"] if kind == "salient" else None, kind, f"distractor-a-{kind}")
    assert np.array_equal(video.masks, source.masks)
    width = np.ptp(np.nonzero(source.masks[0])[1]) + 1
    for t in range(FRAMES):
        pasted, target = video.pasted[t], video.masks[t]
        assert pasted.sum() > 0.5 * target.sum()
        assert not (pasted & target).any()
        distance = cv2.distanceTransform((~target).astype(np.uint8), cv2.DIST_L2, 3)
        assert distance[pasted].min() <= 0.25 * width  # touching or nearly: next to the target
        assert np.abs(_centroid(pasted) - _centroid(target))[0] <= 2.5 * width
        # the target stays in front: its pixels are the source's
        assert np.abs(video.frames[t][target].astype(int) - source.frame(t)[target]).max() <= 1
    if kind == "salient":
        assert video.pasted[0].sum() > 1.2 * video.masks[0].sum()  # larger than the target


def test_part_labels_only_the_top_half_of_the_object(clips):
    source = clips["b"]
    video = make_part(source, "part-b")
    label, mask = video.first_label, source.masks[0]
    rows = np.flatnonzero(mask.any(axis=1))
    middle = rows[0] + (rows[-1] - rows[0] + 2) // 2
    assert label.sum() > 0 and not (label & ~mask).any()
    assert np.array_equal(label[:middle], mask[:middle])  # the whole top half of the box's rows
    assert not label[middle:].any()  # nothing below
    assert 0.4 <= label.sum() / mask.sum() <= 0.6  # an ellipse: about half its area
    assert video.frames is None and np.array_equal(video.masks, source.masks)


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="lsevos")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def _suite(toy_root: Path, out: Path, seed: int) -> int:
    return _run(
        "stress-suite", "--davis-root", str(toy_root), "--sequences", "a,b,c", "--out", str(out),
        "--frames", "12", "--per-mode", "1", "--seed", str(seed),
    )  # fmt: skip


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_command_writes_a_davis_layout_suite_deterministically_from_the_seed(toy_root, tmp_path, capsys):
    first, second, other = tmp_path / "s1", tmp_path / "s2", tmp_path / "s3"
    assert _suite(toy_root, first, 0) == 0
    modes = read_suite(first)
    assert sorted(modes.values()) == ["distractor", "grow", "part", "small"]
    dataset = DavisDataset(first)
    assert dataset.sequences == list(modes)
    for name in modes:
        sequence = dataset.sequence(name)  # frames and masks pair up, sizes agree, db_info count holds
        assert len(sequence) == 12
        assert set(np.unique(np.asarray(Image.open(sequence.mask_paths[0])))) <= {0, 255}
    part = next(name for name, mode in modes.items() if mode == "part")
    label = read_mask(first / "FirstFrameLabels" / "480p" / part / "00000.png")
    assert label.any() and not (label & ~read_mask(dataset.sequence(part).mask_paths[0])).any()
    small = next(name for name, mode in modes.items() if mode == "small")
    assert "LR" in dataset.attributes(small)
    assert read_frame(dataset.sequence(small).frame_paths[0]).shape == (HEIGHT, WIDTH, 3)
    assert f"wrote 4 stress sequences to {first}" in capsys.readouterr().out
    assert _suite(toy_root, second, 0) == 0
    assert _files(first) == _files(second)
    assert _suite(toy_root, other, 1) == 0
    assert _files(other) != _files(first)
    assert _suite(toy_root, first, 0) == 0  # its own earlier output is replaced


def test_the_command_refuses_a_foreign_output_folder_and_a_bad_source(toy_root, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="did not write"):
        _suite(toy_root, out, 0)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    with pytest.raises(DataError, match="inside it"):
        _suite(toy_root, toy_root / "suite", 0)
    with pytest.raises(DataError, match="unknown sequence"):
        _run(
            "stress-suite", "--davis-root", str(toy_root), "--sequences", "a,zz", "--out", str(tmp_path / "x")
        )
    with pytest.raises(DataError, match="fewer than --frames 20"):
        _run(
            "stress-suite", "--davis-root", str(toy_root), "--sequences", "a,b",
            "--out", str(tmp_path / "y"), "--frames", "20",
        )  # fmt: skip
    with pytest.raises(DataError, match="--frames 2: give at least 3"):
        _run(
            "stress-suite", "--davis-root", str(toy_root), "--sequences", "a,b",
            "--out", str(tmp_path / "z"), "--frames", "2",
        )  # fmt: skip
    for sequences, extra, message in (
        ("", [], "give at least two source sequences"),
        (",", [], "give at least two source sequences"),
        ("a,b", ["--seed", "-1"], "--seed -1: give an integer of at least 0"),
    ):
        with pytest.raises(ConfigError, match=message):
            _run("stress-suite", "--davis-root", str(toy_root), "--sequences", sequences,
                 "--out", str(tmp_path / "w"), *extra)  # fmt: skip
    assert not any((tmp_path / name).exists() for name in "wxyz")


def test_the_command_says_when_a_mode_gets_fewer_sequences(toy_root, tmp_path, capsys):
    out = tmp_path / "short"
    argv = ["--davis-root", str(toy_root), "--sequences", "a,b", "--out", str(out), "--frames", "10"]
    assert _run("stress-suite", *argv) == 0
    assert "stress-suite: grow: 0 of 4 sequences" in capsys.readouterr().err
    assert sorted(set(read_suite(out).values())) == ["distractor", "part", "small"]


def test_stress_table_averages_j_and_f_per_mode(tmp_path, capsys):
    suite = tmp_path / "suite"
    suite.mkdir()
    entries = [("small-a-on-b", "small"), ("small-b-on-c", "small"), ("grow-a", "grow"), ("part-c", "part")]
    (suite / "stress.json").write_text(
        json.dumps({"sequences": [{"name": n, "mode": m} for n, m in entries]})
    )
    row = dict.fromkeys(("J_R", "J_D", "F_R", "F_D"), 0.0)
    rows = {
        "small-a-on-b": {**row, "J_M": 0.5, "F_M": 0.4},
        "small-b-on-c": {**row, "J_M": 0.1, "F_M": 0.2},
        "grow-a": {**row, "J_M": 0.8, "F_M": 0.7},
        "part-c": {**row, "J_M": 0.25, "F_M": 0.125},
        "blackswan": {**row, "J_M": 1.0, "F_M": 1.0},  # not a suite sequence: ignored
    }
    ours = tmp_path / "metrics" / "davis" / "ours.csv"
    write_per_sequence(ours, rows)
    fp = tmp_path / "fp.csv"
    write_per_sequence(fp, {name: {**values, "J_M": values["J_M"] / 2} for name, values in rows.items()})
    table = stress_table([ours, fp], suite)
    assert table.splitlines() == [
        "| mode | sequences | ours J | ours F | fp J | fp F |",
        "| --- | --- | --- | --- | --- | --- |",
        "| small | 2 | 30.0 | 30.0 | 15.0 | 30.0 |",
        "| grow | 1 | 80.0 | 70.0 | 40.0 | 70.0 |",
        "| part | 1 | 25.0 | 12.5 | 12.5 | 12.5 |",
        "| all | 4 | 41.2 | 35.6 | 20.6 | 35.6 |",
    ]
    assert _run("stress-table", str(ours), str(fp), "--suite", str(suite)) == 0
    assert capsys.readouterr().out == table
    write_per_sequence(ours, {name: values for name, values in rows.items() if name != "grow-a"})
    with pytest.raises(DataError, match="no metrics for stress sequence.*grow-a"):
        stress_table([ours], suite)


def test_cpu_stress_config_lists_the_suite_the_documented_command_builds(davis_root):
    """config/cpu-stress.yaml names the sequences `lsevos stress-suite` builds from the ten shared val
    sequences with the defaults (the plan reads the first 30 masks only)."""
    config = yaml.safe_load((REPO / "config" / "cpu-stress.yaml").read_text())
    sources = "blackswan,bmx-trees,breakdance,camel,car-shadow,cows,dance-twirl,dog,goat,parkour".split(",")
    assert f"--sequences {','.join(sources)}" in (REPO / "config" / "cpu-stress.yaml").read_text()
    specs = plan_suite(load_clips(DavisDataset(davis_root), sources, 30), 4, 0)
    assert config["sequences"]["davis"] == [spec.name for spec in specs]
    assert config["sequences"]["segtrack"] == []


def test_cpu_stress_config_over_cpu_passes_the_config_check(tmp_path):
    """Merged over config/cpu.yaml as Snakemake merges config files, with the suite and the train split in
    place: one fold evaluating every stress sequence, copy-paste from the train split only."""
    from snakemake.utils import update_config

    from lsevos.config import check_config, copy_paste_sequences, folds

    config = yaml.safe_load((REPO / "config" / "cpu.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "config" / "cpu-stress.yaml").read_text()))
    base = tmp_path / "repo"
    for name in config["sequences"]["davis"]:
        (base / config["data"]["davis_root"] / "JPEGImages" / "480p" / name).mkdir(parents=True)
    (base / config["pretrain"]["copy_paste"]["davis_root"] / "JPEGImages" / "480p" / "bear").mkdir(
        parents=True
    )
    check_config(config, base_dir=base)
    assert folds(config) == {"all": config["sequences"]["davis"]}
    assert copy_paste_sequences(config, "all") == "all"
    assert config["pretrain"]["copy_paste"]["davis_root"].endswith("davis2016-train")
    assert (
        config["name"] == "cpu-stress"
        and config["video"] == yaml.safe_load((REPO / "config" / "cpu.yaml").read_text())["video"]
    )
