"""Video-stage benchmark: scan speed (frames per second) and peak memory as the video grows.

Each measurement runs `lsevos.video.pipeline.scan` (decode, crop, network, paste back, write the PNGs)
in a fresh Python process with 2 torch threads on a generated 854x480 mp4 (a textured disk moving over a
noisy background), so the peak resident memory (ru_maxrss) is that one scan's. Network weights are
random: speed does not depend on them.

    python benchmarks/bench_video.py [--long 500 --short 100 --speed-frames 60]

Writes benchmarks/out/video.json and benchmarks/out/video.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).resolve().parent / "out"
SIZE = (480, 854)
CONFIGURATIONS = {  # name: (backbone, embed_dim, crop)
    "demo (tiny, crop 64)": ("tiny", 16, 64),
    "cpu (efficientnet-lite0, crop 193)": ("efficientnet-lite0", 64, 193),
}


def make_video(path: Path, count: int) -> None:
    """An 854x480 mp4 of `count` frames: a striped disk moving along a Lissajous path over noise."""
    import cv2

    from lsevos.data.io import write_video

    rng = np.random.default_rng(0)
    background = rng.integers(40, 120, (*SIZE, 3), dtype=np.uint8)

    def frames():
        for index in range(count):
            frame = background.copy()
            centre = (int(427 + 250 * np.sin(index / 23)), int(240 + 120 * np.sin(index / 37)))
            cv2.circle(frame, centre, 60, (200, 60, 40), thickness=-1)
            cv2.line(frame, (centre[0] - 60, centre[1]), (centre[0] + 60, centre[1]), (240, 240, 90), 8)
            yield frame

    write_video(path, frames(), fps=25)


FIRST_BOX = "367,180,487,300"  # the disk (radius 60) at its frame-0 centre (427, 240)


def child(args: argparse.Namespace) -> None:
    """Run one scan in this process and print {"frames", "seconds", "peak_rss_mb"} as JSON."""
    import torch

    torch.set_num_threads(2)
    from lsevos.video.boxes import parse_box
    from lsevos.video.pipeline import scan
    from lsevos.video.settings import VideoSettings

    settings = VideoSettings(crop_size=args.crop, device="cpu")
    start = time.perf_counter()
    frames = scan(args.video, args.checkpoint, "ours", settings, args.out, parse_box(args.box))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": frames, "seconds": seconds, "peak_rss_mb": peak}))


def run_child(video: Path, checkpoint: Path, crop: int, out: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--video",
        str(video),
        "--checkpoint",
        str(checkpoint),
        "--crop",
        str(crop),
        "--out",
        str(out),
        "--box",
        FIRST_BOX,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def save_model(path: Path, backbone: str, embed_dim: int) -> None:
    import torch

    from lsevos.model.lse_net import LSENet
    from lsevos.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(path, LSENet(backbone, embed_dim=embed_dim, pretrained=False), step=0, config={})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", type=int, default=500, help="frames of the long video (memory)")
    parser.add_argument("--short", type=int, default=100, help="frames of the short video (memory)")
    parser.add_argument("--speed-frames", type=int, default=60, help="frames timed per configuration")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--video", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--crop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--box", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    report: dict = {"cores": 2, "frame_size": list(SIZE), "speed": {}, "memory": {}}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for name, (backbone, embed_dim, crop) in CONFIGURATIONS.items():
            checkpoint = work / f"{backbone}.pt"
            save_model(checkpoint, backbone, embed_dim)
            video = work / "speed.mp4"
            make_video(video, args.speed_frames)
            result = run_child(video, checkpoint, crop, work / f"scan-{backbone}")
            report["speed"][name] = {**result, "fps": result["frames"] / result["seconds"]}
            print(f"{name}: {report['speed'][name]['fps']:.2f} frames/s", file=sys.stderr)
        backbone, embed_dim, crop = CONFIGURATIONS["demo (tiny, crop 64)"]
        for count in (args.short, args.long):
            video = work / f"memory-{count}.mp4"
            make_video(video, count)
            result = run_child(video, work / f"{backbone}.pt", crop, work / f"memory-{count}")
            report["memory"][str(count)] = result
            print(f"{count} frames: peak RSS {result['peak_rss_mb']:.0f} MB", file=sys.stderr)
            video.unlink()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "video.json").write_text(json.dumps(report, indent=2))
    lines = [
        "# Video stage: scan speed and memory (2 torch threads, 854x480 frames)",
        "",
        "| configuration | frames | seconds | frames/s | peak RSS (MB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, result in report["speed"].items():
        lines.append(
            f"| {name} | {result['frames']} | {result['seconds']:.1f} | {result['fps']:.2f} | "
            f"{result['peak_rss_mb']:.0f} |"
        )
    lines += ["", "| video length (frames, demo model) | seconds | peak RSS (MB) |", "| ---: | ---: | ---: |"]
    for count, result in report["memory"].items():
        lines.append(f"| {count} | {result['seconds']:.1f} | {result['peak_rss_mb']:.0f} |")
    (OUT_DIR / "video.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
