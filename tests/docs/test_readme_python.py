"""The README's examples of segmenting one's own video run as written: the Python block executed unchanged,
and the `lsevos segment` command run, each in a folder that holds what it names (`models/lsevos-cpu.pt`, a
model file packaged from a tiny network with fast settings, and the video, a real MP4 with a disk moving
inside the examples' box), and what they print and write checked."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lsevos.data.io import read_mask, write_video
from lsevos.video.model_file import package_model

REPO = Path(__file__).resolve().parents[2]
FAST = {"crop_size": 33, "finetune_epochs": 1, "retrain_epochs": 1, "batch": 2, "threshold": 0.02}
FRAMES, HEIGHT, WIDTH = 4, 320, 352


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def write_clip(path: Path) -> None:
    """FRAMES frames: a red disk moving right inside the box (120, 80, 260, 300) on grey."""
    frames = []
    for index in range(FRAMES):
        frame = np.full((HEIGHT, WIDTH, 3), 90, dtype=np.uint8)
        cv2.circle(frame, (185 + 3 * index, 190), 60, (220, 30, 30), thickness=-1)
        frames.append(frame)
    assert write_video(path, frames, 10.0) == FRAMES


def own_video_folder(folder: Path, checkpoint: Path, video: str) -> None:
    """The folder a user runs the examples in: the model `make model` writes, and their video."""
    package_model(checkpoint, FAST, {"summary": "tiny test model"}, folder / "models" / "lsevos-cpu.pt")
    write_clip(folder / video)


@pytest.mark.slow
def test_the_readme_segment_command_runs_as_written(tmp_path, tiny_checkpoint):
    lines = (REPO / "README.md").read_text().splitlines()
    command = [line for line in lines if line.startswith(".venv/bin/lsevos segment ")]
    assert len(command) == 1, "the README's own-video command: one line, run here"
    words = shlex.split(command[0])
    video, out, overlay = words[2], words[words.index("--out") + 1], words[words.index("--overlay") + 1]
    own_video_folder(tmp_path, tiny_checkpoint, video)
    words[0] = str(Path(sys.executable).parent / "lsevos")  # this environment's, as .venv/bin/ is in a clone
    environment = {key: value for key, value in os.environ.items() if key != "LSEVOS_CHECKPOINT"}
    result = subprocess.run(words, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # the model it names is the one `make model` writes, in the folder it runs in
    assert (
        f"model {tmp_path.resolve() / 'models' / 'lsevos-cpu.pt'} (the project's CPU model)" in result.stderr
    )
    masks = sorted((tmp_path / out / "masks").glob("*.png"))
    assert len(masks) == FRAMES and any(np.count_nonzero(read_mask(path)) for path in masks)
    assert (tmp_path / out / "boxes.json").is_file()
    capture = cv2.VideoCapture(str(tmp_path / overlay))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    capture.release()


@pytest.mark.slow
def test_the_readme_python_example_runs_as_written(tmp_path, tiny_checkpoint, monkeypatch):
    blocks = python_blocks((REPO / "README.md").read_text())
    assert len(blocks) == 1, "the README's Python blocks: one example, run here"
    own_video_folder(tmp_path, tiny_checkpoint, "clip.mp4")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LSEVOS_CHECKPOINT", raising=False)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(blocks[0], "README.md", "exec"), {})  # the README's own example, unchanged
    lines = printed.getvalue().splitlines()
    frame_lines = [line for line in lines if re.fullmatch(r"\d+ \d{5} \{1: \d+\}", line)]
    assert [int(line.split()[0]) for line in frame_lines] == list(range(FRAMES)), lines
    masks = sorted((tmp_path / "out" / "masks").glob("*.png"))
    assert [path.stem for path in masks] == [line.split()[1] for line in frame_lines]
    for line, path in zip(frame_lines, masks, strict=True):  # the printed pixel count is the saved mask's
        assert int(line.split("{1: ")[1].rstrip("}")) == np.count_nonzero(read_mask(path) == 1)
    assert any(np.count_nonzero(read_mask(path)) for path in masks)
    assert len(lines) > len(frame_lines)  # progress=print said what it does
    video = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    video.release()
    assert len(list((tmp_path / "cutout").glob("*.png"))) == FRAMES
