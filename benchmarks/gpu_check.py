"""`make bench-gpu`: the prepared GPU check, one command of at most ~8 minutes on a CUDA machine.

    python benchmarks/gpu_check.py                  on a CUDA machine: everything below, device cuda
    python benchmarks/gpu_check.py --device cpu --quick   the same code paths at toy sizes (a test runs it)

1. the paper-smoke (tests/paper_smoke/run_paper_smoke.py) with `device: cuda` (skipped with --no-smoke);
2. ResNet-101 DeepLab (output stride 8) at 321x321, batch 7: forward and train-step time (all four heads,
   as pretraining stage 3 computes them), in fp32 and in bf16 autocast;
3. the pretraining loader (lsevos.train.pretrain.step_batches on the smoke's VOC+SBD archives, or the
   built-in static images): batches/s with 0 and N workers, against the GPU's train-step rate;
4. the scan: frames/s of `lsevos.video.steps.scan` on the smoke's DAVIS sequence (or a built-in one);
and writes the figures to benchmarks/out/gpu_check.json. The estimate of the full paper run
(docs/experiments.md, E18) rests on the train-step and scan figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(function, device: torch.device, repeats: int) -> float:
    """Median seconds of `function()` over `repeats` runs after one warm-up."""
    function()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        _sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def network_figures(device: torch.device, crop: int, batch: int, repeats: int, backbone: str) -> dict:
    from lsevos.model.lse_net import LSENet

    model = LSENet(backbone, 64, pretrained=False).to(device)
    images = torch.rand(batch, 3, crop, crop, device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
    figures = {"backbone": backbone, "crop": crop, "batch": batch}
    for amp in (False, True):
        tag = "bf16" if amp else "fp32"

        def forward(amp=amp):
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                model.eval()(images)

        def step(amp=amp):
            model.train()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                output = model(images)
                loss = sum(value.float().mean() for value in vars(output).values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        figures[f"forward_ms_{tag}"] = 1000 * _timed(forward, device, repeats)
        figures[f"train_step_ms_{tag}"] = 1000 * _timed(step, device, repeats)
    if device.type == "cuda":
        figures["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 1e9
    return figures


def loader_figures(spec: dict, crop: int, batch: int, steps: int, workers: int, step_ms: float) -> dict:
    from lsevos.train.data import TrainingData
    from lsevos.train.pretrain import PretrainSettings, step_batches

    data = TrainingData(spec, crop)
    figures = {}
    for count in sorted({0, workers}):
        settings = PretrainSettings(iterations=steps, batch=batch, crop=crop, workers=count)
        start = time.perf_counter()
        for _ in step_batches(data, settings, 0):
            pass
        rate = steps / (time.perf_counter() - start)
        figures[f"batches_per_s_{count}_workers"] = rate
        figures[f"images_per_s_{count}_workers"] = rate * batch
    figures["gpu_steps_per_s"] = 1000 / step_ms
    figures["loader_over_gpu"] = figures[f"batches_per_s_{workers}_workers"] / figures["gpu_steps_per_s"]
    return figures


def scan_figures(frames: Path, first_mask: Path, checkpoint: Path, device: str, crop: int) -> dict:
    from lsevos.video.adaptation import Adaptation, Prompt
    from lsevos.video.settings import VideoSettings
    from lsevos.video.steps import first_box_from_mask, scan

    settings = VideoSettings.from_dict({"crop_size": crop, "device": device})
    box = first_box_from_mask(first_mask)
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        count = scan(frames, checkpoint, Adaptation("ours", settings), Path(scratch) / "scan", Prompt(box))
        seconds = time.perf_counter() - start
    return {"frames": count, "seconds": seconds, "frames_per_s": count / seconds}


def _smoke(device: str, results: str) -> dict:
    command = [sys.executable, str(REPO / "tests" / "paper_smoke" / "run_paper_smoke.py"), "--fresh"]
    command += [
        "--config",
        f"device={device}",
        f"results_dir={results}",
        f"resources_dir={results}/resources",
    ]
    start = time.perf_counter()
    run = subprocess.run(command, cwd=REPO)
    summary = REPO / results / "smoke.json"
    checks = json.loads(summary.read_text())["checks"] if summary.is_file() else {}
    return {"exit": run.returncode, "wall_s": time.perf_counter() - start, "checks_ok": all(
        check["ok"] for check in checks.values()) if checks else False}  # fmt: skip


def _tiny_inputs(scratch: Path) -> tuple[dict, Path, Path, Path]:
    """Built-in benchmark data and a tiny stage-3-like checkpoint for --quick."""
    from lsevos.data.synthetic import generate_benchmark
    from lsevos.train.pretrain import PretrainSettings, pretrain

    bench = scratch / "bench"
    generate_benchmark(bench, 0, {"static_train": 8, "static_val": 2, "sequences": ["glide-sc"]})
    spec = {"sources": [{"kind": "static", "root": str(bench / "static"), "split": "train"}]}
    settings = PretrainSettings(
        iterations=1, batch=2, crop=48, backbone="tiny", pretrained=False, embed_dim=8
    )
    checkpoint = pretrain("fp", spec, settings, scratch / "fp.pt", scratch / "fp.csv")
    davis = bench / "davis"
    return spec, davis / "JPEGImages/480p/glide-sc", davis / "Annotations/480p/glide-sc/00000.png", checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--quick", action="store_true", help="toy sizes (tiny backbone), no smoke")
    parser.add_argument("--no-smoke", action="store_true", help="skip the paper-smoke run")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=OUT / "gpu_check.json")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device here (use --device cpu --quick to try the code paths)", file=sys.stderr
        )
        return 2
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    figures: dict = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
    }
    started = time.perf_counter()
    smoke_results = "results/paper-smoke-gpu"
    if not (args.quick or args.no_smoke):
        figures["paper_smoke"] = _smoke(args.device, smoke_results)
        print(f"gpu_check: paper-smoke {figures['paper_smoke']}", flush=True)
    crop, batch, repeats, backbone = (48, 2, 2, "tiny") if args.quick else (321, 7, 5, "resnet101")
    figures["network"] = network_figures(device, crop, batch, repeats, backbone)
    print(f"gpu_check: network {figures['network']}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        smoke = REPO / smoke_results
        if args.quick or not (smoke / "pretrain" / "all" / "stage3.pt").is_file():
            spec, frames, first_mask, checkpoint = _tiny_inputs(Path(scratch))
            scan_crop = 48
        else:
            resources = smoke / "resources"
            spec = {"sources": [{"kind": "voc_sbd", "voc_root": str(resources / "voc2012/VOCdevkit/VOC2012"),
                                 "sbd_root": str(resources / "sbd/benchmark_RELEASE/dataset")}]}  # fmt: skip
            davis = resources / "davis2016" / "DAVIS"
            frames = next((davis / "JPEGImages" / "480p").iterdir())
            first_mask = davis / "Annotations" / "480p" / frames.name / "00000.png"
            checkpoint, scan_crop = smoke / "pretrain" / "all" / "stage3.pt", 321
        step_ms = figures["network"]["train_step_ms_fp32"]
        steps = 4 if args.quick else 20
        figures["loader"] = loader_figures(spec, crop, batch, steps, args.workers, step_ms)
        print(f"gpu_check: loader {figures['loader']}", flush=True)
        figures["scan"] = scan_figures(frames, first_mask, checkpoint, args.device, scan_crop)
        print(f"gpu_check: scan {figures['scan']}", flush=True)
    figures["wall_s"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"gpu_check: wrote {args.out}", flush=True)
    return 0 if figures.get("paper_smoke", {}).get("exit", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
