"""Tiny inputs for the fault tests: a 4-frame 64x48 video, a DAVIS-layout root, tiny checkpoints, and a
runner for the real `lsevos` command (in process, or as a subprocess of `.venv/bin/lsevos`)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lsevos import cli

REPO = Path(__file__).resolve().parents[2]
LSEVOS = Path(sys.executable).with_name("lsevos")
FAST = '{"crop_size": 33, "finetune_epochs": 1, "retrain_epochs": 1, "batch": 2, "finetune_lr": 0.001}'
SIZE = (48, 64)  # H, W
BOX = "8,16,24,32"  # x0,y0,x1,y1 around the disk of the first frame


def disk_frames(folder: Path, names: list[str]) -> list[np.ndarray]:
    """Write frames (64x48) of a red disk moving right, named `names` (png); returns the 0/1 masks."""
    folder.mkdir(parents=True, exist_ok=True)
    masks = []
    for index, name in enumerate(names):
        centre = (16 + 3 * index, 24)
        frame = np.full((*SIZE, 3), 30, dtype=np.uint8)
        cv2.circle(frame, centre, 8, (20, 20, 220), thickness=-1)
        cv2.imwrite(str(folder / f"{name}.png"), frame)
        masks.append(cv2.circle(np.zeros(SIZE, dtype=np.uint8), centre, 8, 1, thickness=-1))
    return masks


@pytest.fixture
def frames(tmp_path) -> Path:
    """A folder of 4 frames 00000..00003 (64x48)."""
    folder = tmp_path / "frames"
    disk_frames(folder, [f"{index:05d}" for index in range(4)])
    return folder


def save_tiny(path: Path, stage: str = "3", **overrides) -> Path:
    """A seeded random tiny LSENet (embed_dim 8) saved with `save_checkpoint` as pretraining `stage`."""
    from lsevos.model.lse_net import LSENet
    from lsevos.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(path, LSENet("tiny", embed_dim=8), step=0, config={"stage": stage, **overrides})
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """As tests/video's `tiny_checkpoint`, recorded as a stage-3 pretrained model."""
    return save_tiny(tmp_path_factory.mktemp("checkpoint") / "tiny.pt")


@pytest.fixture
def davis_root(tmp_path) -> Path:
    """DAVIS layout with one sequence `disk` of 4 frames 00000..00003 and its 0/255 masks."""
    root = tmp_path / "davis"
    masks = disk_frames(root / "JPEGImages" / "480p" / "disk", [f"{index:05d}" for index in range(4)])
    annotations = root / "Annotations" / "480p" / "disk"
    annotations.mkdir(parents=True)
    for index, mask in enumerate(masks):
        cv2.imwrite(str(annotations / f"{index:05d}.png"), mask * 255)
    return root


def snapshot(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder` (to assert that nothing was touched)."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def run(capsys, argv: list[str]) -> tuple[int, str]:
    """The real `lsevos` entry point in process: (exit code, stderr). An exception escaping `main` (a
    traceback for the user) fails the test by itself."""
    capsys.readouterr()
    code = cli.main([str(arg) for arg in argv])
    return code, capsys.readouterr().err


def run_process(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """`.venv/bin/lsevos ARGV` as a user runs it (one torch thread)."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(LSEVOS), *map(str, argv)], capture_output=True, text=True, timeout=timeout, env=environment
    )


def error_line(stderr: str, command: str) -> str:
    """The one error line of a refused command; asserts there is no traceback and exactly one such line."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith(f"lsevos {command}: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def refused(capsys, argv: list) -> str:
    """Run `argv` in process, assert it is refused (exit 2) with one error line and return that line."""
    code, err = run(capsys, argv)
    assert code == 2, err
    return error_line(err, argv[0])


def refused_process(argv: list) -> tuple[str, str]:
    """Run `argv` as a subprocess, assert it is refused (exit 2) with one error line; (that line, stderr)."""
    result = run_process(argv)
    assert result.returncode == 2, result.stderr
    return error_line(result.stderr, argv[0]), result.stderr


def _settings(settings: str | None) -> list[str]:
    return [] if settings is None else ["--settings", settings]


def scan_argv(frames, checkpoint, out, *extra, box: str | None = BOX, settings: str | None = FAST) -> list:
    """`lsevos scan` of `frames` with `checkpoint` (family ours) into `out`, then `extra`; `box=None` leaves
    out `--box` (give `--box` or `--first-mask` in `extra`), `settings=None` leaves out `--settings`."""
    box_options = [] if box is None else ["--box", box]
    argv = ["scan", "--frames", frames, "--checkpoint", checkpoint, "--family", "ours", *box_options]
    return [*argv, *_settings(settings), "--out", out, *extra]


def segment_argv(source, checkpoint, out, *extra, settings: str | None = FAST) -> list:
    """`lsevos segment SOURCE --box BOX` with `checkpoint` into `out`, then `extra`; `settings=None` leaves
    out `--settings`."""
    argv = ["segment", source, "--box", BOX, "--checkpoint", checkpoint]
    return [*argv, *_settings(settings), "--out", out, *extra]


def fine_tuning_segment(frames, checkpoint, out) -> tuple[subprocess.Popen, list[str]]:
    """`.venv/bin/lsevos segment` into `out` with a 2000-step fine-tune, read until the fine-tune's first
    progress line: (the running process, the stderr lines read so far). SIGINT is restored to its default
    in the child (a test run in the background, nohup or CI, inherits an ignored SIGINT)."""
    slow = FAST.replace('"finetune_epochs": 1', '"finetune_epochs": 2000')
    process = subprocess.Popen(
        [str(LSEVOS), *map(str, segment_argv(frames, checkpoint, out, settings=slow))],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("fine-tune: ") and "step/s" in line:  # the fine-tune is running
            break
    return process, seen


def grabcut_argv(davis_root, out, *extra) -> list:
    """`lsevos grabcut` of sequence `disk` of `davis_root`, flat layout into `out`, one job, then `extra`."""
    argv = ["grabcut", "--data", davis_root, "--out", out, "--sequences", "disk"]
    return [*argv, "--layout", "flat", "--jobs", "1", *extra]


def evaluate_argv(davis_root, out, *extra) -> list:
    """`lsevos evaluate` of sequence `disk` of `davis_root` against its own masks into `out`, one job."""
    pred = davis_root / "Annotations" / "480p" / "disk"
    argv = ["evaluate", "--gt", davis_root, "--pred-dir", pred, "--sequences", "disk"]
    return [*argv, "--out", out, "--jobs", "1", *extra]


@pytest.fixture
def no_computation(monkeypatch):
    """Make every heavy step fail the test if it is reached (checks must come first)."""
    import lsevos.evaluation.evaluate as evaluate_module
    import lsevos.evaluation.grabcut as grabcut_module
    import lsevos.video.chain as chain
    import lsevos.video.segmenter as segmenter
    import lsevos.video.steps as pipeline

    def forbidden(*args, **kwargs):
        raise AssertionError("computation started before the inputs and outputs were checked")

    for module, name in (
        (segmenter, "two_scan"),
        (chain, "run_steps"),
        (pipeline, "finetune"),
        (pipeline, "scan"),
        (pipeline, "track_frames"),
        (evaluate_module, "evaluate"),
        (grabcut_module, "_run_job"),
    ):
        monkeypatch.setattr(module, name, forbidden)


@pytest.fixture
def tools(capsys):
    """The helpers above for the test modules (tests are imported in importlib mode, so not by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        run=lambda argv: run(capsys, argv),
        run_process=run_process,
        refused=lambda argv: refused(capsys, argv),
        refused_process=refused_process,
        error_line=error_line,
        scan_argv=scan_argv,
        segment_argv=segment_argv,
        fine_tuning_segment=fine_tuning_segment,
        grabcut_argv=grabcut_argv,
        evaluate_argv=evaluate_argv,
        snapshot=snapshot,
        disk_frames=disk_frames,
        save_tiny=save_tiny,
        fast=FAST,
        repo=REPO,
        lsevos=LSEVOS,
    )
