"""`lsevos segment` as a user runs it: fine-tune, scan 1, retraining and scan 2 of one object in a 90-frame
854x480 clip, the whole command timed, against the same command with full-size adaptation in the same run.

Configurations (each a fresh `lsevos segment` process, the machine's torch threads):
- `cpu`: config/cpu.yaml's `video` block as it is (training crops of `train_crop_size`, the backbone's
  early layers kept as pretrained, the prior at `saliency_size`, scan 1's prior reused by scan 2,
  channels-last weights and the fused Adam step);
- `cpu, full-size adaptation`: the same with `train_crop_size: 0`, `freeze_early_layers: false`,
  `saliency_size: 320`, `prior_reuse_iou: 0`, `fast_kernels: false` and `first_frame_grabcut: 5`
  (training on 241-px crops, every layer trained, U^2-Net-p at its training size on every crop of both
  scans, the default kernels, GrabCut-completed first-frame labels: the cpu configuration of 2026-12-05
  before E24).
Figures: wall time of the command, frames/s with adaptation (frames / wall time), peak resident memory of
the command's process (ru_maxrss), and the phases' own figures from its progress lines (fine-tune and
retraining steps/s, the scans' frames/s).

By default the clip is the generated video of `bench_video.py` and the model a random-weight
EfficientNet-Lite0 (speed does not depend on the weights); `--video DIR_OR_FILE --box x0,y0,x1,y1
--checkpoint FILE` time a real clip and model instead (the README's figure: DAVIS `goat`).

    python benchmarks/bench_segment.py [--frames 90] [--video V --box B --checkpoint C]

Writes benchmarks/out/segment.json and benchmarks/out/segment.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = Path(__file__).resolve().parent / "out"
FULL_SIZE = {
    "train_crop_size": 0,
    "freeze_early_layers": False,
    "saliency_size": 320,
    "prior_reuse_iou": 0.0,
    "fast_kernels": False,
    "first_frame_grabcut": 5,
}
# Peak memory of the command, measured by a parent that runs nothing else.
MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "result = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(json.dumps({'seconds': time.perf_counter() - start, 'code': result.returncode,\n"
    "    'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,\n"
    "    'log': result.stderr + result.stdout}))\n"
)


def phases(log: str) -> dict:
    """The phases' figures from `lsevos segment`'s progress lines."""
    found: dict = {}
    for stage in ("fine-tune", "retrain"):
        match = re.search(rf"^{stage}: (\d+) steps? in \S+ \(([\d.]+) step/s\)", log, re.MULTILINE)
        if match:
            found[stage] = {"steps": int(match[1]), "steps_per_s": float(match[2])}
    for stage in ("scan 1", "scan 2"):
        match = re.search(rf"^{stage}: (\d+) frames in ([\d.]+) s \(([\d.]+) frames/s[;)]", log, re.MULTILINE)
        if match:
            found[stage] = {"frames": int(match[1]), "seconds": float(match[2]), "fps": float(match[3])}
    return found


def run_segment(video: Path, box: str, checkpoint: Path, settings: dict, out: Path) -> dict:
    settings_file = out.with_suffix(".yaml")
    settings_file.write_text(yaml.safe_dump(settings))
    command = [
        *(sys.executable, "-c", MEASURE),
        *(sys.executable, "-m", "lsevos.cli", "segment", str(video), "--box", box, "--out", str(out)),
        *("--checkpoint", str(checkpoint), "--settings", str(settings_file)),
    ]
    record = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    if record["code"] != 0:
        raise SystemExit(f"lsevos segment failed ({record['code']}):\n{record['log'][-2000:]}")
    frames = len(list((out / "masks").glob("*.png")))
    return {
        "frames": frames,
        "seconds": record["seconds"],
        "fps": frames / record["seconds"],
        "peak_rss_mb": record["peak_rss_mb"],
        "phases": phases(record["log"]),
    }


def table(report: dict) -> str:
    lines = [
        f"# `lsevos segment`, adaptation included ({report['cores']} cores, {report['clip']})",
        "",
        "| configuration | seconds | frames/s | peak MB | fine-tune step/s | retrain step/s | "
        "scan 1 frames/s | scan 2 frames/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in report["runs"].items():

        def figure(stage: str, key: str, found: dict = r["phases"]) -> str:
            return f"{found[stage][key]:.2f}" if stage in found else "-"

        lines.append(
            f"| {name} | {r['seconds']:.1f} | {r['fps']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{figure('fine-tune', 'steps_per_s')} | {figure('retrain', 'steps_per_s')} | "
            f"{figure('scan 1', 'fps')} | {figure('scan 2', 'fps')} |"
        )
    lines += ["", f"Speed-up of `cpu` over full-size adaptation: x{report['speedup']:.2f}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90, help="frames of the generated clip")
    parser.add_argument("--video", type=Path, help="a real clip (folder or file) instead")
    parser.add_argument("--box", help="its object's first-frame box x0,y0,x1,y1 (with --video)")
    parser.add_argument("--checkpoint", type=Path, help="a real model instead of random weights")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="where segment.json and .md go")
    parser.add_argument(
        "--override", default="{}", help="JSON of video settings both configurations take (a short test)"
    )
    args = parser.parse_args()
    if (args.video is None) != (args.box is None):
        parser.error("--video and --box go together")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_video import FIRST_BOX, make_video, save_model

    cpu = {**yaml.safe_load((REPO / "config" / "cpu.yaml").read_text())["video"], **json.loads(args.override)}
    configurations = {"cpu": cpu, "cpu, full-size adaptation": {**cpu, **FULL_SIZE}}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        video, box = args.video, args.box
        if video is None:
            video, box = work / "clip.mp4", FIRST_BOX
            make_video(video, args.frames)
        checkpoint = args.checkpoint
        if checkpoint is None:
            checkpoint = work / "efficientnet-lite0.pt"
            save_model(checkpoint, "efficientnet-lite0", 32)
        report: dict = {
            "cores": os.cpu_count(),
            "clip": f"{video.name if args.video else 'generated'}, 854x480",
            "runs": {},
        }
        for index, (name, settings) in enumerate(configurations.items()):
            started = time.perf_counter()
            report["runs"][name] = run_segment(video, box, checkpoint, settings, work / f"run{index}")
            print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    runs = report["runs"]
    report["speedup"] = runs["cpu, full-size adaptation"]["seconds"] / runs["cpu"]["seconds"]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "segment.json").write_text(json.dumps(report, indent=2))
    (args.out_dir / "segment.md").write_text(table(report))
    print(table(report))


if __name__ == "__main__":
    main()
