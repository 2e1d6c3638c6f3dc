"""Shared fixtures of the video tests: fast settings, drawn videos (`tiny_checkpoint`: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lsevos.video.settings import VideoSettings


@pytest.fixture
def fast_settings() -> VideoSettings:
    return VideoSettings(
        crop_size=33, finetune_epochs=2, finetune_lr=1e-3, retrain_epochs=1, retrain_lr=1e-3, batch=2
    )


@pytest.fixture
def disk_video(tmp_path) -> tuple[Path, list]:
    """A 6-frame folder (48x64) of a red disk moving right by 3 px per frame; returns (folder, masks)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    masks = []
    for index in range(6):
        centre = (16 + 3 * index, 24)
        frame = np.full((48, 64, 3), 30, dtype=np.uint8)
        cv2.circle(frame, centre, 8, (20, 20, 220), thickness=-1)  # red in OpenCV's BGR
        cv2.imwrite(str(folder / f"{index:05d}.png"), frame)
        mask = np.zeros((48, 64), dtype=np.uint8)
        masks.append(cv2.circle(mask, centre, 8, 1, thickness=-1))
    return folder, masks
