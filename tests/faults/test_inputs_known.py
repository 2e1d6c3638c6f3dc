"""Inputs the commands already handle, each fed to the real command: a broken or odd file is refused with one
line naming it (or handled as docs/design.md says), no traceback, nothing written that a rerun would trust."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import cv2
import numpy as np
import pytest


def entries(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def truncate(path, keep: float = 0.6) -> None:
    """Cut an image file to `keep` of its bytes (its header stays readable)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


class TestBrokenImages:
    def test_segment_refuses_a_truncated_jpeg_frame(self, tools, frames, tiny_checkpoint, tmp_path):
        bad = frames / "00002.jpg"
        cv2.imwrite(str(bad), cv2.imread(str(frames / "00002.png")))
        (frames / "00002.png").unlink()
        truncate(bad)
        line = tools.refused(tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", "--static"))
        assert str(bad) in line and "truncated" in line
        assert entries(tmp_path) == ["frames"]  # no output, no work folder

    def test_evaluate_refuses_a_truncated_png_ground_truth(self, tools, davis_root, tmp_path):
        bad = davis_root / "Annotations" / "480p" / "disk" / "00001.png"
        truncate(bad, 0.5)
        before = tools.snapshot(davis_root)
        line = tools.refused(tools.evaluate_argv(davis_root, tmp_path / "seq.csv"))
        assert str(bad) in line and "truncated" in line
        assert entries(tmp_path) == ["davis"] and tools.snapshot(davis_root) == before

    def test_scan_refuses_a_truncated_png_first_mask(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        mask = tmp_path / "first.png"
        cv2.imwrite(str(mask), tools.disk_frames(tmp_path / "unused", ["00000"])[0] * 255)
        truncate(mask, 0.5)
        out = tmp_path / "scan"
        line = tools.refused(tools.scan_argv(frames, tiny_checkpoint, out, "--first-mask", mask, box=None))
        assert str(mask) in line and "truncated" in line
        assert not out.exists()


class TestFrameSources:
    def test_segment_refuses_frames_of_mixed_sizes(self, tools, frames, tiny_checkpoint, tmp_path):
        """Found when the frame is read (after the first-frame fine-tune): one line, nothing written."""
        odd = frames / "00002.png"
        cv2.imwrite(str(odd), cv2.resize(cv2.imread(str(odd)), (32, 24)))
        line = tools.refused(tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", "--static"))
        assert str(odd) in line and "(24, 32)" in line and "(48, 64)" in line
        assert entries(tmp_path) == ["frames"]

    def test_segment_refuses_an_empty_frames_folder(self, tools, tiny_checkpoint, tmp_path, no_computation):
        empty = tmp_path / "frames"
        empty.mkdir()
        line = tools.refused(tools.segment_argv(empty, tiny_checkpoint, tmp_path / "proj"))
        assert str(empty) in line and "no jpg/png frames" in line
        assert entries(tmp_path) == ["frames"] and entries(empty) == []

    def test_segment_refuses_random_bytes_named_video_mp4(
        self, tools, tiny_checkpoint, tmp_path, no_computation
    ):
        video = tmp_path / "video.mp4"
        video.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        before = video.read_bytes()
        line = tools.refused(tools.segment_argv(video, tiny_checkpoint, tmp_path / "proj"))
        assert str(video) in line and "cannot open this video" in line
        assert entries(tmp_path) == ["video.mp4"] and video.read_bytes() == before

    def test_ffmpegs_own_complaint_is_not_printed_beside_the_error(self, tools, tiny_checkpoint, tmp_path):
        """FFmpeg (inside OpenCV) prints "moov atom not found" for a file that is no mp4; the command's
        stderr is its one error line."""
        video = tmp_path / "video.mp4"
        video.write_text("not a video\n")
        line, stderr = tools.refused_process(tools.segment_argv(video, tiny_checkpoint, tmp_path / "proj"))
        assert "cannot open this video" in line and "moov" not in stderr
        assert len(stderr.strip().splitlines()) == 1, stderr


class TestMaskFormats:
    """The rule (lsevos.data.io.read_mask): a mask is an 8-bit indexed or grey PNG; RGB and 16-bit masks
    are refused with their file and image mode named, never guessed into ids."""

    @staticmethod
    def odd_mask(path, kind: str):
        mask = np.zeros((48, 64), dtype=np.uint8)
        mask[16:32, 8:24] = 1
        image = np.dstack([mask * 255] * 3) if kind == "rgb" else mask.astype(np.uint16) * 65535
        cv2.imwrite(str(path), image)
        return path

    @pytest.mark.parametrize("kind", ["rgb", "16-bit"])
    def test_scan_refuses_such_a_first_mask(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation, kind
    ):
        mask = self.odd_mask(tmp_path / "first.png", kind)
        out = tmp_path / "scan"
        line = tools.refused(tools.scan_argv(frames, tiny_checkpoint, out, "--first-mask", mask, box=None))
        assert str(mask) in line and "image mode" in line and "8-bit" in line
        assert not out.exists()

    @pytest.mark.parametrize("kind", ["rgb", "16-bit"])
    def test_evaluate_refuses_such_a_ground_truth(self, tools, davis_root, tmp_path, kind):
        truth = self.odd_mask(davis_root / "Annotations" / "480p" / "disk" / "00002.png", kind)
        line = tools.refused(tools.evaluate_argv(davis_root, tmp_path / "seq.csv"))
        assert str(truth) in line and "image mode" in line
        assert entries(tmp_path) == ["davis"]


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Point `$LSEVOS_DOWNLOAD_REGISTRY` at a file; call the fixture with the davis2016 entry to write."""
    path = tmp_path / "registry.json"
    monkeypatch.setenv("LSEVOS_DOWNLOAD_REGISTRY", str(path))
    return lambda **entry: path.write_text(json.dumps({"davis2016": entry}))


def files_under(folder) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


class TestDownloads:
    def test_no_network_names_the_archive_and_where_to_place_it(self, tools, tmp_path, registry):
        with socket.socket() as closed:  # a port nothing listens on once this socket is closed
            closed.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{closed.getsockname()[1]}/DAVIS-data.zip"
        registry(url=url)
        resources = tmp_path / "res"
        line = tools.refused(["download", "davis2016", "--resources", resources])
        archive = resources / "archives" / "DAVIS-data.zip"
        assert f"cannot reach {url}" in line and f"put it at {archive}" in line
        assert files_under(resources) == [] and not (resources / "davis2016").exists()

    def test_md5_mismatch_deletes_the_file_and_names_it(self, tools, tmp_path, registry, served):
        folder, base = served
        (folder / "DAVIS-data.zip").write_bytes(b"not the archive the registry pins" * 100)
        registry(url=f"{base}/DAVIS-data.zip", md5="0" * 32)
        resources = tmp_path / "res"
        line = tools.refused(["download", "davis2016", "--resources", resources])
        part = resources / "archives" / "DAVIS-data.zip.part"
        assert str(part) in line and "checksum mismatch" in line and "deleted" in line
        assert files_under(resources) == [] and not (resources / "davis2016").exists()


class TestKilled:
    @pytest.mark.slow
    def test_sigkill_during_segment_then_the_same_command_again(
        self, tools, frames, tiny_checkpoint, tmp_path
    ):
        settings = tools.fast.replace('"retrain_epochs": 1', '"retrain_epochs": 40')
        argv = [
            str(arg)
            for arg in tools.segment_argv(frames, tiny_checkpoint, tmp_path / "proj", settings=settings)
        ]
        process = subprocess.Popen(
            [str(tools.lsevos), *argv],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        for line in process.stderr:
            if line.startswith("retrain: "):  # its first progress line: scan 1 and its labels are written
                break
        process.send_signal(signal.SIGKILL)
        process.stderr.close()
        assert process.wait(timeout=60) == -signal.SIGKILL
        names = entries(tmp_path)
        assert "proj" not in names  # nothing a rerun (or a workflow) would take for a finished output
        assert [name for name in names if name.startswith(".proj.")], names  # the killed run's work folder
        result = tools.run_process(argv, timeout=300)
        assert result.returncode == 0, result.stderr
        assert entries(tmp_path) == ["frames", "proj"]  # the rerun removed the killed run's temporaries
        assert entries(tmp_path / "proj" / "masks") == [f"{index:05d}.png" for index in range(4)]
