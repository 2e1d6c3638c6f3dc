"""The Python API (`lsevos.Segmenter`): in-memory frames give the CLI's masks, a generator needs no
folder, the checkpoint is read once per run, and an object boxed on a later frame is tracked both ways."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from lsevos import Segmenter, cli
from lsevos.data.io import read_mask
from lsevos.video import adaptation
from lsevos.video.adaptation import Adaptation, Prompt, scan
from lsevos.video.boxes import box_from_mask
from lsevos.video.frames import ArrayFrames, StoredFrames
from lsevos.video.settings import VideoSettings

# a low threshold: the random tiny network's probability is above it inside each object's search box
FAST = {"crop_size": 33, "finetune_epochs": 1, "retrain_epochs": 1, "batch": 2, "threshold": 0.02}
BOXES = {1: (7, 9, 21, 23), 2: (43, 25, 57, 39)}


@pytest.fixture(autouse=True)
def video_commands_only(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("lsevos.video.commands",))


def two_disk_frames(count: int = 5) -> list[np.ndarray]:
    """RGB frames (48x64): a red disk top left moving right, a blue one bottom right."""
    frames = []
    for index in range(count):
        frame = np.full((48, 64, 3), 30, dtype=np.uint8)
        cv2.circle(frame, (14 + index, 16), 7, (220, 20, 20), thickness=-1)
        cv2.circle(frame, (50, 32), 7, (20, 20, 220), thickness=-1)
        frames.append(frame)
    return frames


def write_frames(folder, frames):
    folder.mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def cli_masks(tmp_path, folder, checkpoint, boxes, *extra) -> dict[str, np.ndarray]:
    out = tmp_path / "cli"
    argv = ["segment", str(folder), "--out", str(out), "--checkpoint", str(checkpoint)]
    for box in boxes:
        argv += ["--box", ",".join(map(str, box))]
    assert cli.main([*argv, "--settings", json.dumps(FAST), *map(str, extra)]) == 0
    return {path.stem: read_mask(path) for path in sorted((out / "masks").glob("*.png"))}


@pytest.mark.slow
def test_in_memory_frames_give_the_clis_masks(tmp_path, tiny_checkpoint):
    frames = two_disk_frames()
    expected = cli_masks(tmp_path, write_frames(tmp_path / "frames", frames), tiny_checkpoint, BOXES.values())
    segmenter = Segmenter.load(tiny_checkpoint, settings=FAST)
    with segmenter.segment(frames, boxes=BOXES) as result:
        seen = list(result)
        assert [frame.name for frame in seen] == sorted(expected) and result.object_ids == [1, 2]
        for frame in seen:
            assert frame.masks.keys() == {1, 2} and frame.boxes.keys() == {1, 2}
            np.testing.assert_array_equal(frame.ids, expected[frame.name])
        saved = result.save(tmp_path / "api", alpha=tmp_path / "alpha")
    for name, mask in expected.items():
        np.testing.assert_array_equal(read_mask(saved / "masks" / f"{name}.png"), mask)
    assert (saved / "boxes.json").read_text() == (tmp_path / "cli" / "boxes.json").read_text()
    for object_id in (1, 2):  # each object's own scan folder, byte for byte the CLI's
        for path in sorted((tmp_path / "cli" / "objects" / str(object_id) / "probs").glob("*.png")):
            assert (
                saved / "objects" / str(object_id) / "probs" / path.name
            ).read_bytes() == path.read_bytes()
    cutout = cv2.imread(str(tmp_path / "alpha" / "00002.png"), cv2.IMREAD_UNCHANGED)
    assert cutout.shape == (48, 64, 4)
    np.testing.assert_array_equal(cutout[..., 3] > 0, expected["00002"] > 0)
    one = cv2.imread(str(tmp_path / "alpha" / "2" / "00002.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(one[..., 3] > 0, expected["00002"] == 2)


@pytest.mark.slow
def test_a_generator_source_needs_no_folder_and_matches_a_list(tmp_path, tiny_checkpoint, monkeypatch):
    frames = two_disk_frames()
    segmenter = Segmenter.load(tiny_checkpoint, settings=FAST)
    listed = [frame.ids for frame in segmenter.segment(frames, boxes={1: BOXES[1]}, static=True)]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = segmenter.segment((frame for frame in frames), boxes={1: BOXES[1]}, static=True, scratch=scratch)
    assert isinstance(result.frames, StoredFrames)
    assert [path.name for path in scratch.iterdir() if path.suffix == ".png"] == []  # no frame files
    for frame, ids in zip(result, listed, strict=True):
        np.testing.assert_array_equal(frame.ids, ids)
    streamed = list(segmenter.stream(iter(frames), BOXES[1]))  # one pass, nothing stored
    assert [frame.index for frame in streamed] == list(range(5))
    for frame, ids in zip(streamed, listed, strict=True):
        np.testing.assert_array_equal(frame.ids, ids)


def counting_loads(monkeypatch) -> list:
    reads = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    return reads


@pytest.mark.slow
def test_the_checkpoint_is_read_once_per_run(tmp_path, tiny_checkpoint, disk_video, monkeypatch):
    folder = write_frames(tmp_path / "two", two_disk_frames())
    reads = counting_loads(monkeypatch)
    cli_masks(tmp_path, folder, tiny_checkpoint, BOXES.values())  # two objects, two scans each
    assert reads == [tiny_checkpoint]
    reads.clear()
    Segmenter.load(tiny_checkpoint, settings=FAST).segment(two_disk_frames(), boxes=BOXES)
    assert reads == [tiny_checkpoint]
    reads.clear()
    frames, masks = disk_video
    chain = tmp_path / "chain"
    box = ",".join(map(str, box_from_mask(masks[0])))
    argv = ["adapt", "--frames", frames, "--box", box, "--checkpoint", tiny_checkpoint, "--family", "ours"]
    argv += ["--settings", json.dumps(FAST), "--resume-dir", chain / ".resume"]
    for option, name in (
        ("finetune", "ft.pt"),
        ("scan1", "s1"),
        ("labels", "l"),
        ("retrain", "rt.pt"),
        ("scan2", "s2"),
    ):
        argv += [f"--{option}-out", chain / name]
    assert cli.main([str(value) for value in argv]) == 0
    assert reads == [tiny_checkpoint]  # the chain: the pretrained checkpoint once, nothing read back


def disk_frame(centre, size=(60, 90), radius=7) -> np.ndarray:
    frame = np.full((*size, 3), 30, dtype=np.uint8)
    if centre is not None:
        cv2.circle(frame, centre, radius, (220, 20, 20), thickness=-1)
    return frame


def red_oracle(crop: np.ndarray) -> np.ndarray:
    """A perfect predictor of the red-disk video: probability 1 on red pixels, 0 elsewhere."""
    return ((crop[..., 0] > 120) & (crop[..., 1] < 100)).astype(np.float32)


def test_an_object_boxed_on_a_later_frame_is_tracked_forward_and_backward(tmp_path, monkeypatch):
    """A disk that enters at frame 2 and moves right, boxed on frame 4: frames 2..7 are found from frame 4
    on both ways, frames 0 and 1 (before it appears) stay empty."""
    centres = [None, None, *((20 + 3 * t, 30) for t in range(6))]
    frames = ArrayFrames([disk_frame(centre) for centre in centres])
    truth = [red_oracle(frames.read(index)) > 0 for index in range(len(frames))]
    monkeypatch.setattr(adaptation, "make_predictor", lambda *a: red_oracle)
    job = Adaptation("ours", VideoSettings(crop_size=32, enlarge=1.5))
    found = scan(torch.nn.Identity(), frames, Prompt(box_from_mask(truth[4]), 4), job, tmp_path / "scan")
    masks = [found.masks.read(index) > 0 for index in range(len(frames))]
    assert not masks[0].any() and not masks[1].any()
    for index in range(2, len(frames)):
        iou = (
            np.logical_and(masks[index], truth[index]).sum() / np.logical_or(masks[index], truth[index]).sum()
        )
        assert iou > 0.9, (index, iou)
    assert found.search[frames.names[4]] is not None and found.object_boxes["00000"] is None


@pytest.mark.slow
def test_segment_takes_a_box_on_a_later_frame(tmp_path, tiny_checkpoint, capsys):
    from lsevos.video.boxes import enlarge_box

    folder = write_frames(tmp_path / "frames", two_disk_frames())
    out = tmp_path / "out"
    argv = ["segment", folder, "--box", "3:10,9,24,23", "--out", out, "--checkpoint", tiny_checkpoint]
    assert cli.main([*map(str, argv), "--settings", json.dumps(FAST), "--static"]) == 0
    boxes = json.loads((out / "boxes.json").read_text())
    assert list(boxes["frames"]) == [f"{index:05d}" for index in range(5)]
    assert tuple(boxes["search"]["00003"]) == enlarge_box((10, 9, 24, 23), VideoSettings().enlarge, (48, 64))
    assert all(boxes["frames"][name] is not None for name in boxes["frames"])  # both ways from frame 3
    for bad, message in (("7:10,9,24,23", "frames 0..4"), ("x:10,9,24,23", "frame index")):
        assert cli.main([*map(str, argv[:3]), bad, *map(str, argv[4:])]) != 0
        assert message in capsys.readouterr().err
    listed = tmp_path / "boxes.json"  # the same box with id 5 from a file, and one past the last frame
    listed.write_text(json.dumps({"5": [3, [10, 9, 24, 23]]}))
    argv = ["segment", folder, "--boxes", listed, "--out", tmp_path / "file", "--checkpoint", tiny_checkpoint]
    assert cli.main([*map(str, argv), "--settings", json.dumps(FAST), "--static"]) == 0
    merged = json.loads((tmp_path / "file" / "boxes.json").read_text())["objects"]["5"]
    assert merged["search"]["00003"] == boxes["search"]["00003"]
    listed.write_text(json.dumps({"5": [7, [10, 9, 24, 23]]}))
    assert cli.main([*map(str, argv), "--settings", json.dumps(FAST), "--static"]) != 0
    assert (
        "the box of object 5 is on frame 7 (--box 7:... or [7, box] in --boxes): the video has frames 0..4"
        in (capsys.readouterr().err)
    )


def test_without_boxes_and_without_a_display_segment_refuses_with_the_usual_message(
    tmp_path, tiny_checkpoint, capsys, monkeypatch
):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    folder = write_frames(tmp_path / "frames", two_disk_frames(2))
    argv = ["segment", folder, "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint]
    assert cli.main(list(map(str, argv))) != 0
    error = capsys.readouterr().err
    assert "--box x0,y0,x1,y1" in error and "no display" in error
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_drawn_boxes_are_segmented_and_printed_in_the_box_form(
    tmp_path, tiny_checkpoint, capsys, monkeypatch
):
    """The window is OpenCV's (`selectROIs`); here it answers what a user dragging two boxes gives it."""
    import lsevos.video.draw_boxes as draw

    monkeypatch.setattr(draw, "gui_unavailable", lambda: None)
    monkeypatch.setattr(cv2, "selectROIs", lambda *a, **k: np.array([[7, 9, 15, 15], [43, 25, 15, 15]]))
    monkeypatch.setattr(cv2, "destroyWindow", lambda *a: None)
    folder = write_frames(tmp_path / "frames", two_disk_frames(3))
    argv = ["segment", folder, "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint, "--static"]
    assert cli.main([*map(str, argv), "--settings", json.dumps(FAST)]) == 0
    assert "--box 7,9,21,23 --box 43,25,57,39" in capsys.readouterr().err
    assert sorted(json.loads((tmp_path / "out" / "boxes.json").read_text())["objects"]) == ["1", "2"]


def test_alpha_equal_to_out_is_refused_before_any_work(tmp_path, tiny_checkpoint, capsys):
    folder = write_frames(tmp_path / "frames", two_disk_frames(2))
    out = tmp_path / "out"
    argv = [
        "segment",
        folder,
        "--box",
        "7,9,21,23",
        "--out",
        out,
        "--alpha",
        out,
        "--checkpoint",
        tiny_checkpoint,
    ]
    assert cli.main(list(map(str, argv))) != 0
    assert "--alpha" in capsys.readouterr().err and not out.exists()


def test_the_prior_alone_through_the_api_never_trains_nor_runs_the_network(
    tmp_path, tiny_checkpoint, monkeypatch
):
    """`segment(..., settings=PRIOR_ALONE)`, two scans asked, and `stream`: one scan of the prior, no
    fine-tune or retraining, no copy of the model made and the network never called (each raises); each
    disk is found by the prior, and the stream's masks are the segmentation's."""
    from lsevos.model.lse_net import LSENet
    from lsevos.video import training
    from lsevos.video.variants import PRIOR_ALONE

    def refuse(*args, **kwargs):
        raise AssertionError("the network ran")

    monkeypatch.setattr(LSENet, "forward", refuse)
    monkeypatch.setattr(training, "train_on_crops", refuse)
    monkeypatch.setattr(adaptation, "retrain", refuse)
    said = []
    segmenter = Segmenter.load(tiny_checkpoint, settings={**FAST, "threshold": 0.5}, progress=said.append)
    monkeypatch.setattr(Segmenter, "model", refuse)
    frames = two_disk_frames()
    result = segmenter.segment(frames, boxes=BOXES, settings=PRIOR_ALONE)
    assert "the prior alone segments every crop: one scan, no fine-tune, no retraining" in said
    streamed = list(segmenter.with_settings(PRIOR_ALONE).stream(iter(frames), BOXES[1]))
    assert [item.masks[1].tolist() for item in streamed] == [item.masks[1].tolist() for item in result]
    for frame in result:
        for object_id, (x0, y0, x1, y1) in BOXES.items():
            truth = np.zeros((48, 64), bool)
            truth[y0 : y1 + 1, x0 + frame.index : x1 + 1 + frame.index] = True  # the disk's box, moved
            found = frame.masks[object_id]
            assert (found & truth).sum() / found.sum() > 0.8 and found.sum() > 0.4 * truth.sum()


def test_the_prior_alone_without_the_prior_installed_stops_before_reading_a_frame(
    tiny_checkpoint, monkeypatch
):
    """A model without the prior (weight 0) asked for PRIOR_ALONE: one line naming the fix, and the
    frame generator is never touched."""
    from lsevos.errors import ConfigError
    from lsevos.video.variants import PRIOR_ALONE

    monkeypatch.setenv("LSEVOS_U2NETP", "/nonexistent/u2netp.onnx")
    segmenter = Segmenter.load(tiny_checkpoint, settings={**FAST, "saliency_weight": 0.0})

    def frames():
        raise AssertionError("a frame was read")
        yield

    with pytest.raises(ConfigError, match="LSEVOS_U2NETP=/nonexistent/u2netp.onnx: no such file"):
        segmenter.segment(frames(), boxes={1: BOXES[1]}, settings=PRIOR_ALONE)


def test_the_prior_alone_needs_no_model(tiny_checkpoint, monkeypatch):
    """`Segmenter.prior_alone` (no checkpoint): PRIOR_ALONE over `settings` over config/cpu.yaml's video
    settings (outside a checkout, over the settings' defaults; or over the `defaults` given), the masks of
    a model run with those settings; it has no model to copy, and a Segmenter without a model is refused
    for settings that run the network."""
    import yaml

    from lsevos.errors import ConfigError
    from lsevos.video import model_file
    from lsevos.video.variants import PRIOR_ALONE

    cpu_video = yaml.safe_load((model_file.checkout() / model_file.CPU_CONFIG).read_text())["video"]
    assert Segmenter.prior_alone().settings == VideoSettings.from_dict({**cpu_video, **PRIOR_ALONE})
    settings = {**FAST, "threshold": 0.5}
    frames = two_disk_frames()
    alone = Segmenter.prior_alone(settings).segment(frames, boxes=BOXES)
    loaded = Segmenter.load(tiny_checkpoint, settings={**cpu_video, **settings})
    theirs = loaded.segment(frames, boxes=BOXES, settings=PRIOR_ALONE)
    assert len(alone) == len(theirs) == len(frames)
    for mine, other in zip(alone, theirs, strict=True):
        assert mine.masks.keys() == other.masks.keys() == BOXES.keys()
        for object_id in BOXES:
            assert mine.masks[object_id].any()
            assert np.array_equal(mine.masks[object_id], other.masks[object_id])
    with pytest.raises(ConfigError, match="no model"):
        Segmenter.prior_alone(settings).model()
    with pytest.raises(ConfigError, match="these video settings run the network .*, so a model is needed"):
        Segmenter(None, None, VideoSettings.from_dict(settings))
    monkeypatch.setattr(model_file, "checkout", lambda: None)
    assert Segmenter.prior_alone().settings == VideoSettings.from_dict(dict(PRIOR_ALONE))
    assert "the paper's tracker" in model_file.modelless_defaults()[1]
    given = Segmenter.prior_alone({"threshold": 0.4}, defaults={"crop_size": 97, "threshold": 0.6})
    assert (given.settings.crop_size, given.settings.threshold) == (97, 0.4)  # settings over defaults


@pytest.mark.slow
def test_a_segment_run_stopped_after_its_masks_leaves_none_of_an_earlier_run(
    tmp_path, tiny_checkpoint, monkeypatch
):
    """`lsevos segment` into the outputs of an earlier run, stopped while the overlay is written: the new
    masks and neither the earlier overlay nor the earlier cut-outs."""
    from lsevos.video import overlay as overlay_module

    folder = write_frames(tmp_path / "frames", two_disk_frames(3))
    out, overlay, alpha = tmp_path / "out", tmp_path / "ov.mp4", tmp_path / "cut"
    argv = ["segment", folder, "--out", out, "--overlay", overlay, "--alpha", alpha, "--checkpoint",
            tiny_checkpoint, "--settings", json.dumps(FAST), "--static"]  # fmt: skip
    assert cli.main([*map(str, argv), "--box", "7,9,21,23"]) == 0
    assert overlay.is_file() and len(list(alpha.glob("*.png"))) == 3
    first = (out / "boxes.json").read_text()

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(overlay_module, "write_overlay", stopped)
    assert cli.main([*map(str, argv), "--box", "43,25,57,39"]) != 0
    assert (out / "boxes.json").read_text() != first  # the new run's masks and boxes
    assert not overlay.exists() and not alpha.exists()
