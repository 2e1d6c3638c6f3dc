"""`lsevos cost`: Snakemake benchmark records summed per workflow step, by hand on real-format files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lsevos.cli import main
from lsevos.cost import read_jobs, step_of, summary_rows
from lsevos.errors import DataError

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def record(path: Path, seconds: str, rss: str = "100.0", cpu: str = "1.0") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:00\t{rss}\t1.0\t1.0\t1.0\t0.0\t0.0\t50.0\t{cpu}\n")


@pytest.fixture
def results(tmp_path) -> Path:
    bench = tmp_path / "results" / "benchmarks"
    record(bench / "pretrain" / "a" / "stage1.tsv", "100.0", "900.5", "95.0")
    record(bench / "pretrain" / "a" / "stage2.tsv", "50.0", "800.0", "48.0")
    record(bench / "davis" / "dog" / "ours" / "adapt.tsv", "200.0", "1200.0", "190.0")
    record(bench / "davis" / "dog" / "ours" / "gtbox.tsv", "30.0", "700.0", "29.0")
    record(bench / "davis" / "dog" / "ours" / "scan2_crf.tsv", "10.0", "NA", "-")
    record(bench / "davis" / "dog" / "evaluate_ours.tsv", "2.0", "90.0", "1.5")
    record(bench / "davis" / "dog" / "evaluate_grabcut.tsv", "4.0", "95.0", "3.5")
    record(bench / "davis" / "dog" / "grabcut.tsv", "300.0", "300.0", "290.0")
    return tmp_path / "results"


def test_steps_are_named_from_the_workflow_file_names():
    names = [
        "stage3.tsv",
        "stagefp.tsv",
        "adapt.tsv",
        "gtbox.tsv",
        "prior.tsv",
        "scan1_crf.tsv",
        "evaluate_fp.tsv",
    ]
    steps = [step_of(Path(name)) for name in names]
    assert steps == ["pretrain", "pretrain", "adapt", "scan_gtbox", "scan_prior", "crf", "evaluate"]


def test_sums_per_step_by_hand(results):
    rows = {row["step"]: row for row in summary_rows(read_jobs(results))}
    assert rows["pretrain"] == {
        "step": "pretrain", "jobs": 2, "wall_s": 150.0, "mean_s": 75.0, "max_s": 100.0,
        "cpu_s": 143.0, "max_rss_mb": 900.5,
    }  # fmt: skip
    assert rows["evaluate"]["jobs"] == 2 and rows["evaluate"]["wall_s"] == 6.0
    assert rows["crf"]["cpu_s"] is None and rows["crf"]["max_rss_mb"] is None  # "NA" / "-" unmeasured
    assert rows["total"]["jobs"] == 8 and rows["total"]["wall_s"] == 696.0
    assert rows["total"]["max_rss_mb"] == 1200.0


def test_command_prints_and_writes_the_table(results, tmp_path, capsys):
    out = tmp_path / "cost.md"
    assert main(["cost", str(results), "--cores", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed == out.read_text()
    assert "| adapt | 1 | 200 | 200 | 200 | 190 | 1200 |" in printed
    # 696 s of job time on 2 cores: at least 348 s = 0.10 h wall
    assert "8 jobs, 0.19 h of job time: at least 0.10 h wall on 2 core(s)" in printed
    # 657.0 CPU seconds (the CRF's "-" unmeasured): 0.18 h, at least 0.09 h on 2 cores
    assert "(0.18 h of CPU time: at least 0.09 h)" in printed


def test_repeated_records_are_averaged(tmp_path):
    path = tmp_path / "benchmarks" / "davis" / "a" / "ours" / "adapt.tsv"
    record(path, "10.0", "100.0", "8.0")
    with open(path, "a") as handle:
        handle.write("20.0\t0:00:20\tNA\t1.0\t1.0\t1.0\t0.0\t0.0\t50.0\t12.0\n")
    (job,) = read_jobs(tmp_path)
    assert (job.step, job.seconds, job.cpu_seconds, job.max_rss_mb) == ("adapt", 15.0, 10.0, 100.0)


def test_no_records_and_a_foreign_file_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="no benchmark records"):
        read_jobs(tmp_path)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "notes.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(DataError, match="notes.tsv: not a Snakemake benchmark record"):
        read_jobs(tmp_path)
    assert main(["cost", str(tmp_path), "--cores", "0"]) == 2
