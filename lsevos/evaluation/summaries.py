"""Dataset figures derived from per-sequence rows: SegTrack v2 mIoU and the DAVIS attribute table.

SegTrack v2 mIoU (Table 5): converted SegTrack has one sequence `<seq>_<obj>` per object, so each row is an
object; mIoU is the mean over objects of the object's mean IoU over frames 1..N-2. The first frame is
the given annotation and is never counted; the last frame is dropped as in DAVIS so that the same
per-sequence file serves both (one frame of 21..279 per object).
"""

from __future__ import annotations

import numpy as np

from lsevos.errors import DataError

Row = dict[str, float]


def segtrack_miou(rows: dict[str, Row]) -> float:
    """Mean over objects (rows) of their mean J; a fraction in [0, 1]."""
    if not rows:
        raise DataError("no SegTrack objects to average; evaluate the converted SegTrack v2 first")
    return float(np.mean([row["J_M"] for row in rows.values()]))


def attribute_means(
    rows: dict[str, Row], attributes: dict[str, list[str]], column: str = "J_M"
) -> dict[str, tuple[float, int]]:
    """{attribute: (mean of `column` over the sequences carrying it, number of sequences)}, sorted by
    attribute code; `attributes` maps each sequence of `rows` to its codes (db_info.yml)."""
    unknown = sorted(set(rows) - set(attributes))
    if unknown:
        raise DataError(
            f"sequences {', '.join(unknown)} have no entry in db_info.yml; evaluate DAVIS sequences only"
        )
    grouped: dict[str, list[float]] = {}
    for name, row in rows.items():
        for code in attributes[name]:
            grouped.setdefault(code, []).append(row[column])
    return {code: (float(np.mean(values)), len(values)) for code, values in sorted(grouped.items())}
