"""The cpu recipe's video stage on held-out sequences, fast: fine-tune on frame 0 (the ground truth's box)
and scan 1 with the zoom tracker, over the first N frames, two sequences at a time. The masks go to
`--masks DIR/<seq>/<frame>.png` for `lsevos evaluate`; a line per sequence gives J and the first-frame
labels' J. The development and check numbers of docs/experiments.md (E20-E22) were measured with it.

    python benchmarks/recipe_check.py --checkpoint stage3.pt --root DAVIS --sequences a,b \\
        --masks out/masks [--frames 40] [--settings '{"saliency_evidence": true}'] [--jobs 2]

`--settings` overrides config/cpu.yaml's `video` block. A `FirstFrameLabels/480p/<seq>/00000.png` in the
root (the stress suite's `part` mode) replaces the model's first-frame prediction before the labelling.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
PREDICT_IN = None  # the first-frame labelling's own crop-and-predict, kept by the first sequence of a worker


def run_sequence(job: tuple) -> tuple[str, float, float, dict, float]:
    checkpoint, root, seq, count, overrides, family_name, masks = job
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    import lsevos.video.training as training

    global PREDICT_IN
    if PREDICT_IN is None:
        PREDICT_IN = training.predict_in
    from lsevos.data.io import read_frame, read_mask, write_mask
    from lsevos.evaluation.davis_metrics import jaccard
    from lsevos.video.adaptation import Adaptation, FirstFrame, Prompt, finetune, track_frames
    from lsevos.video.boxes import box_from_mask
    from lsevos.video.frames import ArrayFrames
    from lsevos.video.settings import VideoSettings
    from lsevos.video.steps import _load

    values = yaml.safe_load((REPO / "config" / "cpu.yaml").read_text())["video"]
    settings = VideoSettings.from_dict({**values, **overrides})
    root = Path(root)
    names = sorted(path.stem for path in (root / "JPEGImages/480p" / seq).glob("*.jpg"))[:count]
    frames = [read_frame(root / "JPEGImages/480p" / seq / f"{name}.jpg") for name in names]
    truth = [read_mask(root / "Annotations/480p" / seq / f"{name}.png") > 0 for name in names]
    part = root / "FirstFrameLabels/480p" / seq / "00000.png"
    training.predict_in = PREDICT_IN  # a worker runs several sequences: undo the last one's replacement
    if part.is_file():  # the stress suite's `part` mode: the first-frame prediction covers a part
        degraded = (read_mask(part) > 0).astype(np.float32) * 0.9
        training.predict_in = lambda *args, **kwargs: degraded
    started = time.perf_counter()
    adaptation = Adaptation(family_name, settings)
    model = _load(checkpoint, settings)
    video = ArrayFrames(frames, names)
    prompt = Prompt(box_from_mask(truth[0]))
    first: FirstFrame = finetune(model, video, prompt, adaptation)
    out = Path(masks) / seq
    out.mkdir(parents=True, exist_ok=True)
    scores, recovery = [], {}
    for index, result in track_frames(model, video, prompt, adaptation, first=first):
        write_mask(
            out / f"{names[index]}.png", (truth[0] if index == 0 else result.mask > 0).astype(np.uint8)
        )
        if result.recovery:
            recovery[result.recovery] = recovery.get(result.recovery, 0) + 1
        if 0 < index < len(names) - 1:
            scores.append(jaccard(truth[index], result.mask > 0))
    label_j = jaccard(truth[0], first.labels == 1)
    return seq, float(np.mean(scores)), label_j, recovery, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--root", required=True, help="DAVIS-layout folder")
    parser.add_argument("--sequences", required=True, help="comma-separated")
    parser.add_argument("--masks", required=True, help="folder for <seq>/<frame>.png")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--settings", default="{}", help="JSON overrides of config/cpu.yaml's video block")
    parser.add_argument("--family", default="ours")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    overrides = json.loads(args.settings)
    jobs = [
        (args.checkpoint, args.root, seq, args.frames, overrides, args.family, args.masks)
        for seq in args.sequences.split(",")
    ]
    rows = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for seq, j, label_j, recovery, seconds in pool.map(run_sequence, jobs):
            print(f"{seq:32s} J {j:.3f}  first-frame labels J {label_j:.3f}  {recovery}  {seconds:.0f} s")
            rows.append((j, label_j))
    means = np.mean(rows, axis=0)
    print(f"mean J {means[0]:.3f}  labels J {means[1]:.3f}  below 0.3: {sum(j < 0.3 for j, _ in rows)}")


if __name__ == "__main__":
    main()
