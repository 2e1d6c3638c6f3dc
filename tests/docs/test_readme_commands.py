"""Every command in the README's fenced `bash` blocks runs as written: each block is marked runnable
(a `<!-- runnable -->` line before it) and each of its commands is checked without doing the work:
`make -n TARGET`, `snakemake -n` (a dry run that builds the whole DAG; the paper configuration's at the
scale of config/paper-smoke.yaml), `lsevos` arguments parsed by its
real parser, `pip install -e '.[EXTRA]'` against pyproject's extras, `export` as an assignment."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from importlib.util import find_spec
from pathlib import Path

import pytest

from lsevos.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- runnable -->"
FENCE = re.compile(r"^```(\w*)\s*$")


class NeedsShared(Exception):
    """A command that names ../shared, which this checkout does not have beside it."""


def readme_blocks(text: str) -> list[tuple[str, bool, list[str]]]:
    """(language, marked runnable, lines) of each fenced block."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        end = index + 1
        while not lines[end].startswith("```"):
            end += 1
        blocks.append((match.group(1), previous.strip() == MARKER, lines[index + 1 : end]))
        index = end + 1
    return blocks


def commands(lines: list[str]) -> list[list[str]]:
    """The commands of a block as argument lists: continuations joined, comments dropped."""
    joined, pending = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [words for words in (shlex.split(line, comments=True) for line in joined) if words]


def _program(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading VAR=value assignments, then the command with a `.venv/bin/` prefix removed."""
    env = {}
    while words and re.match(r"^[A-Z_]+=", words[0]):
        key, value = words[0].split("=", 1)
        env[key] = value
        words = words[1:]
    return env, [words[0].removeprefix(".venv/bin/"), *words[1:]]


def check_command(words: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """Check one command; returns the dry run (argv, environment) still to run, or None when checked here."""
    env, (program, *args) = _program(words)
    if program == "export":
        assert all(re.match(r"^[A-Z_]+=\S*$", a) for a in args), words
        return None
    if program == "lsevos":
        build_parser().parse_args(args)  # exits (SystemExit 2) on an unknown command or option
        return None
    if program == "pip":
        assert args[:2] == ["install", "-e"], words
        extras = re.fullmatch(r"\.\[([\w,]+)\]", args[2]).group(1).split(",")
        known = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        assert set(extras) <= set(known), (extras, sorted(known))
        return None
    if program == "make":
        argv = ["make", "-n", *args]
    elif program == "snakemake":
        profile = args.index("--profile") if "--profile" in args else None
        if profile is not None:
            assert (REPO / args[profile + 1] / "config.yaml").is_file(), words
            if find_spec("snakemake_executor_plugin_slurm") is None:
                # the profile names the SLURM executor, installed by the block's pip line; dry-run the rest
                args = args[:profile] + [
                    a for a in args[profile + 2 :] if a not in ("--workflow-profile", "none")
                ]
                args = [*args, "--cores", "1"]
        if "--configfile" not in args:  # the paper configuration: its whole DAG, at the paper-smoke's scale
            args = [*args, "--configfile", "config/config.yaml", "config/paper-smoke.yaml"]
        argv = ["snakemake", "-n", "--nolock", *args]
        if any("../shared" in a for a in args) and not (REPO.parent / "shared").is_dir():
            raise NeedsShared(" ".join(words))
    else:
        raise AssertionError(f"the README's command {' '.join(words)!r}: no check for {program!r}")
    return argv, env


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    """The dry run in the repository, this Python's environment first on PATH."""
    path = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    return subprocess.Popen(
        argv,
        cwd=REPO,
        env={**os.environ, "PATH": path, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_every_bash_block_is_marked_runnable():
    blocks = readme_blocks((REPO / "README.md").read_text())
    shell = [(marked, lines) for language, marked, lines in blocks if language in ("bash", "sh", "shell")]
    assert len(shell) >= 5
    unmarked = [lines[0] for marked, lines in shell if not marked]
    assert not unmarked, f"bash blocks without {MARKER}: {unmarked}"


def test_readme_commands_run_as_written():
    """Each command of the runnable blocks, checked at once (dry runs side by side); < 20 s in all."""
    started = time.monotonic()
    checked, running, seen, left_out = [], [], set(), []
    for language, marked, lines in readme_blocks((REPO / "README.md").read_text()):
        if language == "bash" and marked:
            for words in commands(lines):
                checked.append(words)
                try:
                    dry_run = check_command(words)
                except NeedsShared as error:
                    left_out.append(str(error))
                    continue
                if dry_run is None:
                    continue
                key = frozenset(dry_run[0]) - {"--cores", "1", "2", "8"}
                if key not in seen:  # the same dry run twice (the SLURM line without its plugin): once
                    seen.add(key)
                    running.append((words, start(*dry_run)))
    for words, process in running:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"{' '.join(words)}:\n{output[-3000:]}"
    programs = {_program(words)[1][0] for words in checked}
    assert {"make", "snakemake", "lsevos"} <= programs, programs
    print(f"{len(checked)} README commands checked in {time.monotonic() - started:.1f} s")
    if left_out:
        pytest.skip(f"../shared is missing: not checked {left_out}")


def test_the_checker_fails_on_a_wrong_command():
    with pytest.raises(SystemExit):
        check_command(["lsevos", "segment", "video.mp4", "--bx", "1,2,3,4", "--out", "o"])
    process = start(*check_command(["make", "no-such-target"]))
    process.communicate(timeout=60)
    assert process.returncode != 0
