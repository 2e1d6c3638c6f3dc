"""J of the first-frame labels each labelling rule makes from a model's first-frame prediction, per
sequence and on average: the paper's rule (probability >= 0.6 inside the ground truth's box,
`first_frame_grabcut: 0`) and the GrabCut-completed labels (`first_frame_grabcut: 5`). The prediction is
what `lsevos segment` labels with (`video_predictor`): the network with the salient-object prior mixed
in at `saliency_weight`, on the box enlarged by `enlarge`, at `crop_size` (config/cpu.yaml's `video`
block). The rule's unlabelled pixels count as background here. No training,
about a second a sequence.

    python benchmarks/first_frame_labels.py --checkpoint stage3.pt --root DAVIS --sequences a,b
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True, help="a DAVIS root (JPEGImages, Annotations)")
    parser.add_argument("--sequences", required=True, help="comma-separated")
    args = parser.parse_args()

    from lsevos.data.io import read_frame, read_mask
    from lsevos.train.checkpoint import load_model
    from lsevos.video.boxes import box_from_mask, enlarge_box
    from lsevos.video.inference import video_predictor
    from lsevos.video.pseudo_labels import first_frame_labels, grabcut_first_frame_labels
    from lsevos.video.settings import VideoSettings
    from lsevos.video.tracker import predict_in

    settings = VideoSettings(**yaml.safe_load((REPO / "config" / "cpu.yaml").read_text())["video"])
    predict = video_predictor(load_model(args.checkpoint).eval(), "fused", settings)
    rows = []
    for sequence in args.sequences.split(","):
        frames = sorted((args.root / "JPEGImages" / "480p" / sequence).glob("*.jpg"))
        frame = read_frame(frames[0])
        truth = read_mask(args.root / "Annotations" / "480p" / sequence / f"{frames[0].stem}.png") > 0
        box = box_from_mask(truth)
        prob = predict_in(predict, frame, enlarge_box(box, settings.enlarge, truth.shape), settings.crop_size)
        rule = first_frame_labels(prob, box, settings.pseudo_fg_threshold) == 1
        grabcut = grabcut_first_frame_labels(frame, prob, box, settings.pseudo_fg_threshold, 5) == 1
        row = [float((labels & truth).sum() / (labels | truth).sum()) for labels in (rule, grabcut)]
        rows.append(row)
        print(f"{sequence}: labels J, 0.6 rule {row[0]:.3f}, GrabCut {row[1]:.3f}", flush=True)
    mean = np.mean(rows, axis=0)
    print(f"mean over {len(rows)}: 0.6 rule {mean[0]:.3f}, GrabCut {mean[1]:.3f}")


if __name__ == "__main__":
    main()
