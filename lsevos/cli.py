"""The `lsevos` command: one sub-command per step the workflow calls, plus `segment` for users.

Each `lsevos/<area>/commands.py` module exposes `register(subparsers)`; handlers import heavy modules
(torch, OpenCV) lazily so that `lsevos --help` stays fast.

At the boundary every fault is one line and a non-zero exit: `LsevosError` (exit 2), a full disk (exit 2,
naming the place), Ctrl-C (130) and SIGTERM (143), the last two after the same clean-up (temporaries and
scratch folders removed by the `finally` blocks, the output locks released).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import re
import signal
import sys

from lsevos.errors import LsevosError

INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT), as shells report it."""
TERMINATED = 143
"""Exit code after SIGTERM (128 + SIGTERM), e.g. a cancelled SLURM job or `kill PID`."""

COMMAND_MODULES = (
    "lsevos.data.commands",
    "lsevos.train.commands",
    "lsevos.video.commands",
    "lsevos.evaluation.commands",
    "lsevos.evaluation.readme_tables",
    "lsevos.cost",
)


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception, so that it unwinds (and cleans up) like Ctrl-C."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lsevos",
        description="Video object segmentation by learning location-sensitive embeddings (ECCV 2018).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


_NEGATIVE_VALUE = re.compile(r"-\d[-\d,.:\s]*")


def join_negative_values(argv: list[str]) -> list[str]:
    """`--box -5,18,30,40` -> `--box=-5,18,30,40`: argparse takes a value that starts with `-` and is not
    a plain number for an unknown option ("expected one argument"); no lsevos option is `-<digit>...`."""
    joined: list[str] = []
    for token in argv:
        previous = joined[-1] if joined else ""
        if (
            _NEGATIVE_VALUE.fullmatch(token)
            and previous.startswith("--")
            and "=" not in previous
            and previous != "--"
        ):
            joined[-1] = f"{previous}={token}"
        else:
            joined.append(token)
    return joined


def _raise_terminated(signum, frame) -> None:
    if os.getpid() != _main_pid:  # a forked worker: die as SIGTERM asks
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated()


_main_pid = os.getpid()


def _disk_full_line(error: OSError) -> str:
    where = error.filename or "the output being written"
    return (
        f"{where}: the disk ran out of space ({os.strerror(error.errno)}); unfinished outputs were removed: "
        "free some space or write the outputs to another disk"
    )


def main(argv: list[str] | None = None) -> int:
    global _main_pid
    from lsevos.outputs import release_outputs

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(join_negative_values(argv))
    _main_pid = os.getpid()
    # FFmpeg inside OpenCV prints its own lines for a file it cannot read ("moov atom not found"); the
    # command says what is wrong in one line of its own (read by OpenCV at its first video, kept if set)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: SIGTERM keeps its handler
        pass
    try:
        result = args.handler(args)
    except LsevosError as error:
        print(f"lsevos {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"lsevos {args.command}: error: {_disk_full_line(error)}", file=sys.stderr)
        return 2
    except Terminated:
        print(
            f"lsevos {args.command}: terminated (SIGTERM); finished outputs are kept, unfinished ones were "
            "not written",
            file=sys.stderr,
        )
        return TERMINATED
    except KeyboardInterrupt:
        print(
            f"lsevos {args.command}: interrupted (Ctrl-C); finished outputs are kept, unfinished ones were "
            "not written",
            file=sys.stderr,
        )
        return INTERRUPTED
    finally:
        release_outputs()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
