"""Paths shared by the tests: the repository and the read-only real data beside it (`../shared`)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_root() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the real test data folder {SHARED} is missing: clone the project beside `shared/`")
    return SHARED
