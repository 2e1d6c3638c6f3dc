"""Loss-curve figure of a pretraining log."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from lsevos.data.io import atomic_output
from lsevos.errors import DataError


def read_loss_log(path: str | os.PathLike) -> dict[str, list[float]]:
    """Columns of a loss CSV (`step`, `total`, one per loss) as lists; `DataError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: loss log not found; write it with `lsevos pretrain --log {path}`")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "step" not in rows[0]:
        raise DataError(f"{path}: no logged steps (expected a CSV with a 'step' column and one row per log)")
    try:
        return {column: [float(row[column]) for row in rows] for column in rows[0]}
    except (TypeError, ValueError) as error:
        raise DataError(f"{path}: a value is not a number ({error}); rerun the pretraining") from error


def plot_losses(log: str | os.PathLike, out: str | os.PathLike) -> None:
    """Write a figure of every loss column of `log` against the step (log-scale y axis) to `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = read_loss_log(log)
    figure, axis = plt.subplots(figsize=(6, 4))
    for name, values in columns.items():
        if name != "step":
            axis.plot(columns["step"], values, label=name, linewidth=2 if name == "total" else 1)
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    if all(value > 0 for name, values in columns.items() if name != "step" for value in values):
        axis.set_yscale("log")
    axis.set_title(Path(log).name)
    axis.legend()
    figure.tight_layout()
    out = Path(out)
    with atomic_output(out) as temporary:
        figure.savefig(temporary, format=out.suffix.lstrip(".") or "png")
    plt.close(figure)
