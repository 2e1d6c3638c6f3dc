"""Frames are read as a person sees them, or refused before any long work: 16-bit frames converted
exactly to 8 bits, EXIF orientation applied, a video cut short warned about, two frames of one name
refused, every frame checked before the fine-tune."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from lsevos.data.io import FrameSource, image_size, read_frame, sixteen_to_eight_bits
from lsevos.video.boxes import enlarge_box
from lsevos.video.settings import VideoSettings

ROTATED = 6  # EXIF orientation: the stored picture is shown turned 90 degrees clockwise


def save_with_orientation(path, stored: np.ndarray, orientation: int) -> None:
    """A lossless PNG of `stored` (RGB) whose EXIF says how a viewer turns it."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, exif=exif)


class TestSixteenBits:
    def test_sixteen_bit_grey_frames_read_exactly_as_eight_bits(self, tmp_path):
        eight = (np.arange(48 * 64).reshape(48, 64) % 256).astype(np.uint8)
        path = tmp_path / "00000.png"
        cv2.imwrite(str(path), eight.astype(np.uint16) * 257)  # the same picture at 16 bits
        assert Image.open(path).mode == "I;16"
        assert np.array_equal(read_frame(path), np.repeat(eight[:, :, None], 3, axis=2))

    def test_sixteen_bit_rgb_rounds_to_the_nearest_level(self, tmp_path):
        path = tmp_path / "00000.png"
        bgr = np.zeros((2, 3, 3), dtype=np.uint16)
        bgr[..., 0], bgr[..., 1], bgr[..., 2] = 1000, 65535, 51600  # blue, green, red
        cv2.imwrite(str(path), bgr)
        # round(51600 / 257) = 201, round(65535 / 257) = 255, round(1000 / 257) = 4 (PIL's truncation: 3)
        assert read_frame(path)[0, 0].tolist() == [201, 255, 4]
        assert sixteen_to_eight_bits(np.array([0, 128, 129, 385, 65535])).tolist() == [0, 0, 1, 1, 255]

    def test_a_sixteen_bit_frame_folder_reads_as_the_eight_bit_one(self, tools, tmp_path):
        eight, sixteen = tmp_path / "eight", tmp_path / "sixteen"
        tools.disk_frames(eight, ["00000", "00001"])
        sixteen.mkdir()
        for path in sorted(eight.iterdir()):
            cv2.imwrite(str(sixteen / path.name), cv2.imread(str(path)).astype(np.uint16) * 257)
        read = [frame for _, frame in FrameSource(sixteen)]
        assert all(np.array_equal(a, b) for a, (_, b) in zip(read, FrameSource(eight), strict=True))


class TestOrientation:
    def test_a_frame_is_turned_as_its_exif_orientation_says(self, tmp_path):
        stored = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        path = tmp_path / "00000.png"
        save_with_orientation(path, stored, ROTATED)
        shown = np.rot90(stored, k=-1)  # 90 degrees clockwise: 64 rows, 48 columns
        assert np.array_equal(read_frame(path), shown)
        assert image_size(path) == (64, 48)

    def test_segment_boxes_and_masks_are_in_the_displayed_orientation(self, tools, tiny_checkpoint, tmp_path):
        upright = tmp_path / "upright"
        tools.disk_frames(upright, ["00000", "00001"])
        frames = tmp_path / "frames"
        frames.mkdir()
        for path in sorted(upright.iterdir()):  # store each frame turned back, as a phone does
            shown = cv2.imread(str(path))[:, :, ::-1]
            save_with_orientation(frames / path.name, np.ascontiguousarray(np.rot90(shown, k=1)), ROTATED)
        out = tmp_path / "proj"
        argv = tools.segment_argv(frames, tiny_checkpoint, out, "--static")
        box = (50, 16, 60, 32)  # x0 = 50 exists only in the displayed frame (stored 48 wide)
        argv[argv.index("--box") + 1] = ",".join(map(str, box))
        code, err = tools.run(argv)
        assert code == 0, err
        masks = sorted((out / "masks").iterdir())
        assert [Image.open(path).size for path in masks] == [(64, 48), (64, 48)]  # W x H as displayed
        searched = json.loads((out / "boxes.json").read_text())["search"]["00000"]
        assert searched == list(enlarge_box(box, VideoSettings().enlarge, (48, 64)))


class TestVideoCutShort:
    def test_a_video_declaring_more_frames_than_it_yields_gets_a_warning_with_both_counts(
        self, tools, tiny_checkpoint, tmp_path
    ):
        whole = tmp_path / "whole.avi"
        writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
        for index in range(30):
            frame = np.full((48, 64, 3), 30, dtype=np.uint8)
            writer.write(cv2.circle(frame, (16 + index, 24), 8, (20, 20, 220), thickness=-1))
        writer.release()
        cut = tmp_path / "cut.avi"
        data = whole.read_bytes()
        cut.write_bytes(data[: len(data) // 2])
        source = FrameSource(cut)
        decoded = len(source)
        assert source.declared == 30 and 0 < decoded < 30
        out = tmp_path / "proj"
        code, err = tools.run(tools.segment_argv(cut, tiny_checkpoint, out, "--static"))
        assert code == 0, err
        warnings = [line for line in err.splitlines() if "warning" in line and str(cut) in line]
        assert len(warnings) == 1 and "30 frames" in warnings[0] and f"only {decoded}" in warnings[0]
        assert len(list((out / "masks").iterdir())) == decoded


class TestFrameFolders:
    def test_two_frames_with_one_name_are_refused_naming_both(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        cv2.imwrite(str(frames / "00002.jpg"), cv2.imread(str(frames / "00002.png")))
        before = tools.snapshot(frames)
        line = tools.refused(tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", "--static"))
        assert "00002.jpg" in line and "00002.png" in line and str(frames) in line
        assert tools.snapshot(frames) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]

    @pytest.mark.parametrize("command", ["segment", "finetune"])
    def test_a_broken_later_frame_is_found_before_the_fine_tune(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation, command
    ):
        broken = frames / "00003.png"
        broken.write_bytes(broken.read_bytes()[:200])  # cut short
        if command == "segment":
            argv = tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", "--static")
        else:
            argv = ["finetune", *tools.scan_argv(frames, tiny_checkpoint, tmp_path / "ft.pt")[1:]]
        line = tools.refused(argv)
        assert str(broken) in line and ("truncated" in line or "unreadable" in line)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]

    def test_a_later_frame_of_another_size_is_found_before_the_fine_tune(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        odd = frames / "00002.png"
        cv2.imwrite(str(odd), np.zeros((40, 64, 3), dtype=np.uint8))
        line = tools.refused(tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", "--static"))
        assert str(odd) in line and "(40, 64)" in line
        assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]

    def test_an_unknown_family_is_refused_before_the_video_is_decoded(
        self, tools, tiny_checkpoint, tmp_path, no_computation, monkeypatch
    ):
        import lsevos.data.io as io

        monkeypatch.setattr(io, "FrameSource", lambda *a: pytest.fail("the video was opened"))
        video = tmp_path / "clip.mp4"
        video.write_bytes(b"not decoded")
        argv = tools.segment_argv(video, tiny_checkpoint, tmp_path / "proj", "--family", "fplsee")
        line = tools.refused(argv)
        assert "fplsee" in line and "ours" in line


class TestExtractedFrames:
    def test_a_video_is_decoded_into_numbered_jpegs_of_its_frames(self, tmp_path):
        from lsevos.data.io import write_video
        from lsevos.video.frames import extract_frames

        frames = [np.full((32, 48, 3), 40 * i, dtype=np.uint8) for i in range(1, 4)]
        write_video(tmp_path / "clip.mp4", frames, 5.0)
        said: list[str] = []
        source = extract_frames(tmp_path / "clip.mp4", tmp_path / "frames", said.append)
        # a line per tenth of the 3 frames the header declares (1/3, 2/3) with rate and ETA, then the count
        assert [line.split(",")[0] for line in said[:2]] == [
            "decode clip.mp4: 1/3 (33%)",
            "decode clip.mp4: 2/3 (67%)",
        ]
        assert all(" ETA " in line for line in said[:2]) and len(said) == 3
        assert re.fullmatch(r"decode clip\.mp4: 3 frames in \d+:\d\d \([\d.]+ frame/s\)", said[2])
        assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [
            "00000.jpg",
            "00001.jpg",
            "00002.jpg",
        ]
        for (name, frame), expected in zip(source, frames, strict=True):
            assert abs(float(frame.mean()) - float(expected.mean())) < 6, name  # through mp4 and JPEG

    def test_a_video_without_a_declared_count_reports_the_count_every_50_frames(self, tmp_path, monkeypatch):
        from lsevos.data.io import write_video
        from lsevos.video import frames as frames_module
        from lsevos.video.frames import extract_frames

        write_video(tmp_path / "clip.mp4", [np.zeros((16, 16, 3), dtype=np.uint8)] * 120, 25.0)

        class Undeclared(FrameSource):  # as a container whose header gives no frame count
            def __init__(self, path):
                super().__init__(path)
                self.declared = 0

        monkeypatch.setattr(frames_module, "FrameSource", Undeclared)
        said: list[str] = []
        extract_frames(tmp_path / "clip.mp4", tmp_path / "frames", said.append)
        assert said == [f"decode clip.mp4: {n} frames (the file declares no frame count)" for n in (50, 100)]
        assert len(list((tmp_path / "frames").iterdir())) == 120

    def test_a_frame_opencv_cannot_write_is_an_error_naming_it(self, tmp_path, monkeypatch):
        from lsevos.data.io import write_video
        from lsevos.errors import DataError
        from lsevos.video.frames import extract_frames

        write_video(tmp_path / "clip.mp4", [np.zeros((32, 48, 3), dtype=np.uint8)] * 2, 5.0)
        monkeypatch.setattr(cv2, "imwrite", lambda *args, **kwargs: False)  # as on a failing disk
        with pytest.raises(DataError, match=r"frames/00000\.jpg: OpenCV could not write this JPEG"):
            extract_frames(tmp_path / "clip.mp4", tmp_path / "frames")
