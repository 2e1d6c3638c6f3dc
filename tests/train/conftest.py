"""Shared fixtures of the training tests: a small built-in benchmark and a demo-sized pretraining run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lsevos.data.synthetic import generate_benchmark

# Demo-sized model and stages: (iterations, learning rate, init stage).
MODEL = {"backbone": "tiny", "pretrained": False, "embed_dim": 16, "batch": 4, "crop": 48}
STAGES = {"1": (40, 0.02, None), "2": (30, 0.02, "1"), "3": (80, 0.03, "2")}


@pytest.fixture(scope="session")
def one_thread():
    """Train with one torch thread: on 2 shared cores, two threads waiting for each other are much slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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


@pytest.fixture(scope="session")
def demo_pretraining(tmp_path_factory, static_spec, one_thread) -> dict[str, dict[str, Path]]:
    """Stages 1, 2 and 3 of the demo pretraining: `{stage: {"checkpoint": path, "log": path}}`."""
    from lsevos.train.pretrain import PretrainSettings, pretrain

    work = tmp_path_factory.mktemp("pretrain")
    runs: dict[str, dict[str, Path]] = {}
    for stage, (iterations, lr, init) in STAGES.items():
        settings = PretrainSettings(
            iterations=iterations,
            lr=lr,
            samples_per_instance=24,
            log_every=20,
            checkpoint_every=1000,
            **MODEL,
        )
        log = work / f"stage{stage}.csv"
        checkpoint = pretrain(
            stage,
            static_spec,
            settings,
            work / f"stage{stage}.pt",
            log,
            init=None if init is None else runs[init]["checkpoint"],
        )
        runs[stage] = {"checkpoint": checkpoint, "log": log}
    return runs
