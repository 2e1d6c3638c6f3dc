"""`make paper-smoke`: the DAG of config/config.yaml executed for real on a CPU, end to end.

    python tests/paper_smoke/run_paper_smoke.py [--cores 2] [--fresh]

1. Builds small archives in the real release layouts (tests/paper_smoke/archives.py) and serves them from
   an HTTP server on 127.0.0.1; `$LSEVOS_DOWNLOAD_REGISTRY` points `lsevos download` at it (with the
   archives' own MD5s; the published pins stay in force for the real URLs).
2. Places a state_dict with torchvision's ResNet-101 names and shapes (deterministic, not ImageNet-trained)
   where `load_resnet101_imagenet` looks (`$TORCH_HOME/hub/checkpoints/resnet101-63fe2227.pth`).
3. Runs `snakemake tables --cores N --configfile config/config.yaml config/paper-smoke.yaml`: downloads,
   the augmented list, four pretraining stages of ResNet-101 at crop 321, every variant of both datasets,
   CRF, GrabCut, evaluation, Tables 1-5 and the figures.
4. Checks what must hold and writes `results/paper-smoke/smoke.json` (wall time, checks).
Exit 0 only when every check holds.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from archives import augmented_count, build_archives  # noqa: E402

ARCHIVES = {
    "davis2016": "DAVIS-data.zip",
    "segtrackv2": "SegTrackv2.zip",
    "voc2012": "VOCtrainval_11-May-2012.tar",
    "sbd": "benchmark.tgz",
}


def smoke_config() -> dict:
    return yaml.safe_load((REPO / "config" / "paper-smoke.yaml").read_text())


class _Server:
    """Serves `folder` on 127.0.0.1 (a free port) and records every request's client and path."""

    def __init__(self, folder: Path):
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                server.requests.append((self.client_address[0], self.path))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _resnet_weights(torch_home: Path) -> Path:
    """A state_dict in torchvision's ResNet-101 layout (names, shapes, the fc layer), seeded."""
    import torch

    from lsevos.model.backbones import RESNET101_FILE, build_backbone

    path = torch_home / "hub" / "checkpoints" / RESNET101_FILE
    if not path.is_file():
        torch.manual_seed(0)
        backbone = build_backbone("resnet101", pretrained=False)
        # BatchNorm statistics of random images, so that the frozen statistics keep activations in range
        # through 101 layers, as ImageNet statistics do (with mean 0 / var 1 they grow without bound).
        for module in backbone.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.train()
                module.momentum = None  # cumulative average
        with torch.no_grad():
            for _ in range(2):
                backbone(torch.rand(4, 3, 129, 129))
        state = backbone.state_dict()
        state["fc.weight"], state["fc.bias"] = torch.randn(1000, 2048) * 0.01, torch.zeros(1000)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path.with_suffix(".tmp"))
        os.replace(path.with_suffix(".tmp"), path)
    return path


def _check(checks: dict, name: str, ok: bool, detail: str) -> None:
    checks[name] = {"ok": bool(ok), "detail": detail}
    print(f"paper-smoke: {'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)


def verify(results: Path, resources: Path, server_requests: list[tuple[str, str]]) -> dict:
    """Every acceptance check of the smoke, as {name: {ok, detail}}."""
    from lsevos.train.checkpoint import load_checkpoint

    checks: dict = {}
    tables = [results / "tables" / f"table{number}.md" for number in range(1, 6)]
    missing = [str(path) for path in tables if not path.is_file()]
    _check(checks, "tables", not missing, f"missing {missing}" if missing else "table1.md ... table5.md")
    figures = sorted(path.name for path in (results / "figures").glob("*.png"))
    _check(checks, "figures", bool(figures), ", ".join(figures) or "none")
    stage3 = load_checkpoint(results / "pretrain" / "all" / "stage3.pt")
    # (a checkpoint of this run: trusted; load_checkpoint reads it with weights_only=True anyway)
    backbone = stage3["model_config"]["backbone"]
    crop = stage3["config"]["settings"]["crop"]
    _check(
        checks,
        "stage3 holds a ResNet-101",
        backbone == "resnet101" and crop == 321,
        f"{backbone}, crop {crop}",
    )
    data = stage3["config"]["data"]["sources"]
    listing = resources / "train_aug.txt"
    count = len(listing.read_text().split()) if listing.is_file() else -1
    _check(
        checks,
        "pretraining read the augmented list",
        [s["kind"] for s in data] == ["voc_sbd"]
        and data[0]["list"] == str(listing.relative_to(REPO))
        and count == augmented_count(),
        f"sources {[s['kind'] for s in data]}, {listing.name}: {count} ids (expected {augmented_count()})",
    )
    fetched = resources / "torch_home" / "hub" / "checkpoints" / "resnet101-63fe2227.pth"
    placed = results / "torch_home" / "hub" / "checkpoints" / "resnet101-63fe2227.pth"
    _check(
        checks,
        "ImageNet weights fetched by the local rule",
        fetched.is_file() and placed.is_file() and fetched.read_bytes() == placed.read_bytes(),
        f"{fetched} (copied from the placed {placed})",
    )
    logs = {name: resources / "logs" / f"download_{name}.log" for name in ARCHIVES}
    local = {
        name: path.is_file() and "from http://127.0.0.1:" in path.read_text() for name, path in logs.items()
    }
    clients = sorted({client for client, _ in server_requests})
    _check(
        checks,
        "archives came from 127.0.0.1",
        all(local.values()) and all(client == "127.0.0.1" for client in clients),
        f"download logs {local}, server clients {clients}, requests {[p for _, p in server_requests]}",
    )
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", default="2", help="snakemake --cores (default 2)")
    parser.add_argument("--fresh", action="store_true", help="delete the smoke's results folder first")
    parser.add_argument(
        "--config", nargs="+", default=[], metavar="KEY=VALUE", help="top-level overrides, e.g. device=cuda"
    )
    args = parser.parse_args(argv)
    config = smoke_config()
    overrides = dict(item.split("=", 1) for item in args.config)
    config.update(overrides)
    results, resources = REPO / config["results_dir"], REPO / config["resources_dir"]
    if args.fresh and results.exists():
        shutil.rmtree(results)
    served, torch_home = results / "served", results / "torch_home"
    started = time.monotonic()
    names = build_archives(served) if not all((served / f).is_file() for f in ARCHIVES.values()) else None
    print(f"paper-smoke: archives in {served} ({names or 'kept from the last run'})", flush=True)
    weights = _resnet_weights(torch_home)
    print(f"paper-smoke: ResNet-101 weights (torchvision layout) at {weights}", flush=True)
    server = _Server(served)
    registry = results / "download_registry.json"
    registry.write_text(
        json.dumps(
            {name: {"url": f"{server.base}/{f}", "md5": _md5(served / f)} for name, f in ARCHIVES.items()}
        )
    )
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "LSEVOS_DOWNLOAD_REGISTRY": str(registry),
        "TORCH_HOME": str(torch_home),
    }
    command = [
        str(bin_dir / "snakemake"),
        "tables",
        "--cores",
        args.cores,
        "--configfile",
        "config/config.yaml",
        "config/paper-smoke.yaml",
    ]
    if overrides:
        command += ["--config", *args.config]
    print(f"paper-smoke: {' '.join(command)}", flush=True)
    try:
        run = subprocess.run(command, cwd=REPO, env=env)
    finally:
        server.close()
    wall = time.monotonic() - started
    if run.returncode != 0:
        print(f"paper-smoke: snakemake failed (exit {run.returncode}) after {wall:.0f} s", file=sys.stderr)
        return 1
    checks = verify(results, resources, server.requests)
    summary = {"wall_s": round(wall, 1), "cores": args.cores, "checks": checks}
    (results / "smoke.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"paper-smoke: wall time {wall / 60:.1f} min; summary in {results / 'smoke.json'}", flush=True)
    return 0 if all(check["ok"] for check in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
