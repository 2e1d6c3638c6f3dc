"""The paper's core claim at demo scale: on built-in videos with look-alike distractors, Ours beats FP
inside the same boxes (Table 1 mode).

A real, seeded run with the demo's own settings (`config/demo.yaml`): the tiny demo models pretrained on
the built-in static images (FP-only for FP; the three joint stages for Ours), fine-tuned on the first
frame's box and adapted with two scans, on the two look-alike sequences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lsevos.data.io import read_mask
from lsevos.video.adaptation import Adaptation, Prompt
from lsevos.video.chain import ChainOutputs, run_chain
from lsevos.video.settings import VideoSettings
from lsevos.video.steps import first_box_from_mask, scan

SEQUENCES = ("lookalike-cross", "lookalike-pass")


def j_mean(pred_dir: Path, gt_dir: Path) -> float:
    """DAVIS J mean: IoU per frame over frames 1..N-2 (J = 1 when both masks are empty)."""
    scores = []
    for gt_path in sorted(gt_dir.glob("*.png"))[1:-1]:
        gt, pred = read_mask(gt_path) > 0, read_mask(pred_dir / gt_path.name) > 0
        union = np.logical_or(gt, pred).sum()
        scores.append(1.0 if union == 0 else np.logical_and(gt, pred).sum() / union)
    return float(np.mean(scores))


@pytest.mark.slow
def test_ours_beats_fp_inside_the_true_boxes_on_the_lookalike_videos(demo_models):
    torch.set_num_threads(1)
    settings = VideoSettings.from_dict({**demo_models["video"], "device": "cpu"})
    scores: dict[str, list[float]] = {"fp": [], "ours": []}
    gt_scores: dict[str, list[float]] = {"fp": [], "ours": []}
    for sequence in SEQUENCES:
        frames = demo_models["bench"] / "davis" / "JPEGImages" / "480p" / sequence
        annotations = demo_models["bench"] / "davis" / "Annotations" / "480p" / sequence
        box = first_box_from_mask(annotations / "00000.png")
        for family, checkpoint in (("fp", demo_models["fp"]), ("ours", demo_models["joint"])):
            work = demo_models["work"] / f"{sequence}_{family}"
            outputs = ChainOutputs(*(work / name for name in ("ft.pt", "scan1", "labels", "rt.pt", "scan2")))
            adaptation = Adaptation(family, settings)
            run_chain(frames, Prompt(box), checkpoint, adaptation, outputs, work / ".resume")
            scores[family].append(j_mean(outputs.scan2 / "masks", annotations))
            gtbox = demo_models["work"] / f"{sequence}_{family}_gtbox"
            scan(frames, outputs.finetune, adaptation, gtbox, Prompt(box), gt_masks=annotations)
            gt_scores[family].append(j_mean(gtbox / "masks", annotations))
    print(f"J mean per look-alike sequence {SEQUENCES}: propagated {scores}, GT box {gt_scores}")
    # The claim: inside the same boxes, the fused LSE output separates the target from its look-alikes
    # better than FP alone (GT-box mode, Table 1: 81.7 vs 79.6 J here, 2026-12-07 at 82c2c1e).
    assert np.mean(gt_scores["ours"]) > np.mean(gt_scores["fp"]) + 0.01, gt_scores
    # Propagated from the first box, both track the target through the crossings. Which of the two is ahead
    # there is within 2 J and changed with the library versions (2026-11-25: Ours 62.2 vs FP 59.0; with the
    # packages of 2026-11-30: 58.9 vs 60.6), so that order is reported in docs/experiments.md, not asserted.
    assert min(np.mean(scores["ours"]), np.mean(scores["fp"])) > 0.5, scores
