"""Forward and train-step time per image and peak memory of `LSENet` per backbone and crop size.

CPU cases (torch threads = 2): tiny and efficientnet-lite0 at the demo crop (64) and the cpu crop (161);
resnet101 at 321 on CUDA when a GPU is present. A train step is the stage-3 step (all four losses,
backward, SGD update) on a batch of 2 random images with a random 3-instance map. Each case runs in a
fresh process so that its peak resident memory (CPU) or `torch.cuda.max_memory_allocated` (GPU) is its
own. Writes `benchmarks/out/model.json` and `benchmarks/out/model.md`.

Run: `python benchmarks/bench_model.py [--repeats 5]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "out"
CPU_CASES = [("tiny", 64), ("tiny", 161), ("efficientnet-lite0", 64), ("efficientnet-lite0", 161)]
GPU_CASES = [("resnet101", 321)]
BATCH = 2


def measure(backbone: str, crop: int, device: str, repeats: int) -> dict:
    """Time one case in this process; returns the JSON row."""
    import torch

    from lsevos.model.lse_net import LSENet
    from lsevos.train.data import Batch
    from lsevos.train.pretrain import PretrainSettings, stage_losses

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = LSENet(backbone, embed_dim=64, pretrained=False).to(device)
    instances = torch.zeros(BATCH, crop, crop, dtype=torch.long)
    third = crop // 3
    (
        instances[:, :third, :third],
        instances[:, third : 2 * third, third:],
        instances[:, 2 * third :, :third],
    ) = 1, 2, 3
    images = torch.rand(BATCH, 3, crop, crop)
    batch = Batch(images=images.to(device), instances=instances.to(device))
    settings = PretrainSettings(backbone=backbone, pretrained=False, crop=crop, batch=BATCH)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def synchronise() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    def forward() -> None:
        with torch.no_grad():
            model.eval()(batch.images)
        synchronise()

    def train_step() -> None:
        model.train()
        losses = stage_losses("3", model, batch, settings, step=1)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
        synchronise()

    timings = {}
    for name, function in (("forward", forward), ("train_step", train_step)):
        function()
        start = time.perf_counter()
        for _ in range(repeats):
            function()
        timings[name] = (time.perf_counter() - start) / repeats / BATCH * 1000
    if device == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "backbone": backbone,
        "crop": crop,
        "device": device,
        "threads": torch.get_num_threads(),
        "forward_ms_per_image": round(timings["forward"], 1),
        "train_step_ms_per_image": round(timings["train_step"], 1),
        "peak_memory_mb": round(peak_mb, 1),
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--case", nargs=3, metavar=("BACKBONE", "CROP", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        backbone, crop, device = args.case
        print(json.dumps(measure(backbone, int(crop), device, args.repeats)))
        return 0
    import torch

    cases = [(backbone, crop, "cpu") for backbone, crop in CPU_CASES]
    if torch.cuda.is_available():
        cases += [(backbone, crop, "cuda") for backbone, crop in GPU_CASES]
    rows = []
    for backbone, crop, device in cases:
        command = [
            sys.executable,
            __file__,
            "--repeats",
            str(args.repeats),
            "--case",
            backbone,
            str(crop),
            device,
        ]
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "model.json").write_text(json.dumps({"batch": BATCH, "rows": rows}, indent=2) + "\n")
    lines = [
        "## Model: forward and train-step time per image, peak memory",
        "",
        f"Stage-3 train step (four losses, SGD), batch {BATCH}, torch threads 2 on CPU.",
        "",
        "| backbone | crop | device | params (M) | forward ms/img | train step ms/img | peak memory MB |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['backbone']} | {r['crop']} | {r['device']} | {r['parameters_m']} | "
        f"{r['forward_ms_per_image']} | {r['train_step_ms_per_image']} | {r['peak_memory_mb']} |"
        for r in rows
    ]
    if not torch.cuda.is_available():
        lines += ["", "resnet101 at 321: no CUDA device here (run on a GPU machine)."]
    (OUT / "model.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT / 'model.json'} and {OUT / 'model.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
