"""What a workflow run cost, per step, from Snakemake's per-job benchmark records.

The workflow's long rules write `benchmark:` files under `<results_dir>/benchmarks/` (Snakemake's TSV:
`s`, `h:m:s`, `max_rss` in MB, ..., `cpu_time` in s). `lsevos cost RESULTS_DIR` sums them per step:
jobs, wall seconds (total, mean, largest), CPU seconds and the largest resident memory, plus the wall
time the run needs at least on the given cores (sum of the job walls / cores, when each job keeps one core
busy, as the cpu configuration's one-thread jobs do; with more threads per job the CPU seconds / cores is
the bound). This is how the SLURM runtimes and the 2.5-hour bound of the cpu configuration are measured
rather than guessed. Every record under the folder counts, including those of an earlier run of jobs that
are no longer in the workflow: to measure one run alone, move `benchmarks/` aside before it.

A step is named from its file (the names `workflow/rules/*.smk` give): `stage*.tsv` -> pretrain,
`adapt.tsv`, `gtbox.tsv` -> scan_gtbox, `prior.tsv` -> scan_prior, `*_crf.tsv` -> crf, `grabcut.tsv`,
`evaluate_*.tsv` -> evaluate.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from lsevos.data.io import atomic_output
from lsevos.errors import DataError


@dataclass(frozen=True)
class JobCost:
    """One job's benchmark record."""

    step: str
    path: Path
    seconds: float
    cpu_seconds: float | None
    max_rss_mb: float | None


def step_of(path: Path) -> str:
    """The workflow step a benchmark file belongs to, from its file name (module docstring)."""
    stem = path.stem
    if stem.startswith("stage"):
        return "pretrain"
    if stem.startswith("evaluate_"):
        return "evaluate"
    if stem.endswith("_crf"):
        return "crf"
    if stem in ("gtbox", "prior"):
        return f"scan_{stem}"
    return stem


def _number(value: str | None) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):  # Snakemake writes "NA" or "-" when it could not measure
        return None
    return number if math.isfinite(number) else None


def read_job(path: Path) -> JobCost:
    """One Snakemake benchmark TSV (the mean of its records when `repeat()` wrote several)."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(
            f"{path}: cannot read the benchmark record ({error}); delete it and rerun the job"
        ) from None
    seconds = [_number(row.get("s")) for row in rows]
    if not seconds or None in seconds:
        raise DataError(
            f"{path}: not a Snakemake benchmark record (no 's' column with a number of seconds in every "
            "row); delete it and rerun the job"
        )

    def mean(key: str) -> float | None:
        values = [_number(row.get(key)) for row in rows]
        values = [value for value in values if value is not None]
        return sum(values) / len(values) if values else None

    return JobCost(step_of(path), path, sum(seconds) / len(seconds), mean("cpu_time"), mean("max_rss"))


def read_jobs(results_dir: str | Path) -> list[JobCost]:
    """Every benchmark record under `<results_dir>/benchmarks`."""
    root = Path(results_dir) / "benchmarks"
    paths = sorted(root.rglob("*.tsv")) if root.is_dir() else []
    if not paths:
        raise DataError(
            f"{root}: no benchmark records; run the workflow with this results_dir first (its long rules "
            "write them)"
        )
    return [read_job(path) for path in paths]


def summary_rows(jobs: Iterable[JobCost]) -> list[dict[str, object]]:
    """Per step (in first-seen order) and a `total` row: jobs, wall s (sum, mean, max), CPU s, max RSS."""
    groups: dict[str, list[JobCost]] = {}
    jobs = list(jobs)
    for job in jobs:
        groups.setdefault(job.step, []).append(job)
    groups["total"] = jobs

    def row(step: str, members: list[JobCost]) -> dict[str, object]:
        seconds = [job.seconds for job in members]
        cpu = [job.cpu_seconds for job in members if job.cpu_seconds is not None]
        rss = [job.max_rss_mb for job in members if job.max_rss_mb is not None]
        return {
            "step": step,
            "jobs": len(members),
            "wall_s": sum(seconds),
            "mean_s": sum(seconds) / len(seconds),
            "max_s": max(seconds),
            "cpu_s": sum(cpu) if cpu else None,
            "max_rss_mb": max(rss) if rss else None,
        }

    return [row(step, members) for step, members in groups.items()]


def _cell(value: object, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def cost_table(jobs: list[JobCost], cores: int) -> str:
    """Markdown: one row per step and the total, then the least wall time on `cores` cores."""
    lines = [
        "| step | jobs | wall s (sum) | mean s | max s | CPU s | max RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = summary_rows(jobs)
    for values in rows:
        cells = [values["step"], values["jobs"], values["wall_s"], values["mean_s"], values["max_s"]]
        cells += [values["cpu_s"], values["max_rss_mb"]]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    total, cpu = cast(float, rows[-1]["wall_s"]), cast("float | None", rows[-1]["cpu_s"])
    lines.append("")
    lines.append(
        f"{len(jobs)} jobs, {total / 3600:.2f} h of job time: at least {total / cores / 3600:.2f} h wall on "
        f"{cores} core(s) with one single-threaded job per core"
        + ("" if cpu is None else f" ({cpu / 3600:.2f} h of CPU time: at least {cpu / cores / 3600:.2f} h)")
        + "; Snakemake's own start and the short rules not included"
    )
    return "\n".join(lines) + "\n"


def _cost(args: argparse.Namespace) -> int:
    if args.cores < 1:
        raise DataError(f"--cores must be >= 1, got {args.cores}")
    if args.out:
        from lsevos.data.io import prepare_output_file

        prepare_output_file(args.out)
    table = cost_table(read_jobs(args.results_dir), args.cores)
    if args.out:
        with atomic_output(args.out) as temporary:
            temporary.write_text(table)
    print(table, end="")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    cost = subparsers.add_parser(
        "cost",
        help="what a workflow run cost per step (Snakemake benchmark records)",
        description="Sum the per-job benchmark records under RESULTS_DIR/benchmarks per workflow step.",
    )
    cost.add_argument("results_dir", help="the run's results_dir (e.g. results/cpu)")
    cost.add_argument("--cores", type=int, default=1, help="cores the jobs shared (default 1)")
    cost.add_argument("--out", help="also write the Markdown table to this file")
    cost.set_defaults(handler=_cost)
