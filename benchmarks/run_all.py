"""Run every benchmark (`benchmarks/bench_*.py`) in its own process; each writes benchmarks/out/<name>.json
and a markdown section. This script prints one table of the ratios measured in this run (scan / its
predictor, scan / GrabCut per frame, evaluator speed-up over vos-benchmark, frames/s, the core count) and
writes it with the sections to benchmarks/out/README.md."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def ratios(out: Path = OUT) -> str:
    """The summary table from the benchmarks' JSON files of this run (in `out`)."""
    import json
    import os

    lines = [
        f"## Ratios of this run ({os.cpu_count()} cores, 2 torch threads)",
        "",
        "| what | figure | goal |",
        "| --- | ---: | --- |",
    ]
    video = out / "video.json"
    if video.is_file():
        for name, r in json.loads(video.read_text())["speed"].items():
            lines += [
                f"| scan / predictor per frame, {name} | {r['scan_over_predictor']:.2f} "
                f"({r['scan_ms_per_frame']:.0f} / {r['predictor_in_scan_ms']:.0f} ms) | <= 1.2 (cpu) |",
                f"| network alone at crop {r['crop']}, {name} | {r['network_ms']:.1f} ms | |",
                f"| scan / GrabCut per frame, {name} | {r['scan_over_grabcut']:.2f} | |",
                f"| scan frames/s, {name} | {r['fps']:.2f} | |",
            ]
    segment = out / "segment.json"
    if segment.is_file():
        record = json.loads(segment.read_text())
        for name, r in record["runs"].items():
            lines.append(
                f"| `lsevos segment` frames/s with adaptation, {name} ({record['clip']}) | "
                f"{r['fps']:.2f} ({r['seconds']:.0f} s, peak {r['peak_rss_mb']:.0f} MB) | "
                f"{'>= 2, <= 1024 MB' if name == 'cpu' else ''} |"
            )
        lines.append(f"| `lsevos segment` speed-up over full-size adaptation | x{record['speedup']:.2f} | |")
    evaluate = out / "evaluate.json"
    if evaluate.is_file():
        record = json.loads(evaluate.read_text())
        same = all(run["same_means"] for run in record["runs"])
        slowest = min(run["speedup"] for run in record["runs"])
        lines.append(
            f"| `lsevos evaluate` speed-up over vos-benchmark (same J/F: {same}) | "
            f"x{record['mean_speedup']:.2f} (min x{slowest:.2f}) | >= 3 |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    failures = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        print(
            f"== {script.name}: exit {result.returncode} after {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        if result.returncode:
            failures.append(script.name)
    sections = [path.read_text() for path in sorted(OUT.glob("*.md")) if path.name != "README.md"]
    summary = ratios()
    (OUT / "README.md").write_text("# Benchmarks\n\n" + summary + "\n" + "\n\n".join(sections))
    print(summary)
    print(f"wrote {OUT / 'README.md'}")
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
