"""Metric files: per-sequence CSV (`sequence,J_M,J_R,J_D,F_M,F_R,F_D` + a `mean` row), per-frame CSV
(`sequence,frame,J,F`, `frame` the frame's name, e.g. `00003`) and the metrics JSON (dataset means and
J&F, for DVC). All written atomically.

Values are fractions in [0, 1] written with full float precision. The `mean` row averages the rows
above it (sequences, or objects for multi-object data such as SegTrack v2).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from lsevos.data.io import atomic_output
from lsevos.errors import DataError
from lsevos.evaluation.evaluate import ObjectScores

MEASURE_COLUMNS = ("J_M", "J_R", "J_D", "F_M", "F_R", "F_D")
PER_SEQUENCE_HEADER = ("sequence", *MEASURE_COLUMNS)
PER_FRAME_HEADER = ("sequence", "frame", "J", "F")
MEAN_ROW = "mean"

Row = dict[str, float]


def sequence_row(scores: ObjectScores) -> Row:
    """Mean/Recall/Decay of J and F of one object, keyed by `MEASURE_COLUMNS`."""
    j, f = scores.j_statistics, scores.f_statistics
    return dict(zip(MEASURE_COLUMNS, (j.mean, j.recall, j.decay, f.mean, f.recall, f.decay), strict=True))


def mean_row(rows: dict[str, Row]) -> Row:
    """Column means over the sequence rows."""
    if not rows:
        raise DataError("no sequence rows to average; evaluate at least one sequence")
    return {column: float(np.mean([row[column] for row in rows.values()])) for column in MEASURE_COLUMNS}


def summary(rows: dict[str, Row]) -> dict[str, float | int]:
    """Dataset means of the six measures, `JF` = (J_M + F_M) / 2, `mIoU` (mean J over objects, frames
    1..N-2, the SegTrack v2 figure) and `count` (rows averaged)."""
    means = mean_row(rows)
    return {
        **means,
        "JF": (means["J_M"] + means["F_M"]) / 2.0,
        "mIoU": means["J_M"],
        "count": len(rows),
    }


def _write_csv(path: str | os.PathLike, header: tuple[str, ...], rows: Iterable[list[str]]) -> None:
    """Write `header` and `rows` as the CSV file `path`, atomically."""
    with atomic_output(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _finite(text: str | None) -> float:
    """The number in a CSV cell; `ValueError` for nan or inf too (a mean over them would be meaningless)."""
    value = float(text)  # type: ignore[arg-type]  # None (a short row) raises TypeError
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not finite")
    return value


def _read_csv(path: Path, header: tuple[str, ...], kind: str, option: str) -> Iterator[tuple[int, dict]]:
    """(line number, record) of each row of the `kind` metrics CSV `path` (written by `lsevos evaluate
    OPTION`); `DataError` naming the file if it is missing or its header is not `header`."""
    if path.is_dir():
        raise DataError(f"{path}: a folder, not a {kind} metrics file; give the CSV file itself")
    if not path.is_file():
        raise DataError(f"{path}: {kind} metrics file not found; run `lsevos evaluate {option} {path}`")
    # `lsevos evaluate` always writes the per-sequence CSV (`--out`); other files need their option
    command = "lsevos evaluate" if option == "--out" else f"lsevos evaluate {option}"
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != header:
                found = (
                    "no header (an empty file)"
                    if reader.fieldnames is None
                    else f"header {reader.fieldnames}"
                )
                raise DataError(f"{path}: {found}, not {','.join(header)}; write it with `{command}`")
            yield from enumerate(reader, start=2)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV (not UTF-8); write it with `{command}`") from None


def write_per_sequence(path: str | os.PathLike, rows: dict[str, Row]) -> None:
    """Write `rows` ({sequence: row}) and the mean row as the per-sequence CSV."""
    means = mean_row(rows)
    _write_csv(
        path,
        PER_SEQUENCE_HEADER,
        (
            [name, *(repr(float(row[column])) for column in MEASURE_COLUMNS)]
            for name, row in [*rows.items(), (MEAN_ROW, means)]
        ),
    )


def read_per_sequence(path: str | os.PathLike) -> dict[str, Row]:
    """Sequence rows of a per-sequence CSV (its mean row is dropped); `DataError` naming the file if it is
    missing or malformed."""
    path = Path(path)
    rows: dict[str, Row] = {}
    for line_number, record in _read_csv(path, PER_SEQUENCE_HEADER, "per-sequence", "--out"):
        name = record["sequence"]
        if name == MEAN_ROW:
            continue
        if name in rows:
            raise DataError(f"{path}:{line_number}: sequence {name} listed twice; keep one row for it")
        try:
            rows[name] = {column: _finite(record[column]) for column in MEASURE_COLUMNS}
        except (TypeError, ValueError):
            raise DataError(f"{path}:{line_number}: a value of {name} is not a finite number") from None
    if not rows:
        raise DataError(f"{path}: no sequence rows; evaluate at least one sequence")
    return rows


def write_per_frame(path: str | os.PathLike, frames: Iterable[tuple[str, str | int, float, float]]) -> None:
    """Write `(sequence, frame name, J, F)` tuples as the per-frame CSV."""
    _write_csv(
        path,
        PER_FRAME_HEADER,
        ([name, str(frame), repr(float(j)), repr(float(f))] for name, frame, j, f in frames),
    )


def per_frame_tuples(scores: Iterable[ObjectScores]) -> Iterator[tuple[str, str, float, float]]:
    """`(sequence, frame name, J, F)` for every scored frame of every object (the frame's position when
    its name is unknown)."""
    for object_scores in scores:
        names = object_scores.frame_names or tuple(str(int(frame)) for frame in object_scores.frames)
        for frame, j, f in zip(names, object_scores.j, object_scores.f, strict=True):
            yield object_scores.name, frame, float(j), float(f)


def read_per_frame_rows(path: str | os.PathLike) -> list[tuple[str, str, float, float]]:
    """`(sequence, frame name, J, F)` rows of a per-frame CSV, names as written; `DataError` naming the
    file if it is missing or malformed."""
    path = Path(path)
    rows = []
    for line_number, record in _read_csv(path, PER_FRAME_HEADER, "per-frame", "--per-frame"):
        frame = (record["frame"] or "").strip()
        try:
            j, f = _finite(record["J"]), _finite(record["F"])
        except (TypeError, ValueError):
            raise DataError(f"{path}:{line_number}: J or F is not a finite number") from None
        if not frame:
            raise DataError(f"{path}:{line_number}: the frame name is empty")
        rows.append((record["sequence"], frame, j, f))
    return rows


def frame_number(name: str) -> int | None:
    """The number in a frame name (`00003` -> 3, `frame12` -> 12), or None."""
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else None


def read_per_frame(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{sequence: (frame numbers int64 [L], J [L], F [L])} from a per-frame CSV; the number is the one in
    the frame's name (a numbering gap stays a gap); `DataError` naming the file."""
    table: dict[str, list[tuple[int, float, float]]] = {}
    for line_number, (sequence, frame, j, f) in enumerate(read_per_frame_rows(path), start=2):
        number = frame_number(frame)
        if number is None:
            raise DataError(f"{path}:{line_number}: frame {frame!r} has no frame number in its name")
        table.setdefault(sequence, []).append((number, j, f))
    return {
        name: (
            np.array([e[0] for e in entries], dtype=np.int64),
            np.array([e[1] for e in entries]),
            np.array([e[2] for e in entries]),
        )
        for name, entries in table.items()
    }


def write_json(path: str | os.PathLike, content: dict) -> None:
    """Write `content` as indented JSON, atomically."""
    with atomic_output(path) as temporary:
        Path(temporary).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def merge_per_sequence(paths: Iterable[str | os.PathLike]) -> dict[str, Row]:
    """Sequence rows of several per-sequence CSVs, in order; a sequence in two files is a `DataError`."""
    merged: dict[str, Row] = {}
    origin: dict[str, Path] = {}
    for path in paths:
        for name, row in read_per_sequence(path).items():
            if name in merged:
                raise DataError(
                    f"{path}: sequence {name} is also in {origin[name]}; merge each sequence once"
                )
            merged[name] = row
            origin[name] = Path(path)
    return merged
