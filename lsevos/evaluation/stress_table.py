"""The stress suite's table: mean J and F per mode (`lsevos.data.stress`) of each variant's per-sequence
metrics CSV (`lsevos evaluate` / `lsevos merge-metrics`), as Markdown."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lsevos.data.stress import MODES, read_suite
from lsevos.errors import DataError
from lsevos.evaluation.metric_files import Row, read_per_sequence


def mode_means(rows: dict[str, Row], modes: dict[str, str]) -> dict[str, tuple[float, float, int]]:
    """{mode: (mean J_M, mean F_M, sequences)} over the suite's sequences (`modes`: {sequence: mode}), in
    `MODES` order, plus `all`; rows of other sequences are ignored; a suite sequence without a row is a
    `DataError` (a mode's mean would silently cover part of it)."""
    missing = [name for name in modes if name not in rows]
    if missing:
        raise DataError(
            f"no metrics for stress sequence(s) {', '.join(missing)}; evaluate every sequence of the suite"
        )
    means: dict[str, tuple[float, float, int]] = {}
    for mode in [*MODES, "all"]:
        names = [name for name, of in modes.items() if mode in ("all", of)]
        if names:
            j = float(np.mean([rows[name]["J_M"] for name in names]))
            f = float(np.mean([rows[name]["F_M"] for name in names]))
            means[mode] = (j, f, len(names))
    return means


def stress_table(csv_paths: list[str | os.PathLike], suite: str | os.PathLike) -> str:
    """Markdown table: one row per mode (and `all`), the number of sequences, and J / F (in %, one decimal)
    of each CSV; a CSV's variant is its file name without `.csv`."""
    if not csv_paths:
        raise DataError("give at least one per-sequence metrics CSV (RESULTS/metrics/davis/<variant>.csv)")
    modes = read_suite(Path(suite))
    variants = [Path(path).name.removesuffix(".csv") for path in csv_paths]
    per_variant = [mode_means(read_per_sequence(path), modes) for path in csv_paths]
    header = ["mode", "sequences", *(f"{variant} {measure}" for variant in variants for measure in "JF")]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for mode, (_, _, count) in per_variant[0].items():
        cells = [mode, str(count)]
        for means in per_variant:
            j, f, _ = means[mode]
            cells += [f"{100 * j:.1f}", f"{100 * f:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
