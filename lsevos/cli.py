"""The `lsevos` command: one sub-command per step the workflow calls, plus `segment` for users.

Each `lsevos/<area>/commands.py` module exposes `register(subparsers)`; handlers import heavy modules
(torch, OpenCV) lazily so that `lsevos --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lsevos.errors import LsevosError

INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT), as shells report it."""

COMMAND_MODULES = (
    "lsevos.data.commands",
    "lsevos.train.commands",
    "lsevos.video.commands",
    "lsevos.evaluation.commands",
    "lsevos.evaluation.readme_tables",
    "lsevos.cost",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lsevos",
        description="Video object segmentation by learning location-sensitive embeddings (ECCV 2018).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.handler(args)
    except LsevosError as error:
        print(f"lsevos {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"lsevos {args.command}: interrupted (Ctrl-C); finished outputs are kept, unfinished ones were "
            "not written",
            file=sys.stderr,
        )
        return INTERRUPTED
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
