"""Drawing a box with the mouse, for real: `lsevos segment` without --box opens OpenCV's window on a virtual
screen (Xvfb), xdotool drags a rectangle and presses ENTER then ESC, and the command prints the box in the
`--box` form and segments it. Needs Debian's `xvfb` and `xdotool` and an OpenCV with a GUI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from lsevos.data.io import read_mask

pytestmark = pytest.mark.slow
TITLE = "lsevos: draw one box per object"
SETTINGS = {"crop_size": 33, "finetune_epochs": 1, "retrain_epochs": 1, "batch": 2, "threshold": 0.02}


def gui_missing() -> str | None:
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install xvfb xdotool)"
    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if match is None or match.group(1).upper() == "NONE":
        return "this OpenCV has no GUI (the headless wheel)"
    return None


@pytest.fixture
def display():
    reason = gui_missing()
    if reason:
        pytest.skip(reason)
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as numbers:
        number = numbers.readline().strip()
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def xdotool(env: dict, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env=env, check=True, capture_output=True, text=True).stdout


def test_a_box_dragged_in_the_window_is_printed_and_segmented(tmp_path, tiny_checkpoint, display):
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(3):
        frame = np.full((300, 400, 3), 30, dtype=np.uint8)  # wider than the window's toolbar
        cv2.circle(frame, (190 + index, 160), 40, (20, 20, 220), thickness=-1)
        cv2.imwrite(str(frames / f"{index:05d}.png"), frame)
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "OMP_NUM_THREADS": "1"}
    command = [
        *(sys.executable, "-m", "lsevos.cli", "segment", str(frames), "--out", str(tmp_path / "out")),
        *("--checkpoint", str(tiny_checkpoint), "--static", "--settings", json.dumps(SETTINGS)),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        window = xdotool(env, "search", "--sync", "--name", TITLE).split()[0]
        time.sleep(1.0)  # the frame is painted
        xdotool(env, "windowfocus", "--sync", window)
        # Where the image sits inside the window (toolbars, borders) is the toolkit's business: the dragged
        # size is what must come back, at the image's own scale (the window shows it 1:1).
        start, end = (150, 120), (230, 190)
        xdotool(env, "mousemove", "--window", window, *map(str, start), "mousedown", "1")
        for step in range(1, 6):
            x = start[0] + (end[0] - start[0]) * step // 5
            y = start[1] + (end[1] - start[1]) * step // 5
            xdotool(env, "mousemove", "--window", window, str(x), str(y))
            time.sleep(0.05)
        xdotool(env, "mouseup", "1")
        time.sleep(0.3)
        xdotool(env, "key", "Return")
        time.sleep(0.3)
        xdotool(env, "key", "Escape")
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr[-2000:]
    boxes = re.findall(r"--box (\d+),(\d+),(\d+),(\d+)", stdout + stderr)
    assert len(boxes) == 1, stdout + stderr
    x0, y0, x1, y1 = map(int, boxes[0])
    assert abs((x1 - x0) - (end[0] - start[0])) <= 2 and abs((y1 - y0) - (end[1] - start[1])) <= 2
    masks = sorted((tmp_path / "out" / "masks").glob("*.png"))
    assert [path.stem for path in masks] == ["00000", "00001", "00002"]
    assert read_mask(masks[0]).shape == (300, 400)
