"""Time `lsevos evaluate` against the PyPI peer `vos-benchmark` on the same predictions, 2 processes each.

Input: the oracle predictions in `../shared/fixtures/davis_metric_oracle/predictions/<variant>` and the
DAVIS GT in `../shared/data/davis2016`. vos-benchmark reads raw PNG values as object ids, so it gets a
temporary copy of the GT re-saved as 0/1 PNGs (DAVIS GT is 0/255) and of the predictions (it writes a
results.csv into the prediction folder). Both evaluators must give the same J and F means (1e-3).
Writes `benchmarks/out/evaluate.json` and `benchmarks/out/evaluate.md`.

Run: `python benchmarks/bench_evaluate.py [--variants grabcut,shift] [--repeats 3] [--jobs 2]`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GT_ROOT = SHARED / "data" / "davis2016"
PREDICTIONS = SHARED / "fixtures" / "davis_metric_oracle" / "predictions"
OUT = REPO / "benchmarks" / "out"


def oracle_sequences(variant: str) -> list[str]:
    """The sequences the oracle has predictions for (the GT folder may hold more)."""
    return sorted(path.name for path in (PREDICTIONS / variant).iterdir() if path.is_dir())


def peer_layout(variant: str, folder: Path) -> tuple[Path, Path]:
    """GT as 0/1 PNGs and a copy of the predictions, both `<root>/<seq>/<frame>.png`."""
    gt_root, pred_root = folder / "gt", folder / "pred"
    for name in oracle_sequences(variant):
        sequence_dir = GT_ROOT / "Annotations" / "480p" / name
        target = gt_root / sequence_dir.name
        target.mkdir(parents=True)
        for mask_path in sorted(sequence_dir.glob("*.png")):
            binary = (np.asarray(Image.open(mask_path)) > 0).astype(np.uint8)
            Image.fromarray(binary, mode="L").save(target / mask_path.name)
    shutil.copytree(PREDICTIONS / variant, pred_root)
    return gt_root, pred_root


def time_ours(variant: str, jobs: int) -> tuple[float, float, float]:
    from lsevos.evaluation.evaluate import evaluate

    start = time.perf_counter()
    scores = evaluate(GT_ROOT, PREDICTIONS / variant, oracle_sequences(variant), jobs=jobs, progress=None)
    seconds = time.perf_counter() - start
    return seconds, float(np.mean([s.j.mean() for s in scores])), float(np.mean([s.f.mean() for s in scores]))


def time_peer(gt_root: Path, pred_root: Path, jobs: int) -> tuple[float, float, float]:
    from vos_benchmark.benchmark import benchmark

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        _, global_j, global_f, _ = benchmark(
            [str(gt_root)], [str(pred_root)], num_processes=jobs, verbose=False
        )
    seconds = time.perf_counter() - start
    return seconds, global_j[0] / 100.0, global_f[0] / 100.0


def fastest(run: tuple[float, float, float]) -> float:
    return run[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="grabcut,shift,dilate7")
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs for each evaluator")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if not PREDICTIONS.is_dir():
        print(f"{PREDICTIONS}: oracle predictions not found (needs ../shared)", file=sys.stderr)
        return 2
    sequences = oracle_sequences(args.variants.split(",")[0])
    frames = sum(len(list((GT_ROOT / "Annotations" / "480p" / name).glob("*.png"))) - 2 for name in sequences)
    records = []
    for variant in args.variants.split(","):
        with tempfile.TemporaryDirectory() as folder:
            gt_root, pred_root = peer_layout(variant, Path(folder))
            ours = min((time_ours(variant, args.jobs) for _ in range(args.repeats)), key=fastest)
            peer = min((time_peer(gt_root, pred_root, args.jobs) for _ in range(args.repeats)), key=fastest)
        agree = abs(ours[1] - peer[1]) <= 1e-3 and abs(ours[2] - peer[2]) <= 1e-3
        record = {
            "variant": variant,
            "frames": frames,
            "jobs": args.jobs,
            "ours_s": round(ours[0], 3),
            "vos_benchmark_s": round(peer[0], 3),
            "speedup": round(peer[0] / ours[0], 2),
            "ours_J": ours[1],
            "ours_F": ours[2],
            "vos_benchmark_J": peer[1],
            "vos_benchmark_F": peer[2],
            "same_means": bool(agree),
        }
        records.append(record)
        print(
            f"{variant}: lsevos {ours[0]:.2f} s, vos-benchmark {peer[0]:.2f} s, "
            f"speed-up x{record['speedup']:.2f}; J {ours[1]:.4f}/{peer[1]:.4f} F {ours[2]:.4f}/{peer[2]:.4f}"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    ratio = float(np.mean([r["speedup"] for r in records]))
    (OUT / "evaluate.json").write_text(json.dumps({"runs": records, "mean_speedup": ratio}, indent=2) + "\n")
    line = (
        f"| evaluate (DAVIS J/F, {frames} frames, {args.jobs} processes) | lsevos "
        f"{np.mean([r['ours_s'] for r in records]):.2f} s | vos-benchmark "
        f"{np.mean([r['vos_benchmark_s'] for r in records]):.2f} s | x{ratio:.2f} | "
        f"same J/F means: {all(r['same_means'] for r in records)} |"
    )
    (OUT / "evaluate.md").write_text(line + "\n")
    print(line)
    return 0 if all(r["same_means"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
