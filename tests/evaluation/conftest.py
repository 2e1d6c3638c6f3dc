"""Tiny datasets for the evaluation tests (the ../shared paths are fixtures of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _save_grey(path: Path, values: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(values, dtype=np.uint8), mode="L").save(path)
    return path


@pytest.fixture
def save_grey() -> Callable[[Path, np.ndarray], Path]:
    """Save values as an 8-bit grey PNG (mode L), creating the folder."""
    return _save_grey


@pytest.fixture
def make_davis(tmp_path: Path) -> Callable[[dict[str, list[np.ndarray]]], Path]:
    """Build a DAVIS-layout root in tmp_path with grey frames and the given GT masks (saved as given)."""

    def build(masks: dict[str, list[np.ndarray]]) -> Path:
        root = tmp_path / "davis"
        for name, frames in masks.items():
            for index, mask in enumerate(frames):
                frame_path = root / "JPEGImages" / "480p" / name / f"{index:05d}.jpg"
                frame_path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((*mask.shape, 3), 128, dtype=np.uint8)).save(frame_path)
                _save_grey(root / "Annotations" / "480p" / name / f"{index:05d}.png", mask)
        return root

    return build
