"""Data sub-commands: `download`, `prepare-segtrack`, `sbd-augment`, `generate-benchmark`, `stress-suite`,
`stress-table`."""

from __future__ import annotations

import argparse
from pathlib import Path

from lsevos.cli_args import add_paths, at_least
from lsevos.errors import ConfigError
from lsevos.settings_text import read_mapping

DATASET_NAMES = ("davis2016", "segtrackv2", "voc2012", "sbd")


def load_settings(value: str | None) -> dict | None:
    """`--settings` value: a JSON/YAML file path, or inline JSON; must give a mapping (None when absent)."""
    return None if value is None else read_mapping(value, "--settings")


def _split_names(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [name for value in values for name in value.split(",") if name]


def _download(args: argparse.Namespace) -> int:
    from lsevos.data.download import download_dataset
    from lsevos.data.io import check_writable

    check_writable(args.resources, "--resources", "folder")
    print(download_dataset(args.name, args.resources))
    return 0


def _prepare_segtrack(args: argparse.Namespace) -> int:
    from lsevos.data.io import prepare_output_folder
    from lsevos.data.segtrack import convert_segtrack_to_davis

    prepare_output_folder(args.out, "segtrack", [args.src])
    names = convert_segtrack_to_davis(args.src, args.out, _split_names(args.objects))
    print(f"wrote {len(names)} SegTrack v2 targets to {args.out}")
    return 0


def _sbd_augment(args: argparse.Namespace) -> int:
    from lsevos.data.io import atomic_output, prepare_output_file
    from lsevos.data.voc_sbd import augmented_training_list

    prepare_output_file(args.out, (args.voc, args.sbd))
    names = augmented_training_list(args.voc, args.sbd)
    with atomic_output(args.out) as temporary:
        temporary.write_text("".join(f"{name}\n" for name in names))
    print(f"wrote {len(names)} image ids to {args.out}")
    return 0


def _generate_benchmark(args: argparse.Namespace) -> int:
    from lsevos.data.io import prepare_output_folder
    from lsevos.data.synthetic import generate_benchmark

    at_least(args.seed, 0, "--seed")
    prepare_output_folder(args.out, "benchmark")
    generate_benchmark(args.out, args.seed, load_settings(args.settings))
    return 0


def _stress_suite(args: argparse.Namespace) -> int:
    import sys

    from lsevos.data.io import prepare_output_folder
    from lsevos.data.stress import OWNER, write_suite

    sources = _split_names(args.sequences) or []
    if len(sources) < 2:
        raise ConfigError(
            f"--sequences {' '.join(args.sequences)!r}: give at least two source sequences, comma separated"
        )
    at_least(args.seed, 0, "--seed")
    prepare_output_folder(args.out, OWNER, [args.davis_root])
    specs = write_suite(
        args.out,
        args.davis_root,
        sources,
        args.frames,
        args.per_mode,
        args.seed,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(f"wrote {len(specs)} stress sequences to {args.out}: {','.join(spec.name for spec in specs)}")
    return 0


def _stress_table(args: argparse.Namespace) -> int:
    from lsevos.evaluation.stress_table import stress_table

    print(stress_table(args.metrics, args.suite), end="")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the data sub-commands to the `lsevos` parser."""
    parser = subparsers.add_parser(
        "download", help="download, verify and unpack a dataset archive (resumable)"
    )
    parser.add_argument("name", choices=DATASET_NAMES, help="dataset to fetch")
    parser.add_argument("--resources", type=Path, default=Path("resources"), help="download folder")
    parser.set_defaults(handler=_download)

    parser = subparsers.add_parser(
        "prepare-segtrack", help="convert SegTrack v2 to the DAVIS layout, one sequence per object"
    )
    add_paths(parser, src="SegTrack v2 (JPEGImages, GroundTruth)", out="output folder (DAVIS layout)")
    parser.add_argument(
        "--objects", nargs="+", help="targets to convert, e.g. bmx_1 bmx_2 (or comma separated); default all"
    )
    parser.set_defaults(handler=_prepare_segtrack)

    parser = subparsers.add_parser(
        "sbd-augment", help="write the augmented training list (VOC train + SBD train/val - VOC val)"
    )
    add_paths(parser, voc="VOC2012 folder (VOCdevkit/VOC2012)", sbd="SBD folder (benchmark_RELEASE/dataset)")
    add_paths(parser, out="output list, one image id per line")
    parser.set_defaults(handler=_sbd_augment)

    parser = subparsers.add_parser("generate-benchmark", help="write the built-in synthetic benchmark")
    add_paths(parser, out="output folder")
    parser.add_argument("--seed", type=int, required=True, help="random seed (same seed, same bytes)")
    parser.add_argument("--settings", help="benchmark settings: a YAML/JSON file or inline JSON")
    parser.set_defaults(handler=_generate_benchmark)

    parser = subparsers.add_parser(
        "stress-suite",
        help="build the stress suite (small, grow, distractor, part) from DAVIS-layout sequences",
        description="Write videos that reproduce failure modes of box-initialised tracking, with their "
        "ground truth, in the DAVIS 2016 layout (lsevos.data.stress).",
    )
    add_paths(parser, davis_root="DAVIS-layout folder holding the source sequences", out="output folder")
    parser.add_argument(
        "--sequences", nargs="+", required=True, help="source sequences, comma separated (at least two)"
    )
    parser.add_argument("--frames", type=int, default=30, help="frames per stress sequence (default 30)")
    parser.add_argument("--per-mode", type=int, default=4, help="sequences per mode (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same suite)")
    parser.set_defaults(handler=_stress_suite)

    parser = subparsers.add_parser(
        "stress-table", help="print mean J and F per stress mode of per-sequence metrics CSVs (Markdown)"
    )
    parser.add_argument(
        "metrics", nargs="+", type=Path, help="per-sequence CSVs, e.g. RESULTS/metrics/davis/ours.csv"
    )
    parser.add_argument("--suite", type=Path, required=True, help="the stress suite folder (stress.json)")
    parser.set_defaults(handler=_stress_table)
