"""Bad input to the Python API (`lsevos.Segmenter`) gets one `ConfigError`/`DataError` naming the argument,
before the adaptation starts, as the command line does; `Segmentation.save` claims every output before it
writes one."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from lsevos import Segmenter
from lsevos.errors import ConfigError, DataError
from lsevos.video import segmenter as segmenter_module
from lsevos.video.frames import ArrayFrames
from lsevos.video.segmenter import box_prompts, clipped_prompts, mask_prompts

FAST = {"crop_size": 33, "finetune_epochs": 1, "retrain_epochs": 1, "batch": 2, "threshold": 0.02}
SIZE = (48, 64)
BOX = (7, 9, 21, 23)


def disk_frames(count: int = 3) -> list[np.ndarray]:
    """RGB frames (48x64) of a red disk moving right."""
    frames = []
    for index in range(count):
        frame = np.full((*SIZE, 3), 30, dtype=np.uint8)
        cv2.circle(frame, (14 + index, 16), 7, (220, 20, 20), thickness=-1)
        frames.append(frame)
    return frames


@pytest.fixture
def no_adaptation(monkeypatch):
    """Any start of the adaptation fails the test: a refusal must come before it."""

    def started(*args, **kwargs):
        raise AssertionError("the adaptation started before the input was refused")

    monkeypatch.setattr(segmenter_module, "two_scan", started)
    monkeypatch.setattr(segmenter_module, "finetune", started)


@pytest.fixture
def seg(tiny_checkpoint):
    return Segmenter.load(tiny_checkpoint, settings=FAST)


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        (BOX, r"is one box, not a collection of objects: write boxes=\{1: \(x0, y0, x1, y1\)\}"),
        ({1: ("7", "9", "21", "23")}, r"boxes\[1\]: a box is four numbers"),
        ({1: None}, r"boxes\[1\]: a box is \(x0, y0, x1, y1\) or \(frame, \(x0, y0, x1, y1\)\), got None"),
        ({1: (7, math.nan, 21, 23)}, r"boxes\[1\]: a box is four numbers"),
        ({1: (21, 23, 7, 9)}, r"boxes\[1\]: .* with x0 <= x1 and y0 <= y1"),
        ({1: (7, 9, 21)}, r"boxes\[1\]: a box is four numbers"),
        ({"a": BOX}, r"boxes: object id 'a' is not an integer"),
        ({255: BOX}, r"boxes: object id 255 must lie in 1\.\.254 \(0 is the background, 255 void"),
        ({0: BOX}, r"boxes: object id 0 must lie in 1\.\.254"),
        ({1: (-1, BOX)}, r"boxes\[1\]: the frame of \(frame, box\) is an index 0, 1, \.\.\., got -1"),
        ({1: (5, BOX)}, r"object 1: an object's box is on frame 5, but the video has frames 0\.\.2"),
        ({1: (100, 60, 120, 70)}, r"object 1: box \[100, 60, 120, 70\] lies outside the 64x48 image"),
        ({}, r"no objects given"),
        ({1: 5, 2: 6}, r"boxes\[1\]: a box is \(x0, y0, x1, y1\) or \(frame, \(x0, y0, x1, y1\)\), got 5"),
    ],
)
def test_a_bad_box_is_refused_naming_it_before_any_work(seg, no_adaptation, boxes, message):
    with pytest.raises(ConfigError, match=message):
        seg.segment(disk_frames(), boxes=boxes)


def test_a_malformed_box_is_refused_before_a_video_is_read(seg, monkeypatch):
    """What needs no frame (ids, box shapes, frame indices) is checked before a video is decoded or a
    generator consumed."""

    def read(*args, **kwargs):
        raise AssertionError("the frames were read before the boxes were checked")

    monkeypatch.setattr(segmenter_module, "open_frames", read)
    for boxes, message in (
        (BOX, r"boxes=\(7, 9, 21, 23\) is one box, not a collection of objects"),
        ({0: BOX}, "boxes: object id 0 must lie in 1..254"),
        ({1: (-1, BOX)}, r"boxes\[1\]: the frame of \(frame, box\) is an index 0, 1, ..., got -1"),
        ({1: (21, 23, 7, 9)}, r"boxes\[1\]: a box is four numbers .* got \(21, 23, 7, 9\)"),
    ):
        with pytest.raises(ConfigError, match=message):
            seg.segment("clip.mp4", boxes=boxes)


def test_boxes_are_clipped_and_numbers_and_ids_of_any_kind_taken():
    """numpy integers and floats are boxes too (floats cut to whole pixels), an id may be its JSON text;
    a box reaching past the frame is clipped to it, as `--box` is."""
    given = box_prompts({np.int64(3): (np.int32(-5), 9.7, 80, 23), "4": [1, 2, 3, 4]})
    prompts = clipped_prompts(given, ArrayFrames(disk_frames()))
    assert list(prompts) == [3, 4] and prompts[3].box == (0, 9, 63, 23) and prompts[4].box == (1, 2, 3, 4)
    assert list(box_prompts([BOX, (2, BOX)])) == [1, 2] and box_prompts([BOX, (2, BOX)])[2].frame == 2


def test_a_0_255_mask_is_one_object_and_a_png_path_is_read(tmp_path):
    """A DAVIS-style 0/255 mask (array or PNG file, as `--mask` takes it) is object 1; ids stay ids."""
    mask = np.zeros(SIZE, dtype=np.uint8)
    mask[9:24, 7:22] = 255
    prompts = mask_prompts(mask, SIZE)
    assert list(prompts) == [1] and prompts[1].box == BOX and int(prompts[1].labels.sum()) == 15 * 15
    Image.fromarray(mask).save(tmp_path / "first.png")
    from_file = mask_prompts(str(tmp_path / "first.png"), SIZE)
    assert list(from_file) == [1] and from_file[1].box == BOX
    ids = np.where(mask > 0, 7, 0).astype(np.uint8)
    ids[0, 0] = 255  # void, not an object
    assert list(mask_prompts(ids, SIZE)) == [7]
    assert int(mask_prompts({2: mask}, SIZE)[2].labels.max()) == 1  # labels are 0/1 whatever the values


@pytest.mark.parametrize(
    ("masks", "message"),
    [
        (np.zeros(SIZE, dtype=np.uint8), r"no objects given"),
        (
            np.zeros((10, 10), dtype=np.uint8) + 1,
            r"masks: object 1's mask is \(10, 10\), the frames are \(48, 64\)",
        ),
        (
            np.full(SIZE, 0.5),
            r"masks: a first-frame mask is a map of object ids, integers \[H, W\], got float64",
        ),
        ({1: np.zeros(SIZE, dtype=bool)}, r"masks: object 1's mask is empty"),
    ],
)
def test_a_bad_mask_is_refused_naming_it(masks, message):
    with pytest.raises(ConfigError, match=message):
        mask_prompts(masks, SIZE)


def test_a_missing_or_unreadable_mask_file_is_named_by_its_argument(tmp_path, tiny_checkpoint, capsys):
    """`masks=` in the API and `--mask` on the command line name themselves, not a dataset to re-create."""
    from lsevos.cli import main

    bad = tmp_path / "first.json"
    bad.write_text('{"not": "a mask"}')
    fix = r"give the first frame's mask as a PNG \(0/255 for one object, or ids 1\.\.K\)"
    with pytest.raises(DataError, match=rf"^masks= {tmp_path}/nope.png: no such file; {fix}$"):
        mask_prompts(str(tmp_path / "nope.png"), SIZE)
    with pytest.raises(DataError, match=rf"^masks= {bad}: not a readable image; {fix}$"):
        mask_prompts(str(bad), SIZE)
    with pytest.raises(DataError, match=rf"^masks= {tmp_path}: is a folder; {fix}$"):
        mask_prompts(str(tmp_path), SIZE)
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, frame in enumerate(disk_frames(2)):
        Image.fromarray(frame).save(frames / f"{index:05d}.png")
    argv = ["segment", str(frames), "--out", str(tmp_path / "out"), "--checkpoint", str(tiny_checkpoint)]
    assert main([*argv, "--mask", str(bad)]) == 2
    assert f"--mask {bad}: not a readable image" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_checkpoint_is_named_as_the_argument_of_load(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=rf"^Segmenter.load: checkpoint {tmp_path}/nope.pt does not exist"):
        Segmenter.load(tmp_path / "nope.pt")
    monkeypatch.chdir(tmp_path)  # no model built or found here, none named
    monkeypatch.delenv("LSEVOS_CHECKPOINT", raising=False)
    with pytest.raises(ConfigError, match=r"^no model: .*, or pass the model: Segmenter.load\("):
        Segmenter.load()


def test_a_bad_frame_in_a_folder_is_refused_before_the_adaptation(seg, no_adaptation, tmp_path):
    """As `lsevos segment` does: every frame of a folder is read before the fine-tune (a cut-short JPEG
    in the middle, a frame of another size)."""
    cut, mixed = tmp_path / "cut", tmp_path / "mixed"
    for folder in (cut, mixed):
        folder.mkdir()
        for index, frame in enumerate(disk_frames()):
            cv2.imwrite(str(folder / f"{index:05d}.jpg"), frame)
    whole = (cut / "00001.jpg").read_bytes()
    (cut / "00001.jpg").write_bytes(whole[: len(whole) // 3])
    cv2.imwrite(str(mixed / "00002.jpg"), np.zeros((40, 64, 3), np.uint8))
    with pytest.raises(DataError, match=r"00001\.jpg"):
        seg.segment(cut, boxes={1: BOX})
    with pytest.raises(DataError, match=r"00002\.jpg: frame size \(40, 64\) differs"):
        seg.segment(mixed, boxes={1: BOX})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            np.zeros((40, 64, 3), np.uint8),
            r"frame 2: size \(40, 64\) differs from the first frame's \(48, 64\)",
        ),
        (
            np.zeros((*SIZE, 4), np.uint8),
            r"frame 2: a frame must be an RGB array uint8 \[H, W, 3\], got uint8",
        ),
        (np.zeros((*SIZE, 3), np.float32), r"frame 2: .* got float32"),
    ],
)
def test_a_list_with_one_bad_frame_is_refused_before_the_adaptation(seg, no_adaptation, bad, message):
    frames = disk_frames()
    frames[2] = bad
    with pytest.raises(DataError, match=message):
        seg.segment(frames, boxes={1: BOX})


def test_one_frame_given_as_the_frames_is_named_as_such(seg, no_adaptation):
    with pytest.raises(DataError, match=r"one array uint8 \(48, 64, 3\) is one frame; give a list of frames"):
        seg.segment(disk_frames()[0], boxes={1: BOX})


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_that_is_not_there_is_refused_before_a_frame_is_read(seg, no_adaptation, monkeypatch):
    def read(*args, **kwargs):
        raise AssertionError("frames were read before the model was built")

    monkeypatch.setattr(segmenter_module, "open_frames", read)
    with pytest.raises(ConfigError, match="cuda"):
        seg.segment("video.mp4", boxes={1: BOX}, settings={"device": "cuda"})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((40, 64, 3), np.uint8), r"frame 2: size \(40, 64\) differs"),
        (np.zeros((*SIZE, 4), np.uint8), r"frame 2: a frame must be an RGB array uint8"),
        (np.zeros((*SIZE, 3), np.float64), r"frame 2: .* got float64"),
    ],
)
def test_stream_refuses_a_bad_frame_where_it_comes(seg, bad, message):
    """A live source is checked frame by frame: the frames before the bad one are yielded."""
    frames = [*disk_frames(2), bad]
    results = []
    with pytest.raises(DataError, match=message):
        for result in seg.stream(iter(frames), BOX):
            results.append(result.index)
    assert results == [0, 1]


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ({1: BOX}, r"stream: box: a box is four numbers"),
        (("7", "9", "21", "23"), r"stream: box: a box is four numbers"),
        ((100, 60, 120, 70), r"stream: box \[100, 60, 120, 70\] lies outside the 64x48 image"),
        (None, r"stream: box: a box is four numbers .* got None"),
        (5, r"stream: box: a box is four numbers .* got 5"),
    ],
)
def test_stream_refuses_a_bad_box_before_the_fine_tune(seg, no_adaptation, box, message):
    with pytest.raises(ConfigError, match=message):
        next(seg.stream(iter(disk_frames()), box))


def test_a_small_box_is_warned_about(tiny_checkpoint):
    said = []
    seg = Segmenter.load(tiny_checkpoint, settings=FAST, progress=said.append)
    seg.segment(disk_frames(2), boxes={1: (14, 16, 15, 17)}, static=True)
    assert any(
        "segment: warning: object 1: the first box 14,16,15,17 is only 2x2 pixels" in line for line in said
    )


@pytest.mark.slow
def test_save_claims_every_output_before_writing_one(seg, tmp_path):
    """A user's own file as the overlay, a non-mp4 overlay name, a user's folder as the cut-outs, an overlay
    or cut-outs in `out`: refused with nothing written (the user's file intact, no `out`); a closed result
    is refused by name."""
    result = seg.segment(disk_frames(), boxes={1: BOX}, static=True)
    holiday = tmp_path / "holiday.mp4"
    holiday.write_bytes(b"the user's video")
    user_folder = tmp_path / "photos"
    user_folder.mkdir()
    (user_folder / "cat.jpg").write_bytes(b"a photo")
    for kwargs, message in (
        ({"overlay": holiday}, "holiday.mp4"),
        ({"overlay": tmp_path / "x.avi"}, r"overlay .*x\.avi: the overlay is written as an mp4 video"),
        ({"alpha": user_folder}, "photos"),
        ({"overlay": tmp_path / "out" / "o.mp4"}, r"overlay .*o\.mp4: is the out folder or inside it"),
        ({"alpha": tmp_path / "out"}, r"alpha .*out: is the out folder or inside it"),
        ({"alpha": tmp_path / "out" / "cut"}, r"alpha .*cut: is the out folder or inside it"),
        ({"alpha": tmp_path}, r"alpha .*: holds the out folder"),
    ):
        with pytest.raises((ConfigError, DataError), match=message):
            result.save(tmp_path / "out", **kwargs)
        assert not (tmp_path / "out").exists()
    assert holiday.read_bytes() == b"the user's video" and not (tmp_path / "x.avi").exists()
    assert sorted(p.name for p in user_folder.iterdir()) == ["cat.jpg"]
    assert not list(tmp_path.glob(".*.lock"))  # a refused save holds nothing
    result.save(tmp_path / "out", overlay=tmp_path / "overlay.mp4")
    assert len(list((tmp_path / "out" / "masks").glob("*.png"))) == 3
    assert (tmp_path / "overlay.mp4").stat().st_size > 0
    # nothing stays locked once save returns (a lock's file goes with it): another process may write there
    assert not list(tmp_path.glob(".*.lock"))
    result.close()
    with pytest.raises(ConfigError, match="this Segmentation is closed"):
        list(result)


@pytest.mark.slow
def test_a_save_stopped_between_its_outputs_leaves_none_of_an_earlier_save(seg, tmp_path, monkeypatch):
    """A second save into the same outputs, stopped after `out` (while the overlay is written): `out` is
    the new result and neither the earlier overlay nor the earlier cut-outs stay beside it; a save that
    completes writes all three again."""
    from lsevos.video import overlay as overlay_module

    out, overlay, alpha = tmp_path / "out", tmp_path / "overlay.mp4", tmp_path / "cutout"
    first = seg.segment(disk_frames(), boxes={1: BOX}, static=True)
    first.save(out, overlay=overlay, alpha=alpha)
    assert overlay.is_file() and len(list(alpha.glob("*.png"))) == 3
    second = seg.segment(disk_frames()[::-1], boxes={1: (8, 9, 22, 23)}, static=True)

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(overlay_module, "write_overlay", stopped)
    with pytest.raises(KeyboardInterrupt):
        second.save(out, overlay=overlay, alpha=alpha)
    masks = [np.asarray(Image.open(path)) for path in sorted((out / "masks").glob("*.png"))]
    assert len(masks) == 3
    assert all(np.array_equal(mask, frame.masks[1]) for mask, frame in zip(masks, second, strict=True))
    assert not overlay.exists() and not alpha.exists()  # not the first save's, not half of the second's
    monkeypatch.undo()
    second.save(out, overlay=overlay, alpha=alpha)
    assert overlay.is_file() and len(list(alpha.glob("*.png"))) == 3


def test_several_objects_are_counted_by_position_in_the_progress(tiny_checkpoint):
    lines: list[str] = []
    seg = Segmenter.load(tiny_checkpoint, settings=FAST, progress=lines.append)
    seg.segment(disk_frames(2), boxes={5: BOX, 7: (30, 9, 44, 23)}, static=True).close()
    starts = [line for line in lines if line.startswith("segment: object")]
    assert starts == [
        "segment: object 5 (1 of 2), first box [7, 9, 21, 23]",
        "segment: object 7 (2 of 2), first box [30, 9, 44, 23]",
    ]
