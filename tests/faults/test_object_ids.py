"""Object ids are the user's: `--boxes` keeps the ids it is given (mask values, object folders, overlay
labels); an id given twice is refused before any work."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from lsevos.data.io import read_mask
from lsevos.video.overlay import LABEL_FONT, LABEL_SCALE, label_origin, object_colour, overlay_frame

SECOND = "34,16,50,32"  # a box right of the disk of the first frame (tools' BOX is 8,16,24,32)


def segment_boxes(tools, frames, tiny_checkpoint, out, boxes_file, *extra):
    argv = tools.segment_argv(frames, tiny_checkpoint, out, "--static", "--boxes", boxes_file, *extra)
    position = argv.index("--box")
    return [*argv[:position], *argv[position + 2 :]]  # --boxes only


class TestBoxesKeepTheirIds:
    @pytest.mark.slow
    def test_mask_values_and_object_folders_are_the_ids_given(self, tools, frames, tiny_checkpoint, tmp_path):
        boxes = tmp_path / "boxes.json"
        boxes.write_text(json.dumps({"5": [8, 16, 24, 32], "2": [34, 16, 50, 32]}))
        out = tmp_path / "proj"
        code, err = tools.run(segment_boxes(tools, frames, tiny_checkpoint, out, boxes))
        assert code == 0, err
        assert sorted(p.name for p in (out / "objects").iterdir()) == ["2", "5"]
        assert sorted(json.loads((out / "boxes.json").read_text())["objects"]) == ["2", "5"]
        values = set()
        for path in (out / "masks").iterdir():
            values |= set(np.unique(read_mask(path)).tolist())
        assert values == {0, 2, 5}  # both objects segmented, each under its own id

    def test_one_object_of_another_id_keeps_it(self, tools, frames, tiny_checkpoint, tmp_path):
        boxes = tmp_path / "boxes.yaml"
        boxes.write_text("7: [8, 16, 24, 32]\n")
        out = tmp_path / "proj"
        code, err = tools.run(segment_boxes(tools, frames, tiny_checkpoint, out, boxes))
        assert code == 0, err
        assert [p.name for p in (out / "objects").iterdir()] == ["7"]
        assert set(np.unique(read_mask(out / "masks" / "00000.png")).tolist()) == {0, 7}

    def test_the_overlay_labels_each_box_with_its_id_in_its_colour(self):
        frame = np.zeros((48, 64, 3), dtype=np.uint8)
        mask = np.zeros((48, 64), dtype=np.uint8)
        mask[30:40, 40:50] = 5
        box = (8, 8, 40, 40)
        drawn = overlay_frame(frame, mask, {5: box, 2: None})
        assert drawn[35, 45].tolist() == [v // 2 for v in object_colour(5)]  # mask tinted half-way
        blank = np.zeros((48, 64), np.uint8)
        label = cv2.putText(blank, "5", label_origin(box), LABEL_FONT, LABEL_SCALE, 255, 1, cv2.LINE_8)
        strong = label > 200  # the glyph's core (OpenCV may smooth its edges)
        assert strong.sum() > 5
        colour = np.array(object_colour(5))
        assert (drawn[strong] <= colour).all() and (drawn[strong] >= 0.75 * colour).all()


class TestDuplicateIds:
    @pytest.mark.parametrize(
        ("name", "text"),
        [
            ("boxes.json", '{"3": [8, 16, 24, 32], "3": [34, 16, 50, 32]}'),
            ("boxes.yaml", "3: [8, 16, 24, 32]\n3: [34, 16, 50, 32]\n"),
        ],
    )
    def test_an_id_given_twice_in_the_file_is_refused(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation, name, text
    ):
        boxes = tmp_path / name
        boxes.write_text(text)
        line = tools.refused(segment_boxes(tools, frames, tiny_checkpoint, tmp_path / "proj", boxes))
        assert str(boxes) in line and "key" in line and "3" in line and "given twice" in line
        assert sorted(p.name for p in tmp_path.iterdir()) == ["boxes" + boxes.suffix, "frames"]

    def test_a_file_id_that_a_box_option_already_has_is_refused(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        boxes = tmp_path / "boxes.json"
        boxes.write_text(json.dumps({"1": [34, 16, 50, 32]}))
        argv = tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", "--static", "--boxes", boxes)
        line = tools.refused(argv)
        assert "object id 1 is given twice" in line and "--box number 1" in line

    @pytest.mark.parametrize("key", ["0", "255", "x"])
    def test_an_id_outside_1_to_254_is_refused(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation, key
    ):
        boxes = tmp_path / "boxes.json"
        boxes.write_text(json.dumps({key: [8, 16, 24, 32]}))
        line = tools.refused(segment_boxes(tools, frames, tiny_checkpoint, tmp_path / "proj", boxes))
        assert str(boxes) in line
        assert ("'x' is not an integer" if key == "x" else f"id {key} must lie in 1..254") in line

    def test_the_help_says_the_ids_are_kept(self, capsys):
        from lsevos import cli

        with pytest.raises(SystemExit):
            cli.main(["segment", "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "its ids (1..254) are kept as the mask values" in text and "id given twice is refused" in text
