"""Messages a new user meets: negative box corners, a folder given as --checkpoint, a YAML syntax error,
an anti-aliased mask; each one short line that names the file or option and the fix."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lsevos.cli import join_negative_values


class TestNegativeBoxCorners:
    def test_are_passed_to_the_box_option_not_taken_for_options(self):
        argv = ["segment", "clip.mp4", "--box", "-5,18,30,40", "--box=-1,0,3,3", "--seed", "-2", "--box",
                "-1:5,6,7,8"]  # fmt: skip
        assert join_negative_values(argv) == [
            "segment", "clip.mp4", "--box=-5,18,30,40", "--box=-1,0,3,3", "--seed=-2", "--box=-1:5,6,7,8",
        ]  # fmt: skip

    def test_a_negative_frame_index_gets_the_frame_index_message(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        argv = tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj")
        argv[argv.index("--box") + 1] = "-1:5,6,7,8"
        code, err = tools.run(argv)
        assert code == 2 and "expected one argument" not in err
        assert "the part before ':' must be a frame index (0 = first frame)" in tools.error_line(
            err, "segment"
        )

    def test_a_box_partly_left_of_the_frame_is_clipped(
        self, tools, frames, tiny_checkpoint, tmp_path, monkeypatch
    ):
        import lsevos.video.segmenter as segmenter

        seen = []
        real = segmenter.two_scan

        def recording(model, frames, prompt, *args, **kwargs):
            seen.append(prompt.box)
            return real(model, frames, prompt, *args, **kwargs)

        monkeypatch.setattr(segmenter, "two_scan", recording)
        argv = tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", "--static")
        argv[argv.index("--box") + 1] = "-5,16,24,32"
        code, err = tools.run(argv)
        assert code == 0 and "expected one argument" not in err
        assert seen == [(0, 16, 24, 32)]

    def test_a_box_wholly_outside_is_refused_with_the_box_message(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        argv = tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", "--static")
        argv[argv.index("--box") + 1] = "-30,-20,-5,-1"
        line = tools.refused(argv)
        assert "[-30, -20, -5, -1] lies outside the 64x48 image" in line
        assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


class TestCheckpointFolder:
    @pytest.mark.parametrize("command", ["segment", "scan"])
    def test_a_folder_is_named_as_a_folder(
        self, tools, frames, tiny_checkpoint, tmp_path, monkeypatch, command
    ):
        import lsevos.video.adaptation as adaptation

        monkeypatch.setattr(adaptation, "track", lambda *a, **k: pytest.fail("a frame was segmented"))
        folder = tiny_checkpoint.parent
        argv = (tools.segment_argv if command == "segment" else tools.scan_argv)(
            frames, folder, tmp_path / "o"
        )
        line = tools.refused(argv)
        assert str(folder) in line and "is a folder, not a checkpoint file" in line
        assert "tiny.pt" in line and "does not exist" not in line
        assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


class TestYamlSyntax:
    def test_a_settings_file_with_a_syntax_error_names_file_line_and_column(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        settings = tmp_path / "video.yaml"
        settings.write_text("crop_size: 33\nfinetune_epochs: [1\nbatch: 2\n")
        line = tools.refused(
            tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", settings=str(settings))
        )
        assert f"{settings}, line 3, column" in line and "not valid YAML" in line
        assert len(line) < 300 and "<unicode string>" not in line

    def test_a_json_boxes_file_with_a_syntax_error_names_file_and_line(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        boxes = tmp_path / "boxes.json"
        boxes.write_text('{\n  "1": [8, 16, 24, 32],\n  "2": [34, 16, 50 32]\n}\n')
        argv = tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", "--boxes", boxes)
        line = tools.refused(argv)
        assert f"--boxes {boxes}, line 3, column" in line and "not valid JSON" in line


class TestAntialiasedMask:
    def test_the_message_gives_a_count_and_a_few_levels(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        mask = np.zeros((48, 64), dtype=np.uint8)
        cv2.circle(mask, (16, 24), 8, 255, thickness=-1, lineType=cv2.LINE_AA)
        ramp = np.linspace(1, 254, 200).astype(np.uint8)  # smoothing with many grey levels
        mask[0, :64], mask[1, :64], mask[2, :64] = ramp[:64], ramp[64:128], ramp[128:192]
        path = tmp_path / "first.png"
        cv2.imwrite(str(path), mask)
        levels = len(np.unique(mask)) - 1  # all but 255 (0 included)
        line = tools.refused(
            [
                "scan",
                *tools.scan_argv(frames, tiny_checkpoint, tmp_path / "s", "--first-mask", path, box=None)[1:],
            ]
        )
        assert str(path) in line and f"255 with {levels} other values" in line and "anti-aliased" in line
        assert len(line) < 400
