"""Inputs: bad inputs are refused (or warned about) with one line naming the file or option."""

from __future__ import annotations

import csv
import signal

import cv2
import numpy as np
import pytest


class TestFirstMask:
    @pytest.mark.parametrize("command", ["scan", "finetune"])
    def test_mask_of_another_resolution_is_refused(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation, command
    ):
        mask = np.zeros((24, 32), dtype=np.uint8)
        mask[5:15, 5:15] = 255
        path = tmp_path / "first.png"
        cv2.imwrite(str(path), mask)
        out = tmp_path / ("scan" if command == "scan" else "ft.pt")
        scan = tools.scan_argv(frames, tiny_checkpoint, out, "--first-mask", path, box=None)
        line = tools.refused([command, *scan[1:]])  # finetune takes scan's options here
        assert str(path) in line and "32x24" in line and "64x48" in line
        assert not out.exists()


class TestFrameNames:
    @pytest.mark.slow
    def test_segment_warns_about_a_gap_in_the_frame_names(self, tools, tiny_checkpoint, tmp_path):
        frames = tmp_path / "frames"
        tools.disk_frames(frames, ["00000", "00001", "00003"])
        out = tmp_path / "proj"
        code, err = tools.run(tools.segment_argv(frames, tiny_checkpoint, out, "--static"))
        assert code == 0, err
        warnings = [line for line in err.splitlines() if "warning" in line and "00001" in line]
        assert len(warnings) == 1 and "00003" in warnings[0] and str(frames) in warnings[0]
        assert sorted(p.name for p in (out / "masks").iterdir()) == ["00000.png", "00001.png", "00003.png"]

    def test_evaluate_keys_the_per_frame_csv_by_frame_name(self, tools, tmp_path):
        root = tmp_path / "davis"
        names = ["00000", "00001", "00003", "00004"]
        masks = tools.disk_frames(root / "JPEGImages" / "480p" / "gap", names)
        annotations = root / "Annotations" / "480p" / "gap"
        annotations.mkdir(parents=True)
        for name, mask in zip(names, masks, strict=True):
            cv2.imwrite(str(annotations / f"{name}.png"), mask * 255)
        per_frame = tmp_path / "frames.csv"
        code, err = tools.run(
            [
                "evaluate",
                "--gt",
                root,
                "--pred",
                root / "Annotations" / "480p",
                "--out",
                tmp_path / "seq.csv",
                "--per-frame",
                per_frame,
                "--jobs",
                "1",
            ]
        )
        assert code == 0, err
        with open(per_frame, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [row["frame"] for row in rows] == ["00001", "00003"]
        merged = tmp_path / "merged.csv"
        code, err = tools.run(
            [
                "merge-metrics",
                "--out",
                tmp_path / "all.csv",
                "--per-frame-out",
                merged,
                "--per-frame-in",
                per_frame,
                "--",
                tmp_path / "seq.csv",
            ]
        )
        assert code == 0, err
        assert merged.read_text() == per_frame.read_text()


class TestGrabcutSettings:
    @pytest.mark.parametrize(("option", "value"), [("--margin", "-50"), ("--iterations", "0")])
    def test_negative_margin_and_zero_iterations_are_refused(
        self, tools, davis_root, tmp_path, no_computation, option, value
    ):
        out = tmp_path / "gc"
        line = tools.refused(tools.grabcut_argv(davis_root, out, option, value))
        assert f"{option} {value}" in line
        assert not out.exists()


class TestBoxAndOverlay:
    def test_a_box_too_small_to_label_anything_gets_a_warning(self, tools, frames, tiny_checkpoint, tmp_path):
        out = tmp_path / "scan"
        code, err = tools.run(tools.scan_argv(frames, tiny_checkpoint, out, box="10,10,10,10"))
        assert code == 0, err
        warnings = [line for line in err.splitlines() if "warning" in line]
        assert len(warnings) == 1 and "10,10,10,10" in warnings[0] and "1x1" in warnings[0]
        code, err = tools.run(tools.scan_argv(frames, tiny_checkpoint, out))
        assert code == 0 and "warning" not in err
        argv = tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", "--static")
        argv[argv.index("--box") + 1] = "10,10,10,10"
        code, err = tools.run(argv)
        warnings = [line for line in err.splitlines() if "warning" in line]
        assert code == 0 and len(warnings) == 1 and "1x1" in warnings[0], err  # said once, by the API

    def test_overlay_without_mp4_is_refused_before_the_scan(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        overlay = ["--overlay", tmp_path / "overlay"]
        line = tools.refused(
            tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", *overlay, settings=None)
        )
        assert "--overlay" in line and ".mp4" in line
        assert not (tmp_path / "proj").exists()

    def test_overlay_or_cutouts_inside_out_are_refused_by_their_option(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        out = tmp_path / "proj" / "scan"
        inside = "is the --out folder or inside it"
        for option, path, says in (
            ("--overlay", out / "o.mp4", inside),
            ("--alpha", out, inside),
            ("--alpha", out / "cut", inside),
            ("--alpha", out.parent, "holds the --out folder"),
        ):
            line = tools.refused(
                tools.segment_argv(frames, tiny_checkpoint, out, option, path, settings=None)
            )
            assert line.startswith(f"lsevos segment: error: {option} {path}: {says}"), line
            assert not out.exists()

    def test_overlay_onto_the_input_video_is_refused(self, tools, tiny_checkpoint, tmp_path, no_computation):
        from lsevos.data.io import write_video

        video = tmp_path / "clip.mp4"
        write_video(video, [np.zeros((48, 64, 3), dtype=np.uint8)] * 3, 5.0)
        before = video.read_bytes()
        argv = tools.segment_argv(
            video, tiny_checkpoint, tmp_path / "proj", "--overlay", video, settings=None
        )
        assert "--overlay" in tools.refused(argv)
        assert video.read_bytes() == before


class TestInterrupt:
    def test_keyboard_interrupt_exits_130_with_one_line(
        self, tools, frames, tiny_checkpoint, tmp_path, monkeypatch
    ):
        import lsevos.video.segmenter as pipeline

        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(pipeline, "two_scan", interrupted)
        try:
            code, err = tools.run(tools.segment_argv(frames, tiny_checkpoint, tmp_path / "p"))
        except KeyboardInterrupt:
            pytest.fail("KeyboardInterrupt escaped lsevos.cli.main (a traceback for the user)")
        assert code == 130  # 128 + SIGINT
        assert err.strip().splitlines()[-1].startswith("lsevos segment: interrupted")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # no output, no work folder

    @pytest.mark.slow
    def test_ctrl_c_of_a_running_segment(self, tools, frames, tiny_checkpoint, tmp_path):
        process, seen = tools.fine_tuning_segment(frames, tiny_checkpoint, tmp_path / "proj")
        process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        code = process.wait(timeout=60)
        stderr = "".join(seen) + rest
        assert code == 130, stderr
        assert "Traceback" not in stderr
        assert stderr.strip().splitlines()[-1].startswith("lsevos segment: interrupted")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
