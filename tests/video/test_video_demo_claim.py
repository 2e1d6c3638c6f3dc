"""The paper's core claim at demo scale: on a built-in video with a look-alike distractor, Ours beats FP.

A real, seeded run: tiny demo models are pretrained on the built-in static images (FP-only for FP; the
three joint stages for Ours), then both are fine-tuned on the first frame's box and run with two scans.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lsevos.data.io import read_mask
from lsevos.data.synthetic import generate_benchmark
from lsevos.train.pretrain import PretrainSettings, pretrain
from lsevos.video.pipeline import first_box_from_mask, two_scan
from lsevos.video.settings import VideoSettings

SEQUENCE = "lookalike-cross"
MODEL = {"backbone": "tiny", "pretrained": False, "embed_dim": 16, "batch": 8, "crop": 64}
STAGES = {  # stage: (iterations, lr, init stage)
    "fp": (120, 0.01, None),
    "1": (80, 0.01, None),
    "2": (40, 0.01, "1"),
    "3": (60, 0.005, "2"),
}


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> dict[str, Path]:
    """The built-in benchmark (one look-alike video) and the pretrained demo checkpoints fp and stage 3."""
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("demo")
    generate_benchmark(
        root / "bench", 0, {"static_train": 60, "static_val": 4, "sequences": [SEQUENCE], "video_frames": 20}
    )
    spec = {"sources": [{"kind": "static", "root": str(root / "bench" / "static"), "split": "train"}]}
    checkpoints: dict[str, Path] = {}
    for stage, (iterations, lr, init) in STAGES.items():
        settings = PretrainSettings(
            iterations=iterations,
            lr=lr,
            samples_per_instance=32,
            log_every=20,
            checkpoint_every=1000,
            seed=0,
            **MODEL,
        )
        checkpoints[stage] = pretrain(
            stage,
            spec,
            settings,
            root / f"stage{stage}.pt",
            root / f"stage{stage}.csv",
            init=None if init is None else checkpoints[init],
        )
    return {"bench": root / "bench", "fp": checkpoints["fp"], "joint": checkpoints["3"], "work": root}


def j_mean(pred_dir: Path, gt_dir: Path) -> float:
    """DAVIS J mean: IoU per frame over frames 1..N-2 (J = 1 when both masks are empty)."""
    gt_paths = sorted(gt_dir.glob("*.png"))[1:-1]
    scores = []
    for gt_path in gt_paths:
        gt, pred = read_mask(gt_path) > 0, read_mask(pred_dir / gt_path.name) > 0
        union = np.logical_or(gt, pred).sum()
        scores.append(1.0 if union == 0 else np.logical_and(gt, pred).sum() / union)
    return float(np.mean(scores))


@pytest.mark.slow
def test_ours_beats_fp_on_a_lookalike_video(demo_run):
    frames = demo_run["bench"] / "davis" / "JPEGImages" / "480p" / SEQUENCE
    annotations = demo_run["bench"] / "davis" / "Annotations" / "480p" / SEQUENCE
    box = first_box_from_mask(annotations / "00000.png")
    settings = VideoSettings(
        crop_size=64,
        finetune_epochs=10,
        finetune_lr=1e-3,
        retrain_epochs=1,
        retrain_lr=1e-3,
        batch=4,
        seed=0,
        device="cpu",
    )
    scores = {}
    for family, checkpoint in (("fp", demo_run["fp"]), ("ours", demo_run["joint"])):
        out = demo_run["work"] / f"{family}_scan2"
        two_scan(frames, box, checkpoint, family, settings, out, demo_run["work"] / f"{family}_work")
        scores[family] = j_mean(out / "masks", annotations)
    print(f"J mean on {SEQUENCE}: {scores}")
    assert scores["ours"] > scores["fp"], scores
