"""Fixtures to run Snakemake on the project's workflow from a scratch working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflow" / "Snakefile"
BIN = Path(sys.executable).parent


def environment() -> dict[str, str]:
    """The test's environment with the venv's `lsevos` and `snakemake` first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def snakemake_command(workdir: Path, *args: str, configfile: Path | None = None) -> list[str]:
    command = [str(BIN / "snakemake"), *args, "--snakefile", str(SNAKEFILE), "--directory", str(workdir)]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    return command


def run_snakemake(workdir: Path, *args: str, configfile: Path | None = None, timeout: float = 900):
    return subprocess.run(
        snakemake_command(workdir, *args, configfile=configfile),
        capture_output=True,
        text=True,
        env=environment(),
        timeout=timeout,
    )


def write_config(path: Path, base: str = "demo.yaml", **changes) -> Path:
    """Copy `config/<base>` to `path` with top-level keys replaced (nested dicts merged one level)."""
    config = yaml.safe_load((REPO / "config" / base).read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Workflow:
    """The repository and `run(...)`, `command(...)`, `config(...)`, `env()` for tests."""

    repo = REPO
    run = staticmethod(run_snakemake)
    command = staticmethod(snakemake_command)
    config = staticmethod(write_config)
    env = staticmethod(environment)


@pytest.fixture(scope="session")
def workflow() -> Workflow:
    return Workflow()
