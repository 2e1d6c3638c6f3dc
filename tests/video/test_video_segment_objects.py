"""`lsevos segment` for users: several objects, a first-frame mask, the model it picks and refuses."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
import torch

from lsevos import cli
from lsevos.data.io import OUTPUT_MARKER, read_mask, write_mask
from lsevos.errors import ConfigError
from lsevos.model.lse_net import LSENet
from lsevos.train.checkpoint import load_checkpoint, save_checkpoint
from lsevos.video.model_file import choose_checkpoint, package_model, refuse_builtin_model
from lsevos.video.objects import (
    merge_probabilities,
    parse_object_prompts,
    write_merged,
)
from lsevos.video.scan_folder import probability_to_png
from lsevos.video.steps import pretraining_defaults

# a low threshold: the random tiny network's probability is above it inside each object's search box
FAST = '{"crop_size": 33, "finetune_epochs": 1, "retrain_epochs": 1, "batch": 2, "threshold": 0.02}'
CENTRES = {1: (14, 16), 2: (50, 32)}


@pytest.fixture
def two_disks(tmp_path):
    """5 frames (48x64): a red disk (object 1) top left, a blue one (object 2) bottom right, still."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(5):
        frame = np.full((48, 64, 3), 30, dtype=np.uint8)
        cv2.circle(frame, CENTRES[1], 7, (20, 20, 220), thickness=-1)
        cv2.circle(frame, CENTRES[2], 7, (220, 20, 20), thickness=-1)
        cv2.imwrite(str(folder / f"{index:05d}.png"), frame)
    return folder


def segment(*argv) -> int:
    return cli.main(["segment", *map(str, argv)])


def check_two_objects(out, frames):
    names = sorted(path.stem for path in frames.iterdir())
    masks = {name: read_mask(out / "masks" / f"{name}.png") for name in names}
    assert set(np.unique(np.stack(list(masks.values())))) == {0, 1, 2}
    first = masks[names[0]]
    for object_id, (x, y) in CENTRES.items():
        assert first[y, x] == object_id
    boxes = json.loads((out / "boxes.json").read_text())
    assert sorted(boxes["objects"]) == ["1", "2"] and list(boxes["objects"]["1"]["frames"]) == names
    for object_id in ("1", "2"):
        assert len(list((out / "objects" / object_id / "probs").glob("*.png"))) == len(names)
    assert (out / OUTPUT_MARKER).read_text().strip() == "scan"


@pytest.mark.slow
def test_two_boxes_give_ids_0_1_2_and_an_overlay(tmp_path, two_disks, tiny_checkpoint):
    out, overlay = tmp_path / "out", tmp_path / "overlay.mp4"
    code = segment(
        two_disks, "--box", "7,9,21,23", "--box", "43,25,57,39", "--out", out,
        "--checkpoint", tiny_checkpoint, "--settings", FAST, "--overlay", overlay,
    )  # fmt: skip
    assert code == 0
    check_two_objects(out, two_disks)
    capture = cv2.VideoCapture(str(overlay))
    decoded = []
    while (read := capture.read())[0]:
        decoded.append(read[1])
    capture.release()
    assert len(decoded) == 5 and decoded[0].shape == (48, 64, 3)  # a playable video, one frame per frame


@pytest.mark.slow
def test_a_mask_with_two_ids_gives_ids_0_1_2(tmp_path, two_disks, tiny_checkpoint):
    mask = np.zeros((48, 64), np.uint8)
    cv2.circle(mask, CENTRES[1], 7, 1, thickness=-1)
    cv2.circle(mask, CENTRES[2], 7, 2, thickness=-1)
    write_mask(tmp_path / "first.png", mask)
    out = tmp_path / "out"
    code = segment(two_disks, "--mask", tmp_path / "first.png", "--out", out, "--checkpoint", tiny_checkpoint,
                   "--settings", FAST)  # fmt: skip
    assert code == 0
    check_two_objects(out, two_disks)
    # fine-tuned on the mask itself: the object's checkpoint is gone, but its first search box is the mask's
    search = json.loads((out / "objects" / "2" / "boxes.json").read_text())["search"]["00000"]
    assert search[0] < CENTRES[2][0] - 7 and search[2] > CENTRES[2][0] + 7


def test_merge_gives_each_pixel_to_the_most_probable_object_above_the_threshold(tmp_path):
    a = np.array([[0.9, 0.6, 0.2, 0.0]], np.float32)
    b = np.array([[0.1, 0.7, 0.3, 0.0]], np.float32)
    np.testing.assert_array_equal(merge_probabilities([a, b], 0.5), [[1, 2, 0, 0]])
    np.testing.assert_array_equal(merge_probabilities([a, b], 0.25), [[1, 2, 2, 0]])
    # the same through scan folders on disk (probabilities quantised to 1/255, as the scans store them)
    folders = {}
    for object_id, prob in ((1, a), (2, b)):
        folder = tmp_path / str(object_id)
        (folder / "probs").mkdir(parents=True)
        cv2.imwrite(str(folder / "probs" / "f0.png"), probability_to_png(prob))
        (folder / "boxes.json").write_text(json.dumps({"frames": {"f0": [0, 0, 1, 0]}, "search": {}}))
        folders[object_id] = folder
    out = tmp_path / "merged"
    assert write_merged(folders, out, 0.5) == 1
    np.testing.assert_array_equal(read_mask(out / "masks" / "f0.png"), [[1, 2, 0, 0]])


def test_boxes_from_repeated_options_and_a_file(tmp_path):
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps({"3": [5, 5, 9, 9], "2": [0, 0, 3, 3]}))  # a mapping keeps its ids
    assert parse_object_prompts(["1,1,4,4"], str(path)) == [
        (1, (1, 1, 4, 4), 0),
        (3, (5, 5, 9, 9), 0),
        (2, (0, 0, 3, 3), 0),
    ]
    listed = tmp_path / "boxes.yaml"
    listed.write_text("- [0, 0, 3, 3]\n- [5, 5, 9, 9]\n")  # a YAML block list, numbered after the --box
    assert parse_object_prompts(["1,1,4,4"], str(listed)) == [
        (1, (1, 1, 4, 4), 0),
        (2, (0, 0, 3, 3), 0),
        (3, (5, 5, 9, 9), 0),
    ]
    assert parse_object_prompts(None, str(listed)) == [(1, (0, 0, 3, 3), 0), (2, (5, 5, 9, 9), 0)]
    path.write_text("[[0, 0, 3]]")
    with pytest.raises(ConfigError, match="box 1 must be a list of four integers"):
        parse_object_prompts(None, str(path))
    path.write_text("[[0, 0, 3, 3], [9, 9, 5, 5]]")
    with pytest.raises(ConfigError, match=r"--boxes .*boxes.json: box 2 \[9, 9, 5, 5\]"):
        parse_object_prompts(None, str(path))
    with pytest.raises(ConfigError, match="no such file"):
        parse_object_prompts(None, str(tmp_path / "none.json"))


def test_boxes_on_later_frames_from_options_and_a_file_keep_their_ids(tmp_path):
    """`--box K:...` and a file's [K, [x0, y0, x1, y1]] (the Python API's form) put a box on frame K; a
    mapping keeps its ids for them too."""
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps({"5": [25, [5, 5, 9, 9]], "7": [0, 0, 3, 3]}))
    assert parse_object_prompts(["3:1,1,4,4"], str(path)) == [
        (1, (1, 1, 4, 4), 3),
        (5, (5, 5, 9, 9), 25),
        (7, (0, 0, 3, 3), 0),
    ]
    for bad in ([-1, [5, 5, 9, 9]], [2, [5, 5, 9]], [2, 5, 9]):
        path.write_text(json.dumps({"5": bad}))
        with pytest.raises(ConfigError, match=r"object 5 must be a list of four integers .* \[K, \[x0"):
            parse_object_prompts(None, str(path))
    path.write_text(json.dumps({"5": [2, 5]}))
    with pytest.raises(ConfigError, match=r"got \[2, 5\]$"):  # the entry as written, not a part of it
        parse_object_prompts(None, str(path))


def test_mask_objects_ignore_void_and_refuse_an_antialiased_grey_mask(tmp_path):
    from PIL import Image

    from lsevos.errors import DataError
    from lsevos.video.objects import objects_of_mask

    ids = np.zeros((8, 8), np.uint8)
    ids[1:3, 1:3], ids[5:7, 5:7], ids[0, 7] = 1, 2, 255  # 255: void in DAVIS/VOC palettes
    write_mask(tmp_path / "ids.png", ids)
    assert [object_id for object_id, _ in objects_of_mask(tmp_path / "ids.png", (8, 8))] == [1, 2]
    grey = np.zeros((8, 8), np.uint8)
    grey[2:6, 2:6], grey[2, 2] = 255, 128  # an antialiased 0/255 drawing
    Image.fromarray(grey, mode="L").save(tmp_path / "grey.png")
    with pytest.raises(DataError, match=r"grey mask mixes 255 with 2 other values \(0, 128\)"):
        objects_of_mask(tmp_path / "grey.png", (8, 8))
    Image.fromarray(np.where(grey == 255, 2, np.where(grey == 128, 1, 0)).astype(np.uint8), mode="L").save(
        tmp_path / "levels.png"
    )  # grey levels 1 and 2: an antialiased edge or two objects? refused, an indexed PNG is asked for
    with pytest.raises(DataError, match="grey levels"):
        objects_of_mask(tmp_path / "levels.png", (8, 8))
    Image.fromarray(np.where(grey == 128, 255, grey), mode="L").save(tmp_path / "binary.png")
    assert len(objects_of_mask(tmp_path / "binary.png", (8, 8))) == 1


def _checkpoint(path, config):
    torch.manual_seed(0)
    save_checkpoint(path, LSENet("tiny", embed_dim=8), step=3, config=config)
    return path


def test_model_choice_order(tmp_path, monkeypatch):
    monkeypatch.delenv("LSEVOS_CHECKPOINT", raising=False)
    monkeypatch.setattr("lsevos.video.model_file.default_model_paths", lambda root: [root / "models/m.pt"])
    with pytest.raises(ConfigError, match="make model"):
        choose_checkpoint(None, tmp_path)
    old = _checkpoint(tmp_path / "results" / "demo" / "pretrain" / "stage3.pt", {"stage": "3"})
    new = tmp_path / "results-cpu" / "x" / "pretrain" / "stage3.pt"
    _checkpoint(new, {"stage": "3"})
    os.utime(old, (1000, 1000))
    assert choose_checkpoint(None, tmp_path) == (new, "the newest results*/**/pretrain/**/stage3.pt")
    shipped = _checkpoint(tmp_path / "models" / "m.pt", {"stage": "3"})
    assert choose_checkpoint(None, tmp_path) == (shipped, "the project's CPU model")
    monkeypatch.setenv("LSEVOS_CHECKPOINT", str(old))
    assert choose_checkpoint(None, tmp_path) == (old, "$LSEVOS_CHECKPOINT")
    assert choose_checkpoint(new, tmp_path) == (new, "--checkpoint")
    monkeypatch.setenv("LSEVOS_CHECKPOINT", str(tmp_path / "missing.pt"))
    with pytest.raises(ConfigError, match="LSEVOS_CHECKPOINT"):
        choose_checkpoint(None, tmp_path)


def test_a_model_of_the_builtin_benchmark_is_refused_unless_named(tmp_path, capsys, monkeypatch):
    benchmark = tmp_path / "results" / "demo" / "data" / "synthetic"
    (benchmark / "static").mkdir(parents=True)
    (benchmark / OUTPUT_MARKER).write_text("benchmark\n")
    real = tmp_path / "davis"
    real.mkdir()
    data = {"sources": [{"kind": "static", "root": str(benchmark / "static")}]}
    # an older checkpoint without the flag: worked out from its data folders
    demo = _checkpoint(tmp_path / "results" / "demo" / "pretrain" / "stage3.pt", {"stage": "3", "data": data})
    with pytest.raises(ConfigError, match="make model"):
        refuse_builtin_model(load_checkpoint(demo), demo, "the newest results*/**/pretrain/**/stage3.pt")
    refuse_builtin_model(load_checkpoint(demo), demo, "--checkpoint")  # named: allowed
    mixed = {
        "sources": [*data["sources"], {"kind": "copy_paste", "davis_root": str(real), "sequences": ["a"]}]
    }
    cpu = _checkpoint(tmp_path / "cpu.pt", {"stage": "3", "data": mixed})
    refuse_builtin_model(load_checkpoint(cpu), cpu, "$LSEVOS_CHECKPOINT")
    flagged = _checkpoint(tmp_path / "flagged.pt", {"stage": "3", "builtin_only": True})
    with pytest.raises(ConfigError, match="built-in synthetic benchmark"):
        refuse_builtin_model(load_checkpoint(flagged), flagged, "$LSEVOS_CHECKPOINT")
    # the command: after `make demo` only, segment refuses and says what to run; nothing is written
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LSEVOS_CHECKPOINT", raising=False)
    monkeypatch.setattr("lsevos.video.model_file.default_model_paths", lambda root: [])
    os.utime(cpu, (1000, 1000))
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "00000.png"), np.zeros((20, 20, 3), np.uint8))
    assert segment(frames, "--box", "2,2,9,9", "--out", tmp_path / "out") == 2
    error = capsys.readouterr().err
    assert "make model" in error and "stage3.pt" in error
    assert not (tmp_path / "out").exists()
    # the baseline needs no model: the one found is passed over (its settings are the demo's), not refused
    assert segment(frames, "--box", "2,2,9,9", "--prior-alone", "--out", tmp_path / "prior") == 0
    said = capsys.readouterr().err
    assert f"{demo} (the newest" in said and "knows only the built-in benchmark; not used" in said
    assert "segment: no model (none used: the prior alone on" in said
    assert (tmp_path / "prior" / "masks" / "00000.png").is_file()
    named = ["--prior-alone", "--checkpoint", str(demo), "--out", str(tmp_path / "named")]
    assert segment(frames, "--box", "2,2,9,9", *named) == 0  # named, it is used (its settings)
    assert f"segment: model {demo} (--checkpoint)" in capsys.readouterr().err


def test_package_model_stores_its_video_settings_and_card(tmp_path):
    stage3 = _checkpoint(tmp_path / "stage3.pt", {"stage": "3", "settings": {"crop": 41}})
    settings = {"crop_size": 57, "saliency_weight": 0.5, "device": "cpu"}
    out = package_model(
        stage3, settings, {"summary": "test model", "data": "x"}, tmp_path / "models" / "m.pt"
    )
    payload = load_checkpoint(out)
    assert payload["extra"]["video_settings"]["crop_size"] == 57
    defaults = pretraining_defaults(out, payload)
    assert defaults["crop_size"] == 57 and defaults["saliency_weight"] == 0.5 and defaults["threshold"] == 0.5
    assert defaults["device"] == "auto"  # where to compute is the user's machine's business
    card = (tmp_path / "models" / "m.md").read_text()
    assert "test model" in card and '"crop_size": 57' in card
    with pytest.raises(ConfigError, match="video setting 'crop': unknown key"):
        package_model(stage3, {"crop": 3}, {}, tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()

    # a model file whose stored settings this version refuses (written by another version: a pair the
    # settings now refuse) is named in the one-line error, with the fixes; settings that fix it are taken
    from lsevos.video.segmenter import Segmenter

    payload["extra"]["video_settings"].update(first_frame_span=0.9, first_frame_grabcut=0, saliency_weight=0)
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    with pytest.raises(
        ConfigError, match=r"old\.pt: this version refuses .*first_frame_span.*--settings"
    ) as error:
        Segmenter.load(old)
    assert "\n" not in str(error.value)
    assert Segmenter.load(old, settings={"first_frame_span": 0.0}).settings.first_frame_span == 0.0
    # settings given on top of valid stored ones that are refused: their own error, no model file blamed
    with pytest.raises(ConfigError, match="'redetect_appearance' acts only with") as error:
        Segmenter.load(out, settings={"redetect_appearance": True})
    assert "m.pt" not in str(error.value)


def test_the_merged_boxes_keep_each_objects_recovery(tmp_path):
    from lsevos.video.objects import write_merged
    from lsevos.video.scan_folder import write_scan
    from lsevos.video.tracker import FrameResult

    def scan(folder, recovery):
        mask = np.zeros((8, 8), dtype=np.uint8)
        mask[2:4, 2:4] = 1
        results = [
            FrameResult(f"{t:05d}", (0, 0, 7, 7), (2, 2, 3, 3), mask.astype(np.float32), mask, recovery[t])
            for t in range(2)
        ]
        write_scan(results, folder, {"mode": "zoom"})
        return folder

    dirs = {1: scan(tmp_path / "one", ["", "held"]), 2: scan(tmp_path / "two", ["", ""])}
    (tmp_path / "merged").mkdir()
    assert write_merged(dirs, tmp_path / "merged", 0.5) == 2
    objects = json.loads((tmp_path / "merged" / "boxes.json").read_text())["objects"]
    assert objects["1"]["recovery"] == {"00001": "held"}
    assert "recovery" not in objects["2"]


def test_package_model_refuses_a_bad_setting_a_bad_card_or_a_foreign_file_before_writing(
    tmp_path, tiny_checkpoint, capsys
):
    from lsevos.cli import main

    out = tmp_path / "models" / "m.pt"
    command = ["package-model", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]
    for settings, card, message in (
        ('{"no_such_setting": 1}', '{"summary": "s"}', "no_such_setting"),
        ('{"crop_size": 57}', "[1, 2]", "--card '[1, 2]': JSON, but a list, not an object"),
    ):
        assert main([*command, "--settings", settings, "--card", card]) == 2
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1, error
        assert not out.exists() and not out.with_suffix(".md").exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"someone's file")
    assert main([*command, "--settings", '{"crop_size": 57}', "--card", '{"summary": "s"}']) == 2
    assert "lsevos did not write" in capsys.readouterr().err
    assert out.read_bytes() == b"someone's file" and not out.with_suffix(".md").exists()
