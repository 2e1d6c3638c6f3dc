"""The object as connected regions (`lsevos.video.components`, `connected_object`): hand-made maps and a
tracked red disk beside a red bar."""

from __future__ import annotations

import numpy as np

from lsevos.labels import IGNORE
from lsevos.video.boxes import box_from_mask
from lsevos.video.components import inside_box, sharing_pixels
from lsevos.video.pseudo_labels import first_frame_labels
from lsevos.video.tracker import track
from tests.video.test_video_tracker import SETTINGS, SIZE, disk_frame, disk_mask, iou, red_oracle

# two components: A (rows 1-2, columns 0-1: 4 px) and B (rows 1-3, columns 5-7: 9 px)
TWO = np.zeros((6, 8), dtype=bool)
TWO[1:3, 0:2] = True
TWO[1:4, 5:8] = True


def test_inside_box_keeps_the_components_mostly_in_the_box():
    # box columns 0-5: A 4 of 4 px inside, B 3 of 9 (column 5) -> only A
    kept = inside_box(TWO, (0, 0, 5, 5))
    assert kept.sum() == 4 and kept[1:3, 0:2].all()
    # box columns 0-6: B has 6 of 9 inside (>= one half) -> both
    assert (inside_box(TWO, (0, 0, 6, 5)) == TWO).all()


def test_inside_box_leaves_the_map_alone_when_no_component_is_mostly_inside():
    assert (inside_box(TWO, (3, 0, 4, 5)) == TWO).all()
    empty = np.zeros_like(TWO)
    assert not inside_box(empty, (0, 0, 7, 5)).any()


def test_sharing_pixels_keeps_the_components_the_previous_mask_touches():
    previous = np.zeros_like(TWO)
    previous[3, 7] = True  # one pixel of B
    kept = sharing_pixels(TWO, previous)
    assert kept.sum() == 9 and kept[1:4, 5:8].all()
    previous[0, 0] = True  # no pixel of A (row 0): still only B
    assert sharing_pixels(TWO, previous).sum() == 9
    # nothing shared (the object moved by more than its size): the map as it is
    far = np.zeros_like(TWO)
    far[5, 3] = True
    assert (sharing_pixels(TWO, far) == TWO).all()
    assert not sharing_pixels(TWO, far, keep_if_none=False).any()  # or nothing, when asked


def test_first_frame_labels_ignore_the_part_of_another_object_the_box_cuts():
    prob = np.zeros((6, 8), dtype=np.float32)
    prob[TWO] = 0.9
    box = (0, 0, 5, 5)
    plain = first_frame_labels(prob, box, 0.6)
    assert (plain[1:4, 5] == 1).all()  # B's column in the box is foreground
    labels = first_frame_labels(prob, box, 0.6, connected=True)
    assert (labels[1:4, 5] == IGNORE).all()
    assert (labels[1:3, 0:2] == 1).all()
    assert (labels[:, 6:] == 0).all()  # outside the box: background either way
    assert (labels == plain).sum() == labels.size - 3


def bar_frames(first_bar: int, frames: int = 8):
    """A red disk (radius 6) resting at (30, 30), and from frame `first_bar` on a red bar (rows 27-33,
    columns 38 onward) one column away from it: the disk ends at column 36, so the two never touch."""
    for t in range(frames):
        frame = disk_frame(SIZE, (30, 30), 6)
        if t >= first_bar:
            frame[27:34, 38:] = (220, 20, 20)
        yield f"{t:05d}", frame


def test_the_tracker_keeps_the_object_and_drops_a_bar_that_enters_its_crop():
    target = disk_mask(SIZE, (30, 30), 6)
    first_box = box_from_mask(target)
    plain = list(track(bar_frames(2), red_oracle, first_box, SETTINGS))
    # without the rule the bar joins the mask, the box widens onto it, and the crop runs along it
    assert iou(plain[-1].mask, target) < 0.5
    connected = SETTINGS.model_copy(update={"connected_object": True})
    results = list(track(bar_frames(2), red_oracle, first_box, connected))
    for t, result in enumerate(results):
        assert iou(result.mask, target) == 1.0, t
        assert result.prob[27:34, 38:].max() == 0.0  # the dropped bar is background in the probability


def test_in_the_first_frame_a_component_mostly_outside_the_box_is_dropped():
    target = disk_mask(SIZE, (30, 30), 6)
    first_box = box_from_mask(target)
    connected = SETTINGS.model_copy(update={"connected_object": True})
    first = next(iter(track(bar_frames(0), red_oracle, first_box, connected)))
    plain = next(iter(track(bar_frames(0), red_oracle, first_box, SETTINGS)))
    assert plain.mask[27:34, 38:].any()  # the search crop (1.5x the box) reaches the bar
    assert iou(first.mask, target) == 1.0


def test_inside_box_keeps_the_component_holding_most_of_the_box():
    # a spill over the whole 10x10 map but for a 1-px ring around a 2x2 fragment (rows and columns 4-5);
    # box rows and columns 2-7 (36 px): the spill has 20 of its 84 px inside (under one half) and the
    # fragment 4 of 4, but the spill holds more of the box: both are kept, the map unchanged
    spill = np.ones((10, 10), dtype=bool)
    spill[3:7, 3:7] = False
    spill[4:6, 4:6] = True
    assert (inside_box(spill, (2, 2, 7, 7)) == spill).all()


def test_the_fine_tune_labels_the_first_frame_with_the_setting(monkeypatch):
    import torch

    from lsevos.model.lse_net import LSENet
    from lsevos.video import training
    from lsevos.video.settings import VideoSettings

    # the first-frame prediction: A (rows and columns 12-27) inside the box (10, 10, 29, 29), B (rows
    # 12-27, columns 29-45) one column away, with 16 of its 272 px in the box (column 29)
    prob = np.zeros((48, 64), dtype=np.float32)
    prob[12:28, 12:28] = 0.9
    prob[12:28, 29:46] = 0.9
    monkeypatch.setattr(training, "video_predictor", lambda *args: None)
    monkeypatch.setattr(training, "predict_in", lambda *args: prob)
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    box = (10, 10, 29, 29)
    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8)
    for connected, column in ((False, 1), (True, IGNORE)):
        settings = VideoSettings(crop_size=33, finetune_epochs=0, device="cpu", connected_object=connected)
        labels, _ = training.finetune_first_frame(model, frame, box, settings, "fp", zoom=True)
        assert (labels[12:28, 29] == column).all()
        assert (labels[12:28, 12:28] == 1).all()


def test_the_fine_tune_warns_when_the_rule_labels_almost_nothing_in_the_box(monkeypatch):
    """A first-frame prediction below the rule's 0.6 in the whole box: the labels are all background, and
    a warning says the object will likely be lost; a user's own labels get no warning."""
    import torch

    from lsevos.model.lse_net import LSENet
    from lsevos.video import training
    from lsevos.video.settings import VideoSettings

    prob = np.full((48, 64), 0.3, dtype=np.float32)
    monkeypatch.setattr(training, "video_predictor", lambda *args: None)
    monkeypatch.setattr(training, "predict_in", lambda *args: prob)
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    box = (10, 10, 29, 29)
    torch.manual_seed(0)
    settings = VideoSettings(crop_size=33, finetune_epochs=0, device="cpu")
    lines: list[str] = []
    labels, _ = training.finetune_first_frame(
        LSENet("tiny", embed_dim=8), frame, box, settings, "fp", True, lines.append
    )
    assert not (labels == 1).any()
    assert lines[0] == "fine-tune: 0.0% of the box labelled foreground"
    assert lines[1].startswith("fine-tune: warning: the first-frame rule found almost no object in the box")
    assert "[10, 10, 29, 29]" in lines[1]
    own = np.zeros((48, 64), dtype=np.uint8)
    own[20, 20] = 1  # one pixel of 400: 0.25% of the box, the user's choice
    lines.clear()
    training.finetune_first_frame(
        LSENet("tiny", embed_dim=8), frame, box, settings, "fp", True, lines.append, own
    )
    assert not any("warning" in line for line in lines)
