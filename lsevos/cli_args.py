"""Pieces of the areas' argparse registrations (`register` in `lsevos/*/commands.py`): a sub-command with
its handler, and required path options."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

Handler = Callable[[argparse.Namespace], int]


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    handler: Handler,
    help: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """The sub-command `name`, run by `handler(args)`: `help` is its line in `lsevos -h`, `description` the
    text of `lsevos NAME -h`."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.set_defaults(handler=handler)
    return parser


def add_paths(parser: argparse.ArgumentParser, **helps: str) -> None:
    """A required `--NAME PATH` option for each keyword, in order (`gt_masks=...` adds `--gt-masks`)."""
    for name, text in helps.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=Path, required=True, help=text)


def at_least(value: int, minimum: int, option: str) -> int:
    """`value` of `option` when it is at least `minimum`; a one-line `ConfigError` naming the option
    otherwise (argparse checks the type, not the range)."""
    from lsevos.errors import ConfigError

    if value < minimum:
        raise ConfigError(f"{option} {value}: give an integer of at least {minimum}")
    return value
