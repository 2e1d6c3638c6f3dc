"""Tables and figures from small hand-made metric files."""

from __future__ import annotations

import csv
import json

import pytest
from PIL import Image

from lsevos.cli import main
from lsevos.errors import DataError
from lsevos.evaluation.tables import VARIANTS, make_tables

HEADER = "sequence,J_M,J_R,J_D,F_M,F_R,F_D\n"


def _write_variant(folder, variant, values):
    """values: {sequence: (J_M, F_M)}; per-frame J/F of frames 1..3 equal the means."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{name},{j},1.0,0.0,{f},1.0,0.0\n" for name, (j, f) in values.items()]
    (folder / f"{variant}.csv").write_text(HEADER + "".join(lines) + "mean,0,0,0,0,0,0\n")
    frames = [f"{name},{i},{j},{f}\n" for name, (j, f) in values.items() for i in (1, 2, 3)]
    (folder / f"{variant}.per_frame.csv").write_text("sequence,frame,J,F\n" + "".join(frames))


@pytest.fixture
def metrics(tmp_path):
    root = tmp_path / "metrics"
    for offset, variant in enumerate(VARIANTS):
        base = 0.5 + 0.01 * offset
        _write_variant(
            root / "davis",
            variant,
            {"camel": (base, base - 0.1), "dog": (base + 0.2, base), "car-shadow": (base + 0.1, base)},
        )
    objects = {"bmx_1": (0.6, 0.5), "bmx_2": (0.7, 0.6), "frog_1": (0.8, 0.7)}
    _write_variant(root / "segtrack", "ours", objects)
    return root


def _cell(path, row_label, column):
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row[next(iter(row))] == row_label:
                return row[column]
    raise AssertionError(f"no row {row_label} in {path}")


def test_tables_land_values_in_the_right_cells(metrics, davis_root, tmp_path, capsys):
    out = tmp_path / "tables"
    code = main(["tables", "--metrics", str(metrics), "--gt-davis", str(davis_root), "--out", str(out),
                 "--config-name", "unit"])  # fmt: skip
    assert code == 0
    # grabcut is VARIANTS[0]: J_M = mean(0.5, 0.7, 0.6) = 0.6, F_M = mean(0.4, 0.5, 0.5)
    assert _cell(out / "table1.csv", "GrabCut", "J mean") == "60.00"
    assert _cell(out / "table1.csv", "GrabCut", "F mean") == "46.67"
    assert _cell(out / "table1.csv", "GrabCut", "J mean (paper)") == "61.50"
    assert _cell(out / "table2.csv", "Ours+CRF", "F mean (paper)") == "80.10"
    # ours is VARIANTS[4], base 0.54: CS is carried by camel (0.54) and dog (0.74)
    assert _cell(out / "table3.csv", "CS", "Ours J") == "64.00"
    assert _cell(out / "table3.csv", "CS", "Sequences") == "2"
    assert _cell(out / "table3.csv", "LR", "Ours J") == "64.00"  # car-shadow only
    assert _cell(out / "table3.csv", "CS", "Ours J (paper)") == "n/a"
    assert _cell(out / "table4.csv", "OnAVOS", "J mean") == "86.10"
    assert _cell(out / "table5.csv", "Ours", "mIoU") == "70.00"
    assert _cell(out / "table5.csv", "Ours", "mIoU (paper)") == "69.70"
    markdown = (out / "table1.md").read_text()
    assert "config: unit" in markdown and "| GrabCut | grabcut | 60.0 | 61.5 | 46.7 | 59.0 |" in markdown
    assert r"\begin{tabular}" in (out / "table2.tex").read_text()
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["davis"]["grabcut"]["JF"] == pytest.approx((0.6 + 0.4666666) / 2, abs=1e-6)
    assert summary["segtrack"]["ours"]["mIoU"] == pytest.approx(0.7)
    dog = summary["davis"]["grabcut"]["sequences"]["dog"]  # grabcut base 0.5: dog (0.7, 0.5)
    assert dog == pytest.approx({"J_M": 0.7, "F_M": 0.5, "JF": 0.6})
    assert main(["metrics-summary", "--metrics", str(metrics), "--out", str(tmp_path / "summary.json")]) == 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert main(["show-tables", str(out)]) == 0
    assert "Table 5" in capsys.readouterr().out


def test_missing_variant_file_names_it(metrics, davis_root, tmp_path):
    (metrics / "davis" / "fplse.csv").unlink()
    with pytest.raises(DataError, match=r"fplse\.csv"):
        make_tables(metrics, davis_root, tmp_path / "out", "unit", numbers=[2])
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_figures(metrics, davis_root, tmp_path):
    out = tmp_path / "figures"
    assert main(["figures", "--metrics", str(metrics), "--gt-davis", str(davis_root), "--out", str(out)]) == 0
    for name in ("attributes.png", "per_frame_J.png"):
        with Image.open(out / name) as image:
            assert image.size[0] > 200 and image.size[1] > 100


def test_qualitative_figure(davis_root, oracle_root, tmp_path):
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"frames": {"00000": [100, 50, 400, 300], "00001": None}, "enlarge": 1.0}))
    masks = tmp_path / "masks"
    masks.mkdir()
    source = oracle_root / "predictions" / "dilate7" / "car-shadow"
    for name in ("00000", "00001", "00002"):
        Image.open(source / f"{name}.png").save(masks / f"{name}.png")
    out = tmp_path / "qualitative.png"
    frames = davis_root / "JPEGImages" / "480p" / "car-shadow"
    code = main(["figure-qualitative", "--frames", str(frames), "--masks", str(masks), "--boxes", str(boxes),
                 "--out", str(out), "--count", "3"])  # fmt: skip
    assert code == 0
    with Image.open(out) as image:
        assert image.size[0] > image.size[1] > 100
