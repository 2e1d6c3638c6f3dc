"""Evaluation commands: evaluate, merge-metrics, grabcut, tables, metrics-summary, show-tables, figures,
figure-qualitative."""

from __future__ import annotations

import argparse
from pathlib import Path

from lsevos.cli_args import at_least
from lsevos.errors import DataError


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise DataError("--sequences: give at least one sequence name (a,b,...)")
    return names


def _numbers(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        numbers = []
    if not numbers or not all(1 <= number <= 5 for number in numbers):
        raise DataError(f"--tables {text!r}: give table numbers 1-5, e.g. 1,2,5")
    return numbers


def _output_files(*named: tuple[str, str | None]) -> None:
    """Check file outputs (option, path) before any work: not a folder, in a writable place, not two
    options on one path, not a file lsevos did not write; temporaries of a killed earlier run are
    removed."""
    from lsevos.data.io import check_writable, prepare_output_file

    seen: dict[Path, str] = {}
    for option, path in named:
        if path is None:
            continue
        check_writable(path, option, "file")
        resolved = Path(path).resolve()
        if resolved in seen:
            raise DataError(
                f"{path}: given to both {seen[resolved]} and {option}; give each output its own file"
            )
        seen[resolved] = option
    for option, path in named:
        if path is not None:
            prepare_output_file(path, (), option)


def _output_folder(option: str, path: str, inputs: tuple = ()) -> None:
    """Check an output folder before any work: writable, not one of `inputs`, inside one or holding one."""
    from lsevos.data.io import check_not_overlapping, check_writable

    check_writable(path, option, "folder")
    check_not_overlapping(path, [source for source in inputs if source is not None], option)


def _read_folders(metrics: str, gt_davis: str) -> tuple:
    """The folders `tables` and `figures` read: the metrics CSVs (`<metrics>/davis`, `<metrics>/segtrack`;
    a folder of its own beside them, such as `<metrics>/tables`, is free) and the DAVIS root."""
    return (Path(metrics) / "davis", Path(metrics) / "segtrack", gt_davis)


def _print_rows(rows: dict, means: dict) -> None:
    from lsevos.evaluation.metric_files import MEASURE_COLUMNS

    width = max(len("sequence"), *(len(name) for name in rows))
    print(f"{'sequence':<{width}} " + " ".join(f"{column:>6}" for column in MEASURE_COLUMNS))
    for name, row in [*rows.items(), ("mean", means)]:
        print(f"{name:<{width}} " + " ".join(f"{100 * row[column]:6.1f}" for column in MEASURE_COLUMNS))


def _evaluate(args: argparse.Namespace) -> int:
    from lsevos.evaluation.evaluate import evaluate
    from lsevos.evaluation.metric_files import (
        mean_row,
        per_frame_tuples,
        sequence_row,
        summary,
        write_json,
        write_per_frame,
        write_per_sequence,
    )

    at_least(args.jobs, 1, "--jobs")
    _output_files(("--out", args.out), ("--per-frame", args.per_frame), ("--json", args.json))
    flat = args.pred_dir is not None
    scores = evaluate(
        args.gt, args.pred_dir if flat else args.pred, _names(args.sequences), jobs=args.jobs, flat=flat
    )
    rows = {item.name: sequence_row(item) for item in scores}
    write_per_sequence(args.out, rows)
    if args.per_frame:
        write_per_frame(args.per_frame, per_frame_tuples(scores))
    means = summary(rows)
    if args.json:
        write_json(args.json, means)
    _print_rows(rows, mean_row(rows))
    print(
        f"J&F {100 * means['JF']:.1f}  (J {100 * means['J_M']:.1f}, F {100 * means['F_M']:.1f}, "
        f"{means['count']} objects) -> {args.out}"
    )
    return 0


def _merge(args: argparse.Namespace) -> int:
    from lsevos.evaluation.metric_files import (
        mean_row,
        merge_per_sequence,
        read_per_frame_rows,
        write_per_frame,
        write_per_sequence,
    )

    if args.per_frame_in and not args.per_frame_out:
        raise DataError("--per-frame-in needs --per-frame-out FILE, where the merged per-frame rows go")
    _output_files(("--out", args.out), ("--per-frame-out", args.per_frame_out))
    rows = merge_per_sequence(args.parts)
    if args.per_frame_out:
        if not args.per_frame_in:
            raise DataError("--per-frame-out needs the per-frame files to merge: --per-frame-in A B ...")
        frames = []
        seen: dict[str, Path] = {}
        for path in args.per_frame_in:
            names = set()
            for name, frame, j, f in read_per_frame_rows(path):
                if name in seen:
                    raise DataError(
                        f"{path}: sequence {name} is also in {seen[name]}; merge each sequence once"
                    )
                names.add(name)
                frames.append((name, frame, j, f))
            seen.update({name: Path(path) for name in names})
        write_per_frame(args.per_frame_out, frames)
    write_per_sequence(args.out, rows)
    _print_rows(rows, mean_row(rows))
    return 0


def _grabcut(args: argparse.Namespace) -> int:
    from lsevos.evaluation.grabcut import check_grabcut_settings, run_grabcut

    check_grabcut_settings(args.margin, args.iterations, args.jobs)
    count = run_grabcut(
        args.data,
        args.out,
        _names(args.sequences),
        margin=args.margin,
        iterations=args.iterations,
        jobs=args.jobs,
        flat=args.layout == "flat",
    )
    print(f"grabcut: {count} masks -> {args.out}")
    return 0


def _tables(args: argparse.Namespace) -> int:
    from lsevos.evaluation.metric_files import write_json
    from lsevos.evaluation.tables import (
        make_tables,
        metrics_summary,
        parse_left_out,
        provenance,
        to_markdown,
    )

    left_out = parse_left_out(args.left_out)
    every = args.tables is None
    numbers = [1, 2, 3, 4, 5] if every else _numbers(args.tables)
    _output_folder("--out", args.out, _read_folders(args.metrics, args.gt_davis))
    names = [f"table{n}{suffix}" for n in numbers for suffix in (".csv", ".md", ".tex")]
    names += ["metrics.json"] if every else []
    _output_files(*(("--out", str(Path(args.out) / name)) for name in names))
    tables = make_tables(args.metrics, args.gt_davis, args.out, args.config_name, numbers, left_out)
    if every:
        write_json(Path(args.out) / "metrics.json", metrics_summary(args.metrics))
    origin = provenance(args.config_name)
    for table in tables:
        print(to_markdown(table, origin))
    print(f"tables {', '.join(str(t.number) for t in tables)} -> {args.out}")
    return 0


def _metrics_summary(args: argparse.Namespace) -> int:
    from lsevos.evaluation.metric_files import write_json
    from lsevos.evaluation.readme_tables import run_record
    from lsevos.evaluation.tables import metrics_summary

    _output_files(("--out", args.out))
    summary = metrics_summary(args.metrics)
    write_json(args.out, {**summary, "run": run_record(args.config_name)} if args.config_name else summary)
    print(f"metrics summary -> {args.out}")
    return 0


def _show_tables(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    tables = sorted(folder.glob("table*.md"))
    if not tables:
        raise DataError(f"{folder}: no table*.md; build the tables first (`lsevos tables` or `make demo`)")
    for path in tables:
        print(path.read_text())
    print(f"tables in {folder}/ (CSV, Markdown, LaTeX)")
    return 0


def _figures(args: argparse.Namespace) -> int:
    from lsevos.data.davis import DavisDataset
    from lsevos.evaluation.figures import attribute_bars, per_frame_curves
    from lsevos.evaluation.metric_files import read_per_frame, read_per_sequence
    from lsevos.evaluation.summaries import attribute_means
    from lsevos.evaluation.tables import VARIANTS, check_known_sequences

    _output_folder("--out", args.out, _read_folders(args.metrics, args.gt_davis))
    _output_files(*(("--out", str(Path(args.out) / name)) for name in ("attributes.png", "per_frame_J.png")))
    davis = Path(args.metrics) / "davis"
    present = [
        v for v in VARIANTS if (davis / f"{v}.csv").is_file() and (davis / f"{v}.per_frame.csv").is_file()
    ]
    if not present:
        raise DataError(f"{davis}: no <variant>.csv with <variant>.per_frame.csv; evaluate a variant first")
    dataset = DavisDataset(args.gt_davis)
    attributes = {}
    for variant in present:
        rows = read_per_sequence(davis / f"{variant}.csv")
        check_known_sequences(rows, dataset, davis / f"{variant}.csv")
        attributes[variant] = attribute_means(rows, {name: dataset.attributes(name) for name in rows})
    per_frame = {v: read_per_frame(davis / f"{v}.per_frame.csv") for v in present}  # all read, then drawn
    out = Path(args.out)
    attribute_bars(attributes, out / "attributes.png")
    per_frame_curves(per_frame, out / "per_frame_J.png")
    print(f"figures ({', '.join(present)}) -> {out}/attributes.png, {out}/per_frame_J.png")
    return 0


def _figure_qualitative(args: argparse.Namespace) -> int:
    from lsevos.evaluation.figures import qualitative_figure

    at_least(args.count, 1, "--count")
    _output_files(("--out", args.out))
    qualitative_figure(args.frames, args.masks, args.boxes, args.out, count=args.count)
    print(f"qualitative figure -> {args.out}")
    return 0


def _add_sequences(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sequences", help="comma-separated sequence names (default: ImageSets val list)")


def _add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser(
        "evaluate",
        help="DAVIS J/F (Mean, Recall, Decay) of a results folder",
        description="Score predictions PRED_ROOT/<seq>/<frame>.png against DAVIS_ROOT/Annotations/480p "
        "(official DAVIS 2016 protocol; the first and last frame are not scored). Always recomputes.",
    )
    evaluate.add_argument("--gt", required=True, help="DAVIS-layout dataset root (Annotations/480p/<seq>)")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--pred", help="results root holding <seq>/<frame>.png")
    source.add_argument("--pred-dir", help="the <frame>.png masks of the one sequence named by --sequences")
    _add_sequences(evaluate)
    evaluate.add_argument("--out", required=True, help="per-sequence CSV: sequence,J_M,J_R,J_D,F_M,F_R,F_D")
    evaluate.add_argument("--per-frame", help="per-frame CSV: sequence,frame,J,F")
    evaluate.add_argument("--json", help="metrics JSON: the six means, JF and mIoU (for DVC)")
    _add_jobs(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    merge = subparsers.add_parser(
        "merge-metrics",
        help="concatenate per-sequence (and per-frame) CSVs and recompute the mean row",
    )
    merge.add_argument("--out", required=True, help="merged per-sequence CSV")
    merge.add_argument("--per-frame-out", help="merged per-frame CSV")
    merge.add_argument("--per-frame-in", nargs="+", default=[], help="per-frame CSVs to merge")
    merge.add_argument("parts", nargs="+", help="per-sequence CSVs (their mean rows are dropped)")
    merge.set_defaults(handler=_merge)

    grabcut = subparsers.add_parser(
        "grabcut", help="Table 1 GrabCut baseline: OpenCV GrabCut in the enlarged GT box of every frame"
    )
    grabcut.add_argument("--data", required=True, help="DAVIS-layout dataset root")
    grabcut.add_argument(
        "--out",
        required=True,
        help="results root (<seq>/<frame>.png) or, flat, one folder; "
        "a folder is replaced only if empty or written by lsevos grabcut",
    )
    _add_sequences(grabcut)
    grabcut.add_argument(
        "--margin", type=int, default=10, help="pixels (>= 0) added to every side of the GT box"
    )
    grabcut.add_argument("--iterations", type=int, default=5, help="GrabCut iterations (>= 1)")
    _add_jobs(grabcut)
    grabcut.add_argument(
        "--layout",
        choices=("results", "flat"),
        default="results",
        help="results: OUT/<seq>/<frame>.png; flat: OUT/<frame>.png for one sequence",
    )
    grabcut.set_defaults(handler=_grabcut)

    tables = subparsers.add_parser("tables", help="the paper's Tables 1-5 (CSV, Markdown, LaTeX)")
    tables.add_argument(
        "--metrics", required=True, help="folder with davis/<variant>.csv, segtrack/<variant>.csv"
    )
    tables.add_argument("--gt-davis", required=True, help="DAVIS root (db_info.yml attributes for Table 3)")
    tables.add_argument("--out", required=True, help="output folder for tableN.{csv,md,tex}")
    tables.add_argument("--config-name", required=True, help="configuration name recorded as provenance")
    tables.add_argument("--tables", help="comma-separated table numbers (default: all, plus metrics.json)")
    tables.add_argument(
        "--left-out",
        help="DATASET/VARIANT,... the configuration does not run (e.g. davis/fp_nozoom): n/a, not an error",
    )
    tables.set_defaults(handler=_tables)

    summary = subparsers.add_parser("metrics-summary", help="J, F, J&F and mIoU per variant as JSON (DVC)")
    summary.add_argument("--metrics", required=True, help="folder with davis/ and segtrack/ metrics")
    summary.add_argument("--out", required=True, help="JSON file")
    summary.add_argument(
        "--config-name", help="also record the run: this configuration, commit, date, machine"
    )
    summary.set_defaults(handler=_metrics_summary)

    show = subparsers.add_parser("show-tables", help="print the Markdown tables of a tables folder")
    show.add_argument("folder", help="folder written by `lsevos tables`")
    show.set_defaults(handler=_show_tables)

    figures = subparsers.add_parser("figures", help="per-attribute J bars and per-frame J curves")
    figures.add_argument("--metrics", required=True, help="folder with davis/<variant>[.per_frame].csv")
    figures.add_argument("--gt-davis", required=True, help="DAVIS root (db_info.yml attributes)")
    figures.add_argument("--out", required=True, help="output folder: attributes.png, per_frame_J.png")
    figures.set_defaults(handler=_figures)

    qualitative = subparsers.add_parser(
        "figure-qualitative", help="frames with mask overlay and estimated box (Fig. 7 style)"
    )
    qualitative.add_argument("--frames", required=True, help="frame folder of the sequence")
    qualitative.add_argument("--masks", required=True, help="mask folder of a scan")
    qualitative.add_argument("--boxes", required=True, help="boxes.json of the scan")
    qualitative.add_argument("--out", required=True, help="PNG file")
    qualitative.add_argument("--count", type=int, default=4, help="frames shown (default 4)")
    qualitative.set_defaults(handler=_figure_qualitative)
