"""Shared paths and small dataset copies for the data tests."""

import shutil
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


@pytest.fixture
def davis_root() -> Path:
    """The 5-sequence DAVIS 2016 subset in ../shared (read only)."""
    return SHARED / "data" / "davis2016"


@pytest.fixture
def segtrack_root() -> Path:
    """SegTrack v2 `bmx` object 2 in the release layout in ../shared (read only)."""
    return SHARED / "data" / "segtrackv2"


@pytest.fixture
def davis_copy(tmp_path: Path, davis_root: Path) -> Path:
    """A DAVIS root in tmp_path holding a copy of `car-shadow` (40 frames) and db_info.yml, no ImageSets."""
    root = tmp_path / "davis"
    for kind in ("JPEGImages", "Annotations"):
        shutil.copytree(davis_root / kind / "480p" / "car-shadow", root / kind / "480p" / "car-shadow")
    shutil.copy(davis_root / "Annotations" / "db_info.yml", root / "Annotations" / "db_info.yml")
    return root
