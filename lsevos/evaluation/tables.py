"""The paper's Tables 1-5 from per-sequence metric files, with the paper's numbers beside ours.

Input contract (the workflow writes these): `METRICS/davis/<variant>.csv` and
`METRICS/davis/<variant>.per_frame.csv` (from `lsevos evaluate` / `merge-metrics`), and
`METRICS/segtrack/<variant>.csv`, with variant in `VARIANTS`. Each table is written as `tableN.csv`,
`tableN.md` and `tableN.tex`; numbers are percentages (the paper's unit). The Markdown and LaTeX files
end with the provenance (configuration, git commit, date); CSV holds the numbers only.
"""

from __future__ import annotations

import csv
import datetime
import io
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lsevos.config import GRABCUT
from lsevos.data.davis import DavisDataset
from lsevos.data.io import atomic_output
from lsevos.errors import ConfigError, DataError
from lsevos.evaluation.metric_files import MEASURE_COLUMNS, Row, read_per_sequence, summary
from lsevos.evaluation.summaries import attribute_means, segtrack_miou
from lsevos.video.variants import VARIANTS as VIDEO_VARIANTS

# The GrabCut baseline, then the video variants in their order (lsevos.video.variants).
VARIANTS = (GRABCUT, *VIDEO_VARIANTS)

# The paper's numbers (Ci et al., ECCV 2018, DAVIS 2016 val unless said otherwise), one constant per table,
# copied from the tables of the paper's text. Measure tuples follow MEASURE_COLUMNS: (J mean, J recall,
# J decay, F mean, F recall, F decay), in percent as printed (the paper writes recall as "O", decay as "D").
PAPER_MEASURE_LABELS = ("J mean", "J recall", "J decay", "F mean", "F recall", "F decay")

# Table 1 (GT box on every frame): (variant, label, measures); the paper prints every cell.
PAPER_TABLE1 = (
    ("grabcut", "GrabCut", (61.5, 73.4, 1.3, 59.0, 72.8, 3.7)),
    ("fp_gtbox", "FP", (80.4, 96.3, 3.1, 80.2, 90.6, 3.1)),
    ("ours_gtbox", "Ours", (80.9, 96.7, 2.1, 80.8, 90.2, 1.3)),
)
# Table 2 (ablation): (variant, label, measures); the paper prints every cell.
PAPER_TABLE2 = (
    ("fp_nozoom", "FP (no zoom)", (70.5, 83.5, 9.1, 69.1, 77.4, 8.2)),
    ("fp", "FP", (76.2, 90.0, 7.0, 75.0, 82.2, 7.3)),
    ("fplse", "FPLSE", (80.0, 95.6, 5.9, 79.1, 87.7, 5.9)),
    ("ours", "Ours", (81.0, 96.4, 5.4, 80.3, 89.1, 5.7)),
    ("ours_crf", "Ours+CRF", (82.9, 96.7, 5.4, 80.1, 88.9, 5.4)),
    ("ours_static", "Ours (static)", (80.0, 95.6, 6.4, 79.6, 87.0, 6.2)),
)
# Table 3 (per-attribute quality): {attribute: values of the methods in PAPER_TABLE3_METHODS}, as printed:
# fractions with two decimals (the tables show them in percent). The paper calls the measure "quality"
# without naming it; we set it beside our mean J. It lists these 12 attributes only (no CS, DEF, MB, OCC),
# so its columns read n/a on those rows: the paper prints no value there.
PAPER_TABLE3_METHODS = ("OSVOS", "Lucid", "Ours", "FP", "FPLSE")
PAPER_TABLE3 = {
    "AC": (0.81, 0.74, 0.86, 0.77, 0.83),
    "BC": (0.83, 0.83, 0.83, 0.78, 0.81),
    "DB": (0.74, 0.51, 0.75, 0.60, 0.70),
    "EA": (0.77, 0.71, 0.80, 0.76, 0.78),
    "FM": (0.76, 0.70, 0.82, 0.74, 0.78),
    "HO": (0.75, 0.75, 0.79, 0.71, 0.76),
    "IO": (0.75, 0.80, 0.78, 0.71, 0.74),
    "LR": (0.77, 0.64, 0.83, 0.79, 0.81),
    "OV": (0.72, 0.83, 0.83, 0.70, 0.78),
    "ROT": (0.81, 0.80, 0.87, 0.77, 0.84),
    "SC": (0.71, 0.74, 0.74, 0.68, 0.70),
    "SV": (0.74, 0.68, 0.80, 0.73, 0.77),
}
TABLE3_VARIANTS = (("ours", "Ours"), ("fplse", "FPLSE"), ("fp", "FP"))

# Official DAVIS 2016 val leaderboard (J M/R/D, F M/R/D as fractions), copied from
# github.com/davisvideochallenge/davisvideochallenge.github.io json_data/global_eval_val_2016.js at commit
# 30be16ff9d289f6711328c950a19c6288306ade3.
LEADERBOARD = (
    ("OSVOS", (0.798, 0.936, 0.149, 0.806, 0.926, 0.150)),
    ("MSK", (0.797, 0.931, 0.089, 0.754, 0.871, 0.090)),
    ("OnAVOS", (0.861, 0.961, 0.052, 0.849, 0.897, 0.058)),
    ("SiamMask", (0.717, 0.868, 0.030, 0.678, 0.798, 0.021)),
    ("Siam R-CNN", (0.768, 0.864, 0.022, 0.804, 0.876, 0.040)),
)
# Table 4 (state of the art): (label, measures), every row in the paper's order. None where the paper
# prints "-": it gives MaskTrack-Box's J mean only. Lucid Tracker's F recall is printed as "82". The last
# row is not in Table 4 but in the text of Sec. 5.5: Ours without CRF on train+val (MaskTrack-Box's
# setting), J mean 80.7.
PAPER_TABLE4 = (
    ("OnAVOS", (86.1, 96.1, 5.2, 84.9, 89.7, 5.8)),
    ("OSVOS", (79.8, 93.6, 14.9, 80.6, 92.6, 15.0)),
    ("Lucid Tracker", (80.5, 90.2, 6.1, 77.6, 82.0, 6.9)),
    ("MaskTrack", (79.7, 93.1, 8.9, 75.4, 87.1, 9.0)),
    ("MaskRNN", (80.4, 96.0, 4.4, 82.3, 93.2, 8.8)),
    ("MaskTrack-Box", (73.7, None, None, None, None, None)),
    ("Ours", (82.9, 96.7, 5.6, 80.3, 89.1, 5.7)),
    ("Ours (train+val, no CRF; Sec. 5.5 text)", (80.7, None, None, None, None, None)),
)
# Table 5 (SegTrack v2 mIoU, percent): (label, mIoU), the paper's order.
PAPER_TABLE5 = (
    ("MaskTrack", 70.3),
    ("OBJFlow", 67.5),
    ("MaskRNN", 72.1),
    ("LucidTracker", 78.0),
    ("BVS", 58.4),
    ("MaskTrack-Box", 62.4),
    ("Ours", 69.7),
)

Cell = str | float | int | None


@dataclass
class Table:
    """A table: `rows` of cells (floats are percentages, None prints as n/a) and explanatory notes."""

    number: int
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Provenance:
    config: str
    commit: str
    date: str

    def line(self) -> str:
        return f"config: {self.config}; commit: {self.commit}; date: {self.date}"


def check_known_sequences(rows: Mapping[str, object], dataset, csv: Path) -> None:
    """Every sequence of the metrics file `csv` (its `rows`) is one of `dataset` (a `DavisDataset`), whose
    attributes the tables and figures read; `DataError` naming the file and the first stranger."""
    unknown = sorted(set(rows) - set(dataset.sequences))
    if unknown:
        raise DataError(
            f"{csv}: sequence {unknown[0]} is not in {dataset.root}; pass the DAVIS root the metrics were "
            "computed on"
        )


def provenance(config_name: str, repository: str | os.PathLike | None = None) -> Provenance:
    """Configuration name, the git commit of `repository` (default: this package's checkout; 'unknown'
    outside git) and the current UTC time."""
    folder = Path(repository) if repository else Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10
        )
        commit = result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Provenance(config_name, commit, date)


def _percent(value: float) -> float:
    return 100.0 * value


def _davis(metrics: Path, variant: str) -> dict[str, Row]:
    return read_per_sequence(metrics / "davis" / f"{variant}.csv")


LeftOut = frozenset[tuple[str, str]]
"""(dataset, variant) pairs the configuration does not run: their cells read n/a instead of failing."""

LEFT_OUT_NOTE = "n/a in a this-run column: the configuration leaves that variant out (its `variants` list)."


def _left_out_notes(entries, left_out: LeftOut, dataset: str = "davis") -> list[str]:
    return [LEFT_OUT_NOTE] if any((dataset, entry[0]) in left_out for entry in entries) else []


def _mean_table(
    number: int, title: str, metrics: Path, entries, notes: list[str], left_out: LeftOut = frozenset()
) -> Table:
    """One row per (variant, label, paper measures): each measure of this run, then the paper's value."""
    rows = []
    for variant, label, paper in entries:
        means = None if ("davis", variant) in left_out else summary(_davis(metrics, variant))
        cells: list[Cell] = [label, variant]
        for column, paper_value in zip(MEASURE_COLUMNS, paper, strict=True):
            cells += [None if means is None else _percent(means[column]), paper_value]
        rows.append(cells)
    notes = [*notes, *_left_out_notes(entries, left_out)]
    columns = ["Method", "Variant"]
    for name in PAPER_MEASURE_LABELS:
        columns += [name, f"{name} (paper)"]
    source = f"Columns marked (paper): Table {number} of the paper; the others: this run."
    return Table(number, title, columns, rows, [source, *notes])


def table1(metrics: Path, left_out: LeftOut = frozenset()) -> Table:
    """Table 1: segmentation with the ground-truth box on every frame."""
    return _mean_table(
        1,
        "Table 1: segmentation inside the ground-truth box of every frame (DAVIS 2016 val)",
        metrics,
        PAPER_TABLE1,
        [
            "GrabCut: OpenCV GrabCut, GT box enlarged by the configured margin, 5 iterations. "
            "The paper's numbers are over the 20 val sequences; ours over the evaluated sequences."
        ],
        left_out,
    )


def table2(metrics: Path, left_out: LeftOut = frozenset()) -> Table:
    """Table 2: ablation of zoom, location-sensitive embeddings, two-scan adaptation, CRF, static model."""
    return _mean_table(
        2,
        "Table 2: ablation on DAVIS 2016 val",
        metrics,
        PAPER_TABLE2,
        ["Ours (static) is Ours' first scan; Ours+CRF the CRF of Ours' second scan."],
        left_out,
    )


def table3(metrics: Path, davis_root: str | os.PathLike, left_out: LeftOut = frozenset()) -> Table:
    """Table 3: mean J of the sequences carrying each DAVIS attribute (db_info.yml), beside the paper's
    per-attribute values of OSVOS, Lucid, Ours, FP and FPLSE."""
    dataset = DavisDataset(davis_root)
    per_variant: dict[str, dict] = {}
    for variant, _ in TABLE3_VARIANTS:
        if ("davis", variant) in left_out:
            per_variant[variant] = {}
            continue
        rows = _davis(metrics, variant)
        check_known_sequences(rows, dataset, metrics / "davis" / f"{variant}.csv")
        per_variant[variant] = attribute_means(rows, {name: dataset.attributes(name) for name in rows})
    codes = sorted(set(PAPER_TABLE3).union(*(table.keys() for table in per_variant.values())))
    table_rows: list[list[Cell]] = []
    for code in codes:
        count = max((table.get(code, (None, 0))[1] for table in per_variant.values()), default=0)
        cells: list[Cell] = [code, count]
        for variant, _ in TABLE3_VARIANTS:
            mean = per_variant[variant].get(code)
            cells.append(None if mean is None else _percent(mean[0]))
        paper = PAPER_TABLE3.get(code)
        cells += [None] * len(PAPER_TABLE3_METHODS) if paper is None else [_percent(v) for v in paper]
        table_rows.append(cells)
    columns = [
        "Attribute",
        "Sequences",
        *(f"{label} J" for _, label in TABLE3_VARIANTS),
        *(f"{method} J (paper)" for method in PAPER_TABLE3_METHODS),
    ]
    return Table(
        3,
        "Table 3: mean J per DAVIS attribute (DAVIS 2016 val)",
        columns,
        table_rows,
        [
            "Columns marked (paper): Table 3 of the paper (printed as fractions, shown here in percent; "
            "the paper calls the measure quality without naming it); "
            "Sequences and the other columns: this run.",
            "The paper lists 12 attributes; a row of another one (CS, DEF, MB, OCC), shown where an "
            "evaluated sequence carries it, reads n/a in the paper's columns. "
            "Our columns read n/a where no evaluated sequence carries the attribute.",
            "Attributes from Annotations/db_info.yml (Perazzi et al., CVPR 2016).",
            *_left_out_notes(TABLE3_VARIANTS, left_out),
        ],
    )


TABLE4_VARIANTS = (("ours", "Ours"), ("ours_crf", "Ours+CRF"))
TABLE5_VARIANT = "ours"  # SegTrack v2: the full method

TABLE_NEEDS: dict[int, tuple[tuple[str, str], ...]] = {
    1: tuple(("davis", variant) for variant, _, _ in PAPER_TABLE1),
    2: tuple(("davis", variant) for variant, _, _ in PAPER_TABLE2),
    3: tuple(("davis", variant) for variant, _ in TABLE3_VARIANTS),
    4: tuple(("davis", variant) for variant, _ in TABLE4_VARIANTS),
    5: (("segtrack", TABLE5_VARIANT),),
}
"""The (dataset, variant) metrics each table reads: the workflow asks for exactly these."""


def table4(metrics: Path, left_out: LeftOut = frozenset()) -> Table:
    """Table 4: the official DAVIS 2016 leaderboard, every row of the paper's Table 4, and this run."""
    rows: list[list[Cell]] = []
    for label, values in LEADERBOARD:
        rows.append([label, "DAVIS leaderboard", *(_percent(v) for v in values)])
    for label, values in PAPER_TABLE4:
        rows.append([label, "paper", *values])
    for variant, label in TABLE4_VARIANTS:
        if ("davis", variant) in left_out:
            rows.append([label, "this run", *(None for _ in MEASURE_COLUMNS)])
            continue
        means = summary(_davis(metrics, variant))
        rows.append([label, "this run", *(_percent(means[column]) for column in MEASURE_COLUMNS)])
    return Table(
        4,
        "Table 4: comparison on DAVIS 2016 val",
        ["Method", "Source", *PAPER_MEASURE_LABELS],
        rows,
        [
            "Source: 'paper' rows are the paper's Table 4 (and one figure from the text of its Sec. 5.5); "
            "'this run' rows are ours.",
            "Leaderboard rows: davisvideochallenge.github.io global_eval_val_2016.js (commit 30be16f); "
            "SiamMask and Siam R-CNN are box-initialised like ours.",
            "The paper prints '-' (n/a here) for all of MaskTrack-Box but its J mean; like ours it starts "
            "from a box, the other peers from the first-frame mask.",
            "The paper's Table 4 'Ours' row takes J mean and J recall from its Table 2 Ours+CRF and the F "
            "columns from its Table 2 Ours; its J decay (5.6) is in neither.",
            *_left_out_notes(TABLE4_VARIANTS, left_out),
        ],
    )


def table5(metrics: Path, left_out: LeftOut = frozenset()) -> Table:
    """Table 5: SegTrack v2 mIoU (mean over objects), beside every method of the paper's Table 5."""
    skipped = ("segtrack", TABLE5_VARIANT) in left_out
    rows = {} if skipped else read_per_sequence(metrics / "segtrack" / f"{TABLE5_VARIANT}.csv")
    table_rows: list[list[Cell]] = []
    for label, paper in PAPER_TABLE5:
        if label == "Ours" and not skipped:
            table_rows.append([label, len(rows), _percent(segtrack_miou(rows)), paper])
        else:
            table_rows.append([label, None, None, paper])
    return Table(
        5,
        "Table 5: SegTrack v2 mIoU",
        ["Method", "Objects", "mIoU", "mIoU (paper)"],
        table_rows,
        [
            "mIoU (paper): Table 5 of the paper; Objects and mIoU: this run (ours only).",
            "mIoU: per object, mean IoU over frames 1..N-2 (first frame given), then mean over objects.",
            *(["Ours reads n/a: the configuration runs no SegTrack v2 sequence."] if skipped else []),
        ],
    )


def build_table(
    number: int, metrics: str | os.PathLike, davis_root: str | os.PathLike, left_out: LeftOut = frozenset()
) -> Table:
    """Table `number` (1-5) from the metrics folder; `DataError` naming a missing input file. The
    (dataset, variant) pairs in `left_out` are not read: their cells read n/a, with a note."""
    metrics = Path(metrics)
    builders = {1: table1, 2: table2, 4: table4, 5: table5}
    if number == 3:
        return table3(metrics, davis_root, left_out)
    if number not in builders:
        raise DataError(f"--tables: no table {number}; the paper has tables 1-5")
    return builders[number](metrics, left_out)


def parse_left_out(text: str | None) -> LeftOut:
    """`"davis/fp_nozoom,segtrack/ours"` -> {("davis", "fp_nozoom"), ("segtrack", "ours")}."""
    pairs = set()
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        dataset, _, variant = item.partition("/")
        if dataset not in ("davis", "segtrack") or variant not in VARIANTS:
            raise ConfigError(
                f"--left-out: {item!r} is not DATASET/VARIANT (e.g. davis/fp_nozoom); DATASET is davis or "
                f"segtrack, VARIANT one of {', '.join(VARIANTS)}"
            )
        pairs.add((dataset, variant))
    return frozenset(pairs)


def _text(cell: Cell) -> str:
    if cell is None:
        return "n/a"
    if isinstance(cell, float):
        return f"{cell:.1f}"
    return str(cell)


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["n/a" if c is None else (f"{c:.2f}" if isinstance(c, float) else c) for c in row])
    return buffer.getvalue()


def to_markdown(table: Table, origin: Provenance) -> str:
    lines = [f"### {table.title}", "", "| " + " | ".join(table.columns) + " |"]
    lines.append("|" + "|".join(" --- " for _ in table.columns) + "|")
    lines += ["| " + " | ".join(_text(cell) for cell in row) + " |" for row in table.rows]
    lines += ["", *(f"- {note}" for note in table.notes), f"- {origin.line()}", ""]
    return "\n".join(lines)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_escape(text: str) -> str:
    """`text` with LaTeX's special characters escaped, in one pass (an escape's own braces stay)."""
    return re.sub(r"[\\&%_#$\{\}~^]", lambda match: _LATEX_SPECIAL[match.group()], text)


def to_latex(table: Table, origin: Provenance) -> str:
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\begin{tabular}{l" + "c" * (len(table.columns) - 1) + "}",
        r"\hline",
        " & ".join(_latex_escape(c) for c in table.columns) + r" \\",
        r"\hline",
    ]
    lines += [" & ".join(_latex_escape(_text(cell)) for cell in row) + r" \\" for row in table.rows]
    caption = " ".join([table.title, *table.notes, origin.line()])
    lines += [r"\hline", r"\end{tabular}", r"\caption{" + _latex_escape(caption) + "}", r"\end{table}", ""]
    return "\n".join(lines)


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path) as temporary:
        temporary.write_text(text)


def write_table(table: Table, out_dir: str | os.PathLike, origin: Provenance) -> list[Path]:
    """Write `tableN.csv`, `tableN.md` and `tableN.tex` into `out_dir`; returns the paths."""
    out_dir = Path(out_dir)
    stem = out_dir / f"table{table.number}"
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")]
    for path, text in zip(
        paths, (to_csv(table), to_markdown(table, origin), to_latex(table, origin)), strict=True
    ):
        _write_text(path, text)
    return paths


def metrics_summary(metrics: str | os.PathLike) -> dict[str, dict[str, dict]]:
    """{"davis": {variant: {J_M, F_M, JF, ..., "sequences": {seq: {J_M, F_M, JF}}}}, "segtrack": ...} for
    every known variant whose per-sequence file exists (fractions); `DataError` when there is none."""
    metrics = Path(metrics)
    content: dict[str, dict[str, dict]] = {}
    for dataset in ("davis", "segtrack"):
        for variant in VARIANTS:
            path = metrics / dataset / f"{variant}.csv"
            if path.is_file():
                rows = read_per_sequence(path)
                per_sequence = {
                    name: {"J_M": row["J_M"], "F_M": row["F_M"], "JF": (row["J_M"] + row["F_M"]) / 2.0}
                    for name, row in rows.items()
                }
                content.setdefault(dataset, {})[variant] = {**summary(rows), "sequences": per_sequence}
    if not content:
        raise DataError(
            f"{metrics}: no per-sequence metrics (davis/<variant>.csv or segtrack/<variant>.csv); "
            "run `lsevos evaluate` / `lsevos merge-metrics` first"
        )
    return content


def make_tables(
    metrics: str | os.PathLike,
    davis_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    config_name: str,
    numbers: Iterable[int] = (1, 2, 3, 4, 5),
    left_out: LeftOut = frozenset(),
) -> list[Table]:
    """Build and write the tables `numbers`; every input is read before anything is written."""
    tables = [build_table(number, metrics, davis_root, left_out) for number in numbers]
    origin = provenance(config_name)
    for table in tables:
        write_table(table, out_dir, origin)
    return tables
