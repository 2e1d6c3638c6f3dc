"""The README's results tables come from the committed metrics files and cannot drift from them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from lsevos.cli import main
from lsevos.errors import DataError
from lsevos.evaluation.readme_tables import BEGIN, END, check, render, replace_block

REPO = Path(__file__).resolve().parents[2]


def _measures(j_m: float, f_m: float, count: int = 2) -> dict:
    return {
        "J_M": j_m, "J_R": 1.0, "J_D": -0.046, "F_M": f_m, "F_R": 0.5, "F_D": 0.0,
        "JF": (j_m + f_m) / 2, "mIoU": j_m, "count": count,
        "sequences": {"a": {"J_M": j_m, "F_M": f_m, "JF": (j_m + f_m) / 2}},
    }  # fmt: skip


@pytest.fixture
def metrics(tmp_path: Path) -> Path:
    folder = tmp_path / "metrics"
    folder.mkdir()
    run = {"config": "demo", "commit": "abc1234", "date": "2026-12-05 10:00 UTC", "machine": "2 cores"}
    (folder / "demo.json").write_text(
        json.dumps(
            {
                # a variant unknown to the code, written first: it comes after the paper's rows
                "davis": {
                    "ours_check": _measures(0.5, 0.25, 3),
                    "prior": _measures(0.6, 0.55),
                    "ours": _measures(0.812, 0.8245),
                },
                "segtrack": {"ours": _measures(0.784, 0.7, 3)},
                "davis_heldout": {"ours": _measures(0.7, 0.6, 10)},
                "run": run,
            }
        )
    )
    (folder / "paper.json").write_text(json.dumps({"status": "not produced yet: run it"}))
    return folder


def test_one_table_per_file_and_one_row_per_dataset_and_variant(metrics: Path):
    block = render(metrics)
    assert block.startswith(BEGIN) and block.endswith(END)
    lines = block.splitlines()
    # known variants in the paper's order, then the others as the file lists them; fractions -> percent,
    # the paper's J / F mean of Ours (Table 2: 81.0 / 80.3) beside ours
    rows = [line for line in lines if line.startswith(("| DAVIS |", "| SegTrack |"))]
    assert rows[0] == "| DAVIS | Ours | 2 | 81.2 | 100.0 | -4.6 | 82.5 | 50.0 | 0.0 | 81.0 / 80.3 |"
    # the `prior` variant: its label, after the paper's rows, no paper value
    assert (
        rows[1] == "| DAVIS | prior alone (same tracker) | 2 | 60.0 | 100.0 | -4.6 | 55.0 | 50.0 | 0.0 |  |"
    )
    assert rows[2] == "| DAVIS | ours_check | 3 | 50.0 | 100.0 | -4.6 | 25.0 | 50.0 | 0.0 |  |"
    assert rows[3] == "| SegTrack | Ours | 3 | 78.4 | 100.0 | -4.6 | 70.0 | 50.0 | 0.0 | mIoU 69.7 |"
    assert "| davis_heldout | Ours | 10 | 70.0 |" in block
    assert "Measured 2026-12-05 10:00 UTC, commit `abc1234`, machine: 2 cores" in block
    assert "### `demo` configuration" in block and "### `paper` configuration" in block
    assert "No numbers yet (`" in block and "not produced yet: run it" in block
    assert block.index("`demo` configuration") < block.index("`paper` configuration")  # by file name


def test_write_then_check_and_a_hand_edit_fails(metrics: Path, tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n\n{BEGIN}\nold\n{END}\n\nafter\n")
    assert check(readme, metrics) is not None  # stale
    assert replace_block(readme, render(metrics)) is True
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert check(readme, metrics) is None
    assert replace_block(readme, render(metrics)) is False  # nothing to do
    readme.write_text(text.replace("| 81.2 |", "| 81.3 |"))
    problem = check(readme, metrics)
    assert problem and "81.3" in problem and "lsevos readme-tables --write" in problem


def test_markers_missing_or_twice(metrics: Path, tmp_path: Path):
    readme = tmp_path / "README.md"
    for text in ("no markers\n", f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n", f"{END}\n{BEGIN}\n"):
        readme.write_text(text)
        with pytest.raises(DataError, match="README.md: needs one line"):
            check(readme, metrics)


def test_bad_metrics_file_named(tmp_path: Path):
    (tmp_path / "cpu.json").write_text("{not json")
    with pytest.raises(DataError, match="cpu.json: not a readable metrics JSON"):
        render(tmp_path)
    (tmp_path / "cpu.json").write_text(json.dumps({"davis": [1, 2]}))
    with pytest.raises(DataError, match="cpu.json: 'davis' is not a mapping of variants"):
        render(tmp_path)
    with pytest.raises(DataError, match="no metrics"):
        render(tmp_path / "empty")


def test_the_readme_block_is_what_the_committed_metrics_give():
    """README.md's results block equals `lsevos readme-tables` on the committed metrics/*.json."""
    problem = check(REPO / "README.md", REPO / "metrics")
    assert problem is None, problem


def test_a_number_changed_by_hand_in_the_readme_fails(tmp_path: Path, capsys):
    """A copy of the real README with one number of its results block changed fails the check (CLI exit 2),
    and `--write` restores exactly the committed README."""
    readme = tmp_path / "README.md"
    shutil.copy(REPO / "README.md", readme)
    metrics = tmp_path / "metrics"
    shutil.copytree(REPO / "metrics", metrics)
    text = readme.read_text()
    start, stop = text.index(BEGIN), text.index(END)
    numbers = list(re.finditer(r"\| (\d+)\.(\d) \|", text[start:stop]))
    assert numbers, "the README's results block holds no numbers"
    hit = numbers[len(numbers) // 2]
    digit = hit.start(2) + start
    changed = text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1 :]
    readme.write_text(changed)
    assert main(["readme-tables", "--metrics", str(metrics), "--check", str(readme)]) == 2
    assert "run `lsevos readme-tables --write" in capsys.readouterr().err
    assert main(["readme-tables", "--metrics", str(metrics), "--write", str(readme)]) == 0
    assert readme.read_text() == (REPO / "README.md").read_text()
    assert main(["readme-tables", "--metrics", str(metrics), "--check", str(readme)]) == 0


def test_a_readme_that_cannot_be_read_is_named_in_one_line(tmp_path: Path, capsys):
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\xff\xfe not text")
    for readme in (tmp_path / "nosuch.md", tmp_path, binary):
        for option in ("--check", "--write"):
            assert main(["readme-tables", option, str(readme)]) == 2
            line = capsys.readouterr().err.strip()
            assert line.startswith(f"lsevos readme-tables: error: {readme}: cannot read it as the README")
            assert "\n" not in line
    assert not (tmp_path / "nosuch.md").exists()


def test_a_metrics_file_changed_without_regenerating_fails(tmp_path: Path):
    readme = tmp_path / "README.md"
    shutil.copy(REPO / "README.md", readme)
    metrics = tmp_path / "metrics"
    shutil.copytree(REPO / "metrics", metrics)
    (metrics / "zz-new.json").write_text(json.dumps({"davis": {"ours": _measures(0.9, 0.9)}}))
    assert check(readme, metrics) is not None


def test_metrics_summary_records_where_the_run_was_measured(tmp_path: Path):
    """`lsevos metrics-summary --config-name` (the workflow's rule) adds the run record the README shows."""
    davis = tmp_path / "metrics" / "davis"
    davis.mkdir(parents=True)
    (davis / "ours.csv").write_text(
        "sequence,J_M,J_R,J_D,F_M,F_R,F_D\na,0.5,1,0,0.25,0,0\nb,0.7,1,0,0.75,1,0\nmean,0.6,1,0,0.5,0.5,0\n"
    )
    out = tmp_path / "summary" / "demo.json"
    assert main(["metrics-summary", "--metrics", str(tmp_path / "metrics"), "--out", str(out)]) == 0
    assert "run" not in json.loads(out.read_text())
    args = [
        "metrics-summary",
        "--metrics",
        str(tmp_path / "metrics"),
        "--out",
        str(out),
        "--config-name",
        "demo",
    ]
    assert main(args) == 0
    summary = json.loads(out.read_text())
    assert summary["davis"]["ours"]["J_M"] == pytest.approx(0.6) and summary["davis"]["ours"]["count"] == 2
    run = summary["run"]
    assert run["config"] == "demo" and re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d UTC", run["date"])
    assert re.fullmatch(r"[0-9a-f]{12}|unknown", run["commit"]) and "cores" in run["machine"]
    block = render(out.parent)
    assert f"Measured {run['date']}, commit `{run['commit']}`" in block
    assert "| DAVIS | Ours | 2 | 60.0 | 100.0 | 0.0 | 50.0 | 50.0 | 0.0 | 81.0 / 80.3 |" in block
