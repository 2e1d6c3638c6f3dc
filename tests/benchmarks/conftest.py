"""Fixtures of the benchmark scripts' tests."""

from __future__ import annotations

import importlib
import sys

import cv2
import numpy as np
import pytest


@pytest.fixture
def davis(tmp_path):
    """Two 5-frame sequences (64x48): a red disk moving right, a blue square moving down."""
    root = tmp_path / "davis"
    for seq, shape in (("disk", "circle"), ("square", "rectangle")):
        (root / "JPEGImages/480p" / seq).mkdir(parents=True)
        (root / "Annotations/480p" / seq).mkdir(parents=True)
        for index in range(5):
            frame = np.full((48, 64, 3), 40, np.uint8)
            mask = np.zeros((48, 64), np.uint8)
            if shape == "circle":
                for image, value in ((frame, (20, 20, 220)), (mask, 255)):
                    cv2.circle(image, (16 + 3 * index, 24), 8, value, thickness=-1)
            else:
                for image, value in ((frame, (220, 40, 20)), (mask, 255)):
                    cv2.rectangle(image, (26, 8 + 3 * index), (40, 22 + 3 * index), value, thickness=-1)
            cv2.imwrite(str(root / "JPEGImages/480p" / seq / f"{index:05d}.jpg"), frame)
            cv2.imwrite(str(root / "Annotations/480p" / seq / f"{index:05d}.png"), mask)
    return root


def benchmark_script(repo_root, name: str):
    """`benchmarks/<name>.py` imported as a module (the scripts import each other from that folder)."""
    sys.path.insert(0, str(repo_root / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


@pytest.fixture(scope="module")
def protocol(repo_root):
    return benchmark_script(repo_root, "protocol")


@pytest.fixture(scope="module")
def recipe(repo_root):
    return benchmark_script(repo_root, "cpu_recipe")
