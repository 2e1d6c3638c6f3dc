"""Video-stage benchmark: the scan against its own predictor and against GrabCut, side by side, and memory.

Speed (one fresh process per configuration, 2 torch threads, a generated 854x480 mp4 of a textured disk
moving over noise; random weights: speed does not depend on them):
- `predictor`: the per-frame predictor a scan calls (`lsevos.video.saliency.mix` of the network
  with only the heads its family reads, plus the saliency prior when the configuration mixes it in), timed
  call by call inside the scan (per frame), and alone on one crop of the configuration's size (median of
  the timed calls after two warm-ups); `network`: the same without the prior, alone;
- `scan`: `lsevos.video.steps.scan` over the whole video (decode, crop, predictor, paste back, masks and
  probabilities written), per frame;
- `grabcut`: OpenCV GrabCut (5 iterations) per frame in the object's box, the Table-1 baseline's cost.
The ratio scan / predictor (inside the scan, the same frames at the same moment) is what the scan's own
machinery (decode, crop, paste back, PNG writes, box updates, model load) costs on top of the predictor.

Memory: the peak resident memory (ru_maxrss) of a process that runs one scan and nothing else, as the
video grows (demo model).

    python benchmarks/bench_video.py [--long 500 --short 100 --speed-frames 60]

Writes benchmarks/out/video.json and benchmarks/out/video.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).resolve().parent / "out"
SIZE = (480, 854)
CONFIGURATIONS = {  # name: (backbone, embed_dim, crop, saliency weight): as config/demo.yaml, config/cpu.yaml
    "demo (tiny, crop 48)": ("tiny", 16, 48, 0.0),
    "cpu (efficientnet-lite0, crop 241, saliency prior)": ("efficientnet-lite0", 32, 241, 0.7),
}
PREDICTOR_CALLS = 12


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


def _median_ms(call, repeats: int) -> float:
    """Median ms of `repeats` calls after two warm-up calls (first-call allocations, thread pools): a
    median, as the scan's per-frame figure is a mean over many frames."""
    call()
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def child(args: argparse.Namespace) -> None:
    """Time the predictor, the scan and GrabCut in this process; print them as JSON."""
    import torch

    torch.set_num_threads(2)
    from lsevos.data.io import FrameSource
    from lsevos.evaluation.grabcut import grabcut_in_box
    from lsevos.video import adaptation
    from lsevos.video.adaptation import Adaptation, Prompt
    from lsevos.video.boxes import parse_box
    from lsevos.video.inference import make_predictor, video_predictor
    from lsevos.video.settings import VideoSettings
    from lsevos.video.steps import scan

    box = parse_box(args.box)
    settings = VideoSettings(crop_size=args.crop, device="cpu", saliency_weight=args.saliency)
    if args.scan_only:  # memory: this process's peak is the scan's own
        frames = scan(args.video, args.checkpoint, Adaptation("ours", settings), args.out, Prompt(box))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"frames": frames, "peak_rss_mb": peak}))
        return
    model = load_model(args.checkpoint)
    frame = next(iter(FrameSource(args.video)))[1]
    crop = np.ascontiguousarray(frame[: args.crop, : args.crop])
    predictor_ms = _median_ms(lambda: video_predictor(model, "fused", settings)(crop), args.predictor_calls)
    network = make_predictor(model, "fused", torch.device("cpu"))
    network_ms = _median_ms(lambda: network(crop), args.predictor_calls)
    # The predictor's own time inside the scan, call by call: the scan's overhead measured on the same
    # frames at the same moment (this machine's speed drifts by 20% between runs).
    inside: list[float] = []

    mix = adaptation.mix  # the scan's predictor: the network with the prior mixed in (weight 0: alone)

    def timed_predictor(*arguments, **options):
        predict = mix(*arguments, **options)

        def timed(crop_image):
            begin = time.perf_counter()
            result = predict(crop_image)
            inside.append(time.perf_counter() - begin)
            return result

        return timed

    adaptation.mix = timed_predictor
    start = time.perf_counter()
    frames = scan(args.video, args.checkpoint, Adaptation("ours", settings), args.out, Prompt(box))
    scan_ms = 1000.0 * (time.perf_counter() - start) / frames
    adaptation.mix = mix
    predictor_in_scan_ms = 1000.0 * sum(inside) / frames
    grabcut_frames = [image for _, image in itertools.islice(FrameSource(args.video), args.grabcut_frames)]
    start = time.perf_counter()
    for image in grabcut_frames:
        grabcut_in_box(image, box, 5)
    grabcut_ms = 1000.0 * (time.perf_counter() - start) / len(grabcut_frames)
    print(
        json.dumps(
            {
                "frames": frames,
                "crop": args.crop,
                "saliency_weight": args.saliency,
                "predictor_ms": predictor_ms,
                "network_ms": network_ms,
                "scan_ms_per_frame": scan_ms,
                "grabcut_ms_per_frame": grabcut_ms,
                "predictor_in_scan_ms": predictor_in_scan_ms,
                "scan_over_predictor": scan_ms / predictor_in_scan_ms,
                "scan_over_grabcut": scan_ms / grabcut_ms,
                "fps": 1000.0 / scan_ms,
            }
        )
    )


def load_model(checkpoint: Path):
    from lsevos.video.settings import VideoSettings
    from lsevos.video.steps import _load

    return _load(checkpoint, VideoSettings(device="cpu"))


def run_child(
    video: Path,
    checkpoint: Path,
    crop: int,
    out: Path,
    saliency: float = 0.0,
    grabcut: int = 1,
    calls: int = 2,
    scan_only: bool = False,
) -> dict:
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
        "--saliency",
        str(saliency),
        "--grabcut-frames",
        str(grabcut),
        "--predictor-calls",
        str(calls),
        *(["--scan-only"] if scan_only else []),
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
    parser.add_argument("--grabcut-frames", type=int, default=10, help="frames GrabCut is timed on")
    parser.add_argument("--scan-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="where video.json and video.md go")
    parser.add_argument(
        "--predictor-calls", type=int, default=PREDICTOR_CALLS, help="timed predictor calls (best of)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--video", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--crop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--box", help=argparse.SUPPRESS)
    parser.add_argument("--saliency", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    report: dict = {
        "cores": os.cpu_count(),
        "torch_threads": 2,
        "frame_size": list(SIZE),
        "speed": {},
        "memory": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        video = work / "speed.mp4"
        make_video(video, args.speed_frames)
        for name, (backbone, embed_dim, crop, saliency) in CONFIGURATIONS.items():
            checkpoint = work / f"{backbone}.pt"
            save_model(checkpoint, backbone, embed_dim)
            result = run_child(
                video, checkpoint, crop, work / f"scan-{backbone}", saliency, args.grabcut_frames
            )
            report["speed"][name] = result
            print(
                f"{name}: scan {result['scan_ms_per_frame']:.0f} ms/frame, predictor "
                f"{result['predictor_in_scan_ms']:.0f} ms (x{result['scan_over_predictor']:.2f})",
                file=sys.stderr,
            )
        backbone, embed_dim, crop, _ = CONFIGURATIONS["demo (tiny, crop 48)"]
        for count in (args.short, args.long):
            video = work / f"memory-{count}.mp4"
            make_video(video, count)
            result = run_child(video, work / f"{backbone}.pt", crop, work / f"memory-{count}", scan_only=True)
            report["memory"][str(count)] = result
            print(f"{count} frames: peak RSS {result['peak_rss_mb']:.0f} MB", file=sys.stderr)
            video.unlink()
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "video.json").write_text(json.dumps(report, indent=2))
    lines = [
        f"# Video stage: scan vs its predictor vs GrabCut ({report['cores']} cores, 2 torch threads, "
        "854x480)",
        "",
        "| configuration | network alone ms | predictor alone ms | predictor in scan ms/frame | "
        "scan ms/frame | scan / predictor | GrabCut ms/frame | "
        "scan / GrabCut | frames/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in report["speed"].items():
        lines.append(
            f"| {name} | {r['network_ms']:.1f} | {r['predictor_ms']:.1f} | {r['predictor_in_scan_ms']:.1f} | "
            f"{r['scan_ms_per_frame']:.1f} | "
            f"{r['scan_over_predictor']:.2f} | {r['grabcut_ms_per_frame']:.1f} | "
            f"{r['scan_over_grabcut']:.2f} | {r['fps']:.2f} |"
        )
    lines += [
        "",
        "| video length (frames, demo model) | peak RSS of the scan (MB) |",
        "| ---: | ---: |",
    ]
    for count, r in report["memory"].items():
        lines.append(f"| {count} | {r['peak_rss_mb']:.0f} |")
    (out_dir / "video.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
