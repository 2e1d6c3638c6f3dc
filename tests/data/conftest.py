"""Small dataset copies for the data tests (the ../shared paths are fixtures of tests/conftest.py)."""

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def davis_copy(tmp_path: Path, davis_root: Path) -> Path:
    """A DAVIS root in tmp_path holding a copy of `car-shadow` (40 frames) and db_info.yml, no ImageSets."""
    root = tmp_path / "davis"
    for kind in ("JPEGImages", "Annotations"):
        shutil.copytree(davis_root / kind / "480p" / "car-shadow", root / kind / "480p" / "car-shadow")
    shutil.copy(davis_root / "Annotations" / "db_info.yml", root / "Annotations" / "db_info.yml")
    return root
