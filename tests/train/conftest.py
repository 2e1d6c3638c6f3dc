"""Shared fixtures of the training tests: a small built-in benchmark and its static-image source."""

from __future__ import annotations

from pathlib import Path

import pytest

from lsevos.data.synthetic import generate_benchmark


@pytest.fixture(scope="session")
def benchmark_root(tmp_path_factory) -> Path:
    """The built-in benchmark with 40 static training images and 6 held-back ones (one short video)."""
    root = tmp_path_factory.mktemp("bench") / "bench"
    generate_benchmark(
        root,
        0,
        {
            "static_train": 40,
            "static_val": 6,
            "sequences": ["lookalike-cross"],
            "video_frames": 8,
            "segtrack_frames": 8,
        },
    )
    return root


@pytest.fixture(scope="session")
def static_spec(benchmark_root) -> dict:
    return {"sources": [{"kind": "static", "root": str(benchmark_root / "static"), "split": "train"}]}
