"""Kill-and-resume: a run killed with SIGKILL and restarted ends bitwise equal to an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lsevos.train.checkpoint import load_checkpoint

SETTINGS = {
    "iterations": 40,
    "batch": 2,
    "crop": 32,
    "lr": 0.02,
    "log_every": 5,
    "checkpoint_every": 10,
    "backbone": "tiny",
    "pretrained": False,
    "embed_dim": 8,
    "samples_per_instance": 8,
    "seed": 3,
}


def pretrain_command(spec: dict, out: Path, log: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lsevos.cli",
        "pretrain",
        "--stage",
        "1",
        "--data",
        json.dumps(spec),
        "--settings",
        json.dumps(SETTINGS),
        "--out",
        str(out),
        "--log",
        str(log),
    ]


def environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_killed_run_resumes_to_bitwise_identical_weights(tmp_path, static_spec):
    reference = tmp_path / "reference.pt"
    subprocess.run(
        pretrain_command(static_spec, reference, tmp_path / "reference.csv"),
        check=True,
        env=environment(),
        capture_output=True,
    )

    out, log = tmp_path / "killed.pt", tmp_path / "killed.csv"
    resume = out.with_name(out.name + ".resume")
    process = subprocess.Popen(
        pretrain_command(static_spec, out, log),
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not resume.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert resume.exists() and not out.exists(), (
        "the run was not killed between its first checkpoint and its end"
    )
    killed_at = load_checkpoint(resume)["step"]
    assert 10 <= killed_at < SETTINGS["iterations"]

    log.unlink(
        missing_ok=True
    )  # as Snakemake does with the outputs of a killed job: the resume file keeps the rows
    resumed = subprocess.run(
        pretrain_command(static_spec, out, log), check=True, env=environment(), capture_output=True, text=True
    )
    assert f"resuming from {resume} at step {killed_at}" in resumed.stderr
    assert not resume.exists()
    expected, actual = load_checkpoint(reference)["model_state"], load_checkpoint(out)["model_state"]
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[key], actual[key]) for key in expected)
    assert log.read_text() == (tmp_path / "reference.csv").read_text()


@pytest.mark.slow
def test_worker_processes_change_nothing_in_the_weights(tmp_path, static_spec):
    """Batches made by 2 DataLoader workers equal those of the training process: same weights, bitwise."""
    from lsevos.train.pretrain import PretrainSettings, pretrain

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        weights = {}
        for workers in (0, 2):
            settings = PretrainSettings.from_dict({**SETTINGS, "iterations": 6, "workers": workers})
            out = pretrain(
                "1", static_spec, settings, tmp_path / f"w{workers}.pt", tmp_path / f"w{workers}.csv"
            )
            weights[workers] = load_checkpoint(out)["model_state"]
    finally:
        torch.set_num_threads(previous)
    assert all(torch.equal(weights[0][key], weights[2][key]) for key in weights[0])
    assert (tmp_path / "w0.csv").read_text() == (tmp_path / "w2.csv").read_text()


def test_an_unknown_device_setting_is_refused():
    from lsevos.errors import ConfigError
    from lsevos.train.pretrain import PretrainSettings

    with pytest.raises(ConfigError, match="'device': 'gpu' is not allowed .*; choose one of auto, cpu, cuda"):
        PretrainSettings.from_dict({**SETTINGS, "device": "gpu"})


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="a CUDA device is present: its absence cannot be tested"
)
def test_cuda_without_a_cuda_device_is_refused_before_any_work(tmp_path, static_spec):
    from lsevos.errors import ConfigError
    from lsevos.train.pretrain import PretrainSettings, pretrain

    settings = PretrainSettings.from_dict({**SETTINGS, "device": "cuda"})
    with pytest.raises(ConfigError, match="'cuda' but torch sees no CUDA device"):
        pretrain("1", static_spec, settings, tmp_path / "x.pt", tmp_path / "x.csv")
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "x.csv").exists()
