"""Fixtures of the benchmark scripts' tests."""

from __future__ import annotations

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
