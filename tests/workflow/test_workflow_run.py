"""Real Snakemake runs of the whole DAG on a small built-in benchmark: tables, rerun, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lsevos.evaluation.tables import VARIANTS

SMALL = {
    "data": {
        "source": "synthetic",
        "synthetic": {
            "seed": 0,
            "settings": {
                "static_train": 40,
                "static_val": 4,
                "sequences": ["lookalike-cross"],
                "video_frames": 10,
                "segtrack_frames": 8,
            },
        },
    },
    "sequences": {"davis": ["lookalike-cross"], "segtrack": ["solo_1"]},
}
ITERATIONS = {"stage1": 20, "stage2": 10, "stage3": 20, "fp": 20}


def small_config(workflow, path: Path) -> Path:
    """config/demo.yaml shrunk to one DAVIS-like video, one SegTrack-like object and a few steps, with the
    `prior` variant beside the paper's."""
    import yaml

    demo = yaml.safe_load((workflow.repo / "config" / "demo.yaml").read_text())
    pretrain = demo["pretrain"]
    for stage, iterations in ITERATIONS.items():
        pretrain[stage] = {**pretrain[stage], "iterations": iterations, "checkpoint_every": 10}
    return workflow.config(
        path,
        results_dir="results/small",
        pretrain=pretrain,
        video={**demo["video"], "finetune_epochs": 3},
        variants=[*demo["variants"], "prior"],
        **SMALL,
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, workflow):
    """One uninterrupted run of `tables` in a scratch folder."""
    work = tmp_path_factory.mktemp("run")
    config = small_config(workflow, work / "small.yaml")
    result = workflow.run(work, "tables", "--cores", "2", configfile=config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work, config


@pytest.mark.slow
def test_tables_hold_every_variant_and_the_paper(finished_run):
    work, _ = finished_run
    tables = work / "results" / "small" / "tables"
    table2 = (tables / "table2.md").read_text()
    for variant in VARIANTS[1:7]:  # the six Table-2 variants
        assert f"| {variant} |" in table2
    assert "| 81.0 |" in table2  # the paper's J mean of Ours beside ours
    assert "| grabcut |" in (tables / "table1.md").read_text()
    summary = json.loads((tables / "metrics.json").read_text())
    assert set(summary["davis"]) == set(VARIANTS)  # `prior` too, though no paper table holds it
    assert summary["davis"]["prior"]["count"] == 1
    prior = work / "results" / "small" / "davis" / "lookalike-cross" / "ours" / "prior"
    assert json.loads((prior / "boxes.json").read_text())["mode"] == "zoom"
    assert len(list((prior / "masks").glob("*.png"))) == 10
    for number in range(1, 6):
        for suffix in ("csv", "md", "tex"):
            assert (tables / f"table{number}.{suffix}").stat().st_size > 0
    masks = sorted((work / "results" / "small" / "davis" / "lookalike-cross" / "masks").glob("*.png"))
    assert len(masks) == 10
    assert (work / "results" / "small" / "figures" / "qualitative" / "davis_lookalike-cross.png").is_file()


@pytest.mark.slow
def test_every_long_job_leaves_a_benchmark_record(finished_run):
    """`lsevos cost` on the real run: a record per job of each long rule, one per log file."""
    from lsevos.cost import read_jobs, summary_rows

    work, _ = finished_run
    results = work / "results" / "small"
    rows = {row["step"]: row for row in summary_rows(read_jobs(results))}
    assert {"pretrain", "adapt", "scan_gtbox", "crf", "grabcut", "evaluate"} <= set(rows)
    logs = results / "logs"
    assert rows["adapt"]["jobs"] == len(list(logs.rglob("adapt.log"))) > 0
    assert rows["evaluate"]["jobs"] == len(list(logs.rglob("evaluate_*.log"))) > 0
    assert rows["pretrain"]["jobs"] == len(list((results / "pretrain").rglob("stage*.pt"))) == 4
    assert all(row["wall_s"] > 0 for row in rows.values())


@pytest.mark.slow
def test_rerun_with_nothing_changed_does_nothing(finished_run, workflow):
    work, config = finished_run
    result = workflow.run(work, "tables", "--cores", "2", configfile=config)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_tables(finished_run, tmp_path, workflow):
    reference, _ = finished_run
    config = small_config(workflow, tmp_path / "small.yaml")
    command = workflow.command(tmp_path, "tables", "--cores", "2", configfile=config)
    process = subprocess.Popen(
        command,
        env=workflow.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Kill the whole process group (Snakemake and its running jobs) inside a chain: its fine-tune and
    # scan 1 are finished (kept in the chain's resume folder), the rest not.
    deadline = time.monotonic() + 600
    family = tmp_path / "results" / "small" / "davis" / "lookalike-cross" / "fp"
    first_scan = family / ".adapt-resume" / "scan1"
    while not first_scan.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "results" / "small" / "tables" / "table2.csv").exists()
    # A SIGKILLed Snakemake cannot remove its lock: `--unlock` once, as the README says.
    assert workflow.run(tmp_path, "--unlock", configfile=config).returncode == 0

    result = workflow.run(tmp_path, "tables", "--cores", "2", configfile=config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = tmp_path / "results" / "small" / "logs" / "davis" / "lookalike-cross" / "fp" / "adapt.log"
    assert "adapt: resuming after finetune, scan1" in log.read_text()  # the chain went on where it was
    assert not (family / ".adapt-resume").exists()
    for number in range(1, 6):
        ours = (tmp_path / "results" / "small" / "tables" / f"table{number}.csv").read_text()
        theirs = (reference / "results" / "small" / "tables" / f"table{number}.csv").read_text()
        assert ours == theirs, f"table{number}.csv differs after kill and resume"


@pytest.mark.slow
def test_report_embeds_tables_and_figures(finished_run, workflow):
    work, config = finished_run
    result = workflow.run(work, "--report", "report.html", configfile=config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (work / "report.html").read_text(errors="replace")
    for name in ("table2.md", "attributes.png", "davis_lookalike-cross.png", "stage3_losses.png"):
        assert name in report, f"{name} missing from the report"


@pytest.mark.slow
def test_jobs_find_lsevos_when_the_environment_is_not_activated(tmp_path, workflow):
    """`.venv/bin/snakemake` started with a PATH that lacks `.venv/bin`: the jobs still run `lsevos`."""
    import shutil
    import sys

    venv_bin = Path(sys.executable).parent
    config = small_config(workflow, tmp_path / "small.yaml")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        part
        for part in env.get("PATH", "").split(os.pathsep)
        if part and Path(part).resolve() != venv_bin.resolve()
    )
    assert shutil.which("lsevos", path=env["PATH"]) is None
    command = workflow.command(tmp_path, "results/small/data/synthetic", "--cores", "1", configfile=config)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "results" / "small" / "data" / "synthetic" / "static").is_dir()
