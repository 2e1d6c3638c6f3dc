"""Faults are one clear line and a non-zero exit, with nothing half-written: a full disk, a failed video
writer, a checkpoint with non-finite weights, checksums written in upper case (or not hex), SIGTERM."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shlex
import signal
import subprocess
import zipfile

import numpy as np
import pytest
import torch

from lsevos.data.io import DiskFullError, _check_written_video, atomic_output, write_video
from lsevos.errors import DataError


def _can_mount_a_small_disk() -> bool:
    try:
        probe = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs none /mnt"]
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


SMALL_DISK = pytest.mark.skipif(
    not _can_mount_a_small_disk(),
    reason="needs `unshare --user --mount` (unprivileged user namespaces) to mount a small tmpfs",
)


def on_a_small_disk(tools, mount, size: str, argv: list) -> tuple[int, str, list[str]]:
    """Run `lsevos ARGV` with a `size` tmpfs mounted at `mount` (a private mount namespace): (exit code,
    stderr, what is left on that disk before it goes away)."""
    command = " ".join(shlex.quote(str(arg)) for arg in [tools.lsevos, *argv])
    script = f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(mount))} && {command}; code=$?; "
    script += f"ls -A {shlex.quote(str(mount))}; exit $code"
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return result.returncode, result.stderr, result.stdout.split()


class TestFullDisk:
    @pytest.mark.slow
    @SMALL_DISK
    def test_out_on_a_full_disk_is_one_line_and_leaves_nothing(
        self, tools, frames, tiny_checkpoint, tmp_path
    ):
        disk = tmp_path / "disk"
        disk.mkdir()
        before = tools.snapshot(frames)
        code, err, left = on_a_small_disk(
            tools, disk, "40k", tools.segment_argv(frames, tiny_checkpoint, disk / "proj", "--static")
        )
        assert code == 2, err
        line = tools.error_line(err, "segment")
        assert f"{disk / 'proj'}: the disk ran out of space" in line  # the output, not its scratch file
        assert left == []  # no output, no scratch folder, no lock
        assert tools.snapshot(frames) == before

    @pytest.mark.slow
    @SMALL_DISK
    def test_an_overlay_on_a_full_disk_is_refused_not_written_broken(
        self, tools, frames, tiny_checkpoint, tmp_path
    ):
        disk = tmp_path / "disk"
        disk.mkdir()
        overlay = disk / "overlay.mp4"
        argv = tools.segment_argv(
            frames, tiny_checkpoint, tmp_path / "proj", "--static", "--overlay", overlay
        )
        code, err, left = on_a_small_disk(tools, disk, "8k", argv)
        assert code == 2, err
        line = tools.error_line(err, "segment")
        assert str(overlay) in line and "the disk ran out of space" in line
        assert "overlay of" not in err  # no "frames written" claim
        assert left == []

    def test_a_write_that_finds_no_space_names_the_output_and_removes_the_temporary(self, tmp_path):
        target = tmp_path / "seq.csv"
        with pytest.raises(DiskFullError, match=r"seq\.csv: the disk ran out of space"):
            with atomic_output(target) as temporary:
                temporary.write_text("half")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        assert list(tmp_path.iterdir()) == []

    def test_a_video_that_does_not_read_back_whole_is_an_error(self, tmp_path):
        whole = tmp_path / "whole.mp4"
        frames = [np.full((48, 64, 3), 10 * index, dtype=np.uint8) for index in range(8)]
        assert write_video(whole, frames, 5.0) == 8
        cut = tmp_path / "cut.mp4"
        cut.write_bytes(whole.read_bytes()[:600])
        with pytest.raises(DataError, match=r"cut\.mp4: the video writer produced 0 readable frames of 8"):
            _check_written_video(cut, cut, 8)


class TestNonFiniteWeights:
    @pytest.mark.parametrize("command", ["segment", "scan"])
    def test_are_refused_when_the_checkpoint_is_read(self, tools, frames, tmp_path, monkeypatch, command):
        import lsevos.video.adaptation as pipeline
        from lsevos.train.checkpoint import load_checkpoint

        monkeypatch.setattr(pipeline, "track", lambda *a, **k: pytest.fail("a frame was segmented"))

        damaged = tools.save_tiny(tmp_path / "damaged.pt")
        payload = load_checkpoint(damaged)
        name = next(key for key, value in payload["model_state"].items() if value.is_floating_point())
        payload["model_state"][name].view(-1)[:3] = torch.tensor([float("nan"), float("inf"), float("nan")])
        torch.save(payload, damaged)
        out = tmp_path / "out"
        argv = (tools.segment_argv if command == "segment" else tools.scan_argv)(frames, damaged, out)
        line = tools.refused(argv)
        assert str(damaged) in line and "3 weights are NaN or infinite" in line and name in line
        assert not out.exists()


DAVIS_LAYOUT = [
    "DAVIS/JPEGImages/480p/disk/00000.jpg",
    "DAVIS/Annotations/480p/disk/00000.png",
    "DAVIS/Annotations/db_info.yml",
    "DAVIS/ImageSets/480p/val.txt",
]


@pytest.fixture
def mirror(tmp_path, monkeypatch, served):
    """(a DAVIS-layout zip served on 127.0.0.1, its MD5, the registry file to write)."""
    folder, base = served
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name in DAVIS_LAYOUT:
            bundle.writestr(name, f"stand-in for {name}")
    (folder / "DAVIS-data.zip").write_bytes(buffer.getvalue())
    registry = tmp_path / "registry.json"
    monkeypatch.setenv("LSEVOS_DOWNLOAD_REGISTRY", str(registry))
    return f"{base}/DAVIS-data.zip", hashlib.md5(buffer.getvalue()).hexdigest(), registry


class TestChecksums:
    def test_an_upper_case_md5_matches_the_archive(self, tools, tmp_path, mirror):
        url, md5, registry = mirror
        registry.write_text(json.dumps({"davis2016": {"url": url, "md5": md5.upper()}}))
        resources = tmp_path / "res"
        code, err = tools.run(["download", "davis2016", "--resources", resources])
        assert code == 0, err
        assert (resources / "archives" / "DAVIS-data.zip").is_file()
        assert (resources / "davis2016" / "DAVIS" / "ImageSets" / "480p" / "val.txt").is_file()

    @pytest.mark.parametrize("md5", ["abc", "z" * 32, "0" * 31 + " 0"])
    def test_a_registry_md5_that_is_not_32_hex_digits_is_refused_when_read(
        self, tools, tmp_path, mirror, md5
    ):
        url, _, registry = mirror
        registry.write_text(json.dumps({"davis2016": {"url": url, "md5": md5}}))
        resources = tmp_path / "res"
        line = tools.refused(["download", "davis2016", "--resources", resources])
        assert str(registry) in line and "davis2016" in line and "not 32 hex digits" in line
        assert not resources.exists() or list(resources.rglob("*")) == []

    def test_a_lock_file_in_upper_case_is_accepted_and_a_broken_one_refused(self, tools, tmp_path, mirror):
        url, _, registry = mirror
        registry.write_text(json.dumps({"davis2016": {"url": url}}))
        resources = tmp_path / "res"
        code, err = tools.run(["download", "davis2016", "--resources", resources])
        assert code == 0, err
        lock = resources / "archives" / "DAVIS-data.zip.sha256"
        digest, name = lock.read_text().split()
        lock.write_text(f"{digest.upper()}  {name}\n")  # as some tools write it
        (resources / "davis2016").rename(tmp_path / "unpacked-before")
        code, err = tools.run(["download", "davis2016", "--resources", resources])
        assert code == 0, err
        archive = resources / "archives" / "DAVIS-data.zip"
        (resources / "davis2016").rename(tmp_path / "unpacked-again")
        lock.write_text("not-a-digest  DAVIS-data.zip\n")
        line = tools.refused(["download", "davis2016", "--resources", resources])
        assert str(lock) in line and "not 64 hex digits" in line
        assert archive.is_file()  # a broken lock file deletes nothing


class TestSigterm:
    @pytest.mark.slow
    def test_sigterm_of_a_running_segment_cleans_up_like_ctrl_c(
        self, tools, frames, tiny_checkpoint, tmp_path
    ):
        process, seen = tools.fine_tuning_segment(frames, tiny_checkpoint, tmp_path / "proj")
        assert any(name.startswith(".proj.work-") for name in os.listdir(tmp_path))
        process.send_signal(signal.SIGTERM)
        stderr = "".join(seen) + process.stderr.read()
        assert process.wait(timeout=60) == 143, stderr  # 128 + SIGTERM
        assert "Traceback" not in stderr
        assert stderr.strip().splitlines()[-1].startswith("lsevos segment: terminated (SIGTERM)")
        assert sorted(os.listdir(tmp_path)) == ["frames"]  # no output, no scratch folder, no lock
