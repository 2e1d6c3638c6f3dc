"""Tables and figures from small hand-made metric files."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
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


def _cell(path, row_label, column, source=None):
    """The cell of `column` in the first CSV row labelled `row_label` (and from `source`, Table 4)."""
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row[next(iter(row))] == row_label and source in (None, row.get("Source")):
                return row[column]
    raise AssertionError(f"no row {row_label} ({source}) in {path}")


def _norm(label):
    """A name without markup, citation, spaces or hyphens: 'Mask Track[24]' -> 'masktrack'."""
    label = re.sub(r"\$\\mathbf\{(.*?)\}\$", r"\1", label)
    label = re.sub(r"\[\d+\]", "", label)
    return re.sub(r"[\s-]", "", label).lower()


def _paper_table(text, header, count):
    """(normalised column names, rows of cells) of the paper's table whose header line starts with `header`:
    the next `count` non-empty lines of the paper's text, each split at tabs."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    start = next(k for k, line in enumerate(lines) if line.startswith(header))
    names = [_norm(name) for name in lines[start].split("\t")[1:]]
    rows = [line.split("\t") for line in lines[start + 1 : start + 1 + count]]
    return names, rows


def _number(text):
    """A paper cell: '-' (not printed) reads None."""
    return None if text == "-" else float(text)


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _csv_text(value):
    """How tables.to_csv writes a paper value (percent)."""
    return "n/a" if value is None else f"{value:.2f}"


@pytest.fixture(scope="module")
def paper_text(shared_root):
    return (shared_root / "paper" / "000_4be38f2c42fdcd59.txt").read_text()


@pytest.fixture
def rendered(metrics, davis_root, tmp_path):
    """The five tables' CSV files built from the hand-made metrics."""
    out = tmp_path / "rendered"
    make_tables(metrics, davis_root, out, "unit")
    return out


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
    assert _cell(out / "table4.csv", "OnAVOS", "J mean", "DAVIS leaderboard") == "86.10"
    assert _cell(out / "table4.csv", "Ours", "J mean", "this run") == "64.00"
    assert _cell(out / "table5.csv", "Ours", "mIoU") == "70.00"
    assert _cell(out / "table5.csv", "Ours", "mIoU (paper)") == "69.70"
    markdown = (out / "table1.md").read_text()
    # ours (J M/R/D, F M/R/D) then the paper's value of each: GrabCut 61.5 73.4 1.3 / 59.0 72.8 3.7
    grabcut = (
        "| GrabCut | grabcut | 60.0 | 61.5 | 100.0 | 73.4 | 0.0 | 1.3 | "
        + "46.7 | 59.0 | 100.0 | 72.8 | 0.0 | 3.7 |"
    )
    assert "config: unit" in markdown and grabcut in markdown
    assert r"\begin{tabular}" in (out / "table2.tex").read_text()
    latex = (out / "table1.tex").read_text() + (out / "table2.tex").read_text()
    assert grabcut.strip("| ").replace(" | ", " & ") + r" \\" in latex  # the Markdown row's cells
    assert "fp\\_nozoom" in latex and "fp_nozoom" not in latex  # Table 2: a variant's underscore escaped
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["davis"]["grabcut"]["JF"] == pytest.approx((0.6 + 0.4666666) / 2, abs=1e-6)
    assert summary["segtrack"]["ours"]["mIoU"] == pytest.approx(0.7)
    dog = summary["davis"]["grabcut"]["sequences"]["dog"]  # grabcut base 0.5: dog (0.7, 0.5)
    assert dog == pytest.approx({"J_M": 0.7, "F_M": 0.5, "JF": 0.6})
    assert main(["metrics-summary", "--metrics", str(metrics), "--out", str(tmp_path / "summary.json")]) == 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert main(["show-tables", str(out)]) == 0
    assert "Table 5" in capsys.readouterr().out


def test_paper_values_read_from_the_paper_by_hand(rendered):
    """A few cells checked by reading the paper's tables, in their row and column."""
    assert _cell(rendered / "table1.csv", "FP", "J recall (paper)") == "96.30"
    assert _cell(rendered / "table1.csv", "Ours", "F decay (paper)") == "1.30"
    assert _cell(rendered / "table2.csv", "Ours (static)", "F recall (paper)") == "87.00"
    assert _cell(rendered / "table2.csv", "FP (no zoom)", "J decay (paper)") == "9.10"
    assert _cell(rendered / "table3.csv", "DB", "Lucid J (paper)") == "51.00"
    assert _cell(rendered / "table3.csv", "ROT", "FPLSE J (paper)") == "84.00"
    assert _cell(rendered / "table4.csv", "MaskRNN", "F decay", "paper") == "8.80"
    assert _cell(rendered / "table4.csv", "Ours", "J decay", "paper") == "5.60"
    assert _cell(rendered / "table4.csv", "MaskTrack-Box", "J mean", "paper") == "73.70"
    assert _cell(rendered / "table4.csv", "MaskTrack-Box", "F mean", "paper") == "n/a"  # printed "-"
    assert _cell(rendered / "table5.csv", "BVS", "mIoU (paper)") == "58.40"
    assert _cell(rendered / "table5.csv", "BVS", "mIoU") == "n/a"  # ours only for Ours


@pytest.mark.parametrize(("number", "header"), [(1, "Measure\tGrabCut"), (2, "Measure\tFP(no-zoom)")])
def test_tables_1_and_2_carry_every_number_of_the_paper(paper_text, rendered, number, header):
    methods, lines = _paper_table(paper_text, header, 6)
    rows = {_norm(row["Method"]): row for row in _rows(rendered / f"table{number}.csv")}
    assert sorted(rows) == sorted(methods)
    measures = ("J mean", "J recall", "J decay", "F mean", "F recall", "F decay")
    for line, measure in zip(lines, measures, strict=True):
        assert line[-len(methods) - 1].startswith(measure.split()[1].capitalize())  # Mean / Recall / Decay
        for method, value in zip(methods, line[-len(methods) :], strict=True):
            assert rows[method][f"{measure} (paper)"] == _csv_text(float(value)), (number, method, measure)


def test_table3_carries_every_attribute_value_of_the_paper(paper_text, rendered):
    methods, lines = _paper_table(paper_text, "Attribute\tOSVOS", 12)
    assert methods == ["osvos", "lucid", "ours", "fp", "fplse"]
    rows = {row["Attribute"]: row for row in _rows(rendered / "table3.csv")}
    columns = {
        _norm(name.removesuffix(" J (paper)")): name for name in rows["AC"] if name.endswith("(paper)")
    }
    for line in lines:
        code = _norm(line[0]).upper()
        for method, value in zip(methods, line[1:], strict=True):
            # the paper prints fractions; the table shows percent
            assert rows[code][columns[method]] == _csv_text(100 * float(value)), (code, method)


def test_table4_carries_every_row_of_the_paper(paper_text, rendered):
    methods, lines = _paper_table(paper_text, "Measure\tOnAVOS", 6)
    assert len(methods) == 7
    table = _rows(rendered / "table4.csv")
    rows = {_norm(row["Method"]): row for row in table if row["Source"] == "paper"}
    assert set(methods) <= set(rows)
    measures = ("J mean", "J recall", "J decay", "F mean", "F recall", "F decay")
    for line, measure in zip(lines, measures, strict=True):
        for method, value in zip(methods, line[1:], strict=True):
            assert rows[method][measure] == _csv_text(_number(value)), (method, measure)
    # the leaderboard rows stay, and Sec. 5.5 gives Ours on train+val without CRF
    assert {row["Method"] for row in table if row["Source"] == "DAVIS leaderboard"} >= {
        "OSVOS",
        "MSK",
        "OnAVOS",
    }
    in_text = re.search(r"without CRF\. The number is (\d+\.\d)", paper_text).group(1)
    assert rows["ours(train+val,nocrf;sec.5.5text)"]["J mean"] == _csv_text(float(in_text))


def test_table5_carries_every_method_of_the_paper(paper_text, rendered):
    methods, (line,) = _paper_table(paper_text, "Method\tMaskTrack", 1)
    assert line[0] == "mIoU" and len(methods) == 7
    rows = {_norm(row["Method"]): row for row in _rows(rendered / "table5.csv")}
    assert sorted(rows) == sorted(methods)
    for method, value in zip(methods, line[1:], strict=True):
        assert rows[method]["mIoU (paper)"] == _csv_text(float(value)), method


def test_missing_variant_file_names_it(metrics, davis_root, tmp_path):
    (metrics / "davis" / "fplse.csv").unlink()
    with pytest.raises(DataError, match=r"fplse\.csv"):
        make_tables(metrics, davis_root, tmp_path / "out", "unit", numbers=[2])
    assert not (tmp_path / "out").exists()


def test_a_variant_the_configuration_leaves_out_reads_na(metrics, davis_root, tmp_path, capsys):
    """`--left-out davis/fp_nozoom`: that row's measures read n/a with a note; every other cell is the
    same as with the file present; a variant not left out still must exist."""
    (metrics / "davis" / "fp_nozoom.csv").unlink()
    out = tmp_path / "out"
    code = main(["tables", "--metrics", str(metrics), "--gt-davis", str(davis_root), "--out", str(out),
                 "--config-name", "unit", "--tables", "2", "--left-out", "davis/fp_nozoom"])  # fmt: skip
    assert code == 0
    rows = {row["Variant"]: row for row in _rows(out / "table2.csv")}
    assert rows["fp_nozoom"]["J mean"] == "n/a" and rows["fp_nozoom"]["J mean (paper)"] != "n/a"
    assert rows["ours"]["J mean"] != "n/a"
    assert "leaves that variant out" in (out / "table2.md").read_text()
    with pytest.raises(DataError, match=r"fplse\.csv"):
        (metrics / "davis" / "fplse.csv").unlink()
        make_tables(metrics, davis_root, tmp_path / "again", "unit", [2], frozenset({("davis", "fp_nozoom")}))


@pytest.mark.parametrize("item", ["fp_nozoom", "davis/fp-nozoom", "davis/fp_nozoom/x", "kitti/ours"])
def test_left_out_names_a_bad_item(metrics, davis_root, tmp_path, capsys, item):
    code = main(["tables", "--metrics", str(metrics), "--gt-davis", str(davis_root), "--out",
                 str(tmp_path / "out"), "--config-name", "unit", "--left-out", item])  # fmt: skip
    assert code != 0 and not (tmp_path / "out").exists()
    assert f"--left-out: {item!r} is not DATASET/VARIANT" in capsys.readouterr().err


def test_refused_tables_and_figures_leave_no_output_folder(metrics, davis_root, tmp_path, capsys):
    """An input refused (after the outputs were claimed) leaves no empty `--out`; a figure is drawn only
    once every metrics file has been read; an `--out` among the metrics CSVs is refused."""
    out = tmp_path / "new" / "tables"
    argv = ["--gt-davis", str(davis_root), "--out", str(out)]
    assert main(["tables", "--metrics", str(tmp_path / "nosuch"), *argv, "--config-name", "unit"]) == 2
    assert not (tmp_path / "new").exists()
    (metrics / "davis" / "ours.per_frame.csv").write_text("sequence,frame,J,F\nblackswan,1,abc,0.5\n")
    assert main(["figures", "--metrics", str(metrics), *argv]) == 2
    assert not (tmp_path / "new").exists()
    inside = metrics / "davis" / "tables"  # among the CSVs (`metrics/tables` is a folder of its own)
    code = main(["tables", "--metrics", str(metrics), "--gt-davis", str(davis_root), "--out", str(inside),
                 "--config-name", "unit"])  # fmt: skip
    assert code == 2 and not inside.exists()
    assert "--out is the input" in capsys.readouterr().err


@pytest.mark.slow
def test_figures(metrics, davis_root, tmp_path):
    out = tmp_path / "figures"
    assert main(["figures", "--metrics", str(metrics), "--gt-davis", str(davis_root), "--out", str(out)]) == 0
    for name in ("attributes.png", "per_frame_J.png"):
        with Image.open(out / name) as image:
            assert image.size[0] > 200 and image.size[1] > 100


def _of_colour(image: np.ndarray, colour: str) -> np.ndarray:
    """bool [H,W]: the pixels of `image` [H,W,3] within 12 levels of matplotlib's `colour`."""
    from matplotlib.colors import to_rgb

    return np.abs(image.astype(float) - np.array(to_rgb(colour)) * 255).max(axis=2) <= 12


def _column_runs(pixels: np.ndarray) -> np.ndarray:
    """int [W]: the longest vertical run of True in each column of `pixels` [H,W]."""
    runs = []
    for column in pixels.T:
        edges = np.diff(np.concatenate(([0], column.astype(int), [0])))
        runs.append(int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max(initial=0)))
    return np.array(runs)


def test_attribute_bars_are_as_tall_as_their_mean_j(tmp_path):
    """One variant at J 1.0 on AC and 0.5 on BC: the AC bar is twice as tall, in the rendered pixels."""
    from lsevos.evaluation.figures import attribute_bars

    out = attribute_bars({"Ours": {"AC": (1.0, 2), "BC": (0.5, 1)}}, tmp_path / "bars.png")
    runs = _column_runs(_of_colour(np.asarray(Image.open(out).convert("RGB")), "C0"))
    tall = runs.max()
    short = runs[runs < 0.75 * tall].max()  # the BC bar (the legend's patch is a few pixels tall)
    assert short > 50 and tall == pytest.approx(2 * short, rel=0.05)


def test_per_frame_curves_draw_each_variant_at_its_j(tmp_path):
    """Three variants at J 0.9, 0.5 and 0.1 (F the reverse) on every frame: in the panel without the legend
    their lines lie one above the other, evenly spaced (the axis is linear), in the plotting order's
    colours."""
    from lsevos.evaluation.figures import per_frame_curves

    frames = np.arange(1, 6)
    per_variant = {
        label: {name: (frames, np.full(5, j), np.full(5, 1 - j)) for name in ("a", "b")}
        for label, j in (("high", 0.9), ("half", 0.5), ("low", 0.1))
    }
    out = per_frame_curves(per_variant, tmp_path / "curves.png")
    panel = np.asarray(Image.open(out).convert("RGB"))
    panel = panel[:, panel.shape[1] // 2 :]  # sequence b: the legend is in a's panel
    top, middle, bottom = (np.median(np.nonzero(_of_colour(panel, c))[0]) for c in ("C0", "C1", "C2"))
    assert top < middle < bottom
    assert middle - top == pytest.approx(bottom - middle, abs=2)


def test_overlay_tints_each_object_half_way_to_its_davis_colour():
    from lsevos.evaluation.figures import overlay

    frame = np.full((1, 3, 3), 100, dtype=np.uint8)
    mask = np.array([[1, 2, 0]], dtype=np.uint8)
    # DAVIS colours 1 = (128, 0, 0), 2 = (0, 128, 0); alpha 0.5: (100 + 128) / 2 = 114, 100 / 2 = 50
    assert overlay(frame, mask).tolist() == [[[114, 50, 50], [50, 114, 50], [100, 100, 100]]]
    assert overlay(frame, mask, alpha=0.25)[0, 0].tolist() == [107, 75, 75]  # 75 + 32, 75


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
    for count in ("0", "-3"):
        again = tmp_path / f"count{count}.png"
        code = main(["figure-qualitative", "--frames", str(frames), "--masks", str(masks), "--boxes",
                     str(boxes), "--out", str(again), "--count", count])  # fmt: skip
        assert code == 2 and not again.exists()
    code = main(["figure-qualitative", "--frames", str(frames), "--masks", str(masks), "--boxes", str(boxes),
                 "--out", str(out), "--count", "3"])  # fmt: skip
    assert code == 0
    with Image.open(out) as image:
        assert image.size[0] > image.size[1] > 100
        rgb = np.asarray(image.convert("RGB"))
    # three panels side by side; the yellow box only where boxes.json has one (frame 00000)
    thirds = np.array_split(rgb, 3, axis=1)
    yellow = [np.count_nonzero(_of_colour(third, "yellow")) for third in thirds]
    assert yellow[0] > 100 and yellow[1] == yellow[2] == 0


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_metrics_value_that_is_not_finite_is_named(metrics, tmp_path, capsys, value):
    """A mean over nan or inf would print nan in every table: the CSV's line is named instead."""
    from lsevos.evaluation.metric_files import read_per_frame_rows, read_per_sequence

    path = metrics / "davis" / "ours.csv"
    path.write_text(HEADER + f"camel,0.5,1.0,{value},0.4,1.0,0.0\n")
    with pytest.raises(DataError, match=r"ours.csv:2: a value of camel is not a finite number"):
        read_per_sequence(path)
    frames = metrics / "davis" / "ours.per_frame.csv"
    frames.write_text(f"sequence,frame,J,F\ncamel,1,0.5,0.6\ncamel,2,{value},0.6\n")
    with pytest.raises(DataError, match=r"ours.per_frame.csv:3: J or F is not a finite number"):
        read_per_frame_rows(frames)
    assert main(["merge-metrics", "--out", str(tmp_path / "all.csv"), "--", str(path)]) == 2
    assert "camel is not a finite number" in capsys.readouterr().err
    assert not (tmp_path / "all.csv").exists()


def test_merge_metrics_refuses_per_frame_inputs_without_their_output(metrics, tmp_path, capsys):
    frames = metrics / "davis" / "ours.per_frame.csv"
    argv = ["merge-metrics", "--out", str(tmp_path / "all.csv"), "--per-frame-in", str(frames), "--",
            str(metrics / "davis" / "ours.csv")]  # fmt: skip
    assert main(argv) == 2
    assert "--per-frame-in needs --per-frame-out" in capsys.readouterr().err
    assert not (tmp_path / "all.csv").exists()
    assert main([*argv[:3], "--per-frame-out", str(tmp_path / "all.per_frame.csv"), *argv[3:]]) == 0
    assert (tmp_path / "all.per_frame.csv").read_text() == frames.read_text()


@pytest.mark.parametrize("numbers", ["", " , ", "6", "0,1", "2,x"])
def test_tables_refuses_an_empty_or_unknown_table_list(metrics, davis_root, tmp_path, capsys, numbers):
    out = tmp_path / "out"
    code = main(["tables", "--metrics", str(metrics), "--gt-davis", str(davis_root), "--out", str(out),
                 "--config-name", "unit", "--tables", numbers])  # fmt: skip
    assert code == 2 and not out.exists()
    assert f"--tables {numbers!r}: give table numbers 1-5" in capsys.readouterr().err


def test_figures_names_the_csv_of_a_sequence_outside_the_davis_root(metrics, davis_root, tmp_path, capsys):
    _write_variant(metrics / "davis", "fp", {"camel": (0.5, 0.4), "no-such-video": (0.6, 0.5)})
    out = tmp_path / "figures"
    assert main(["figures", "--metrics", str(metrics), "--gt-davis", str(davis_root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{metrics / 'davis' / 'fp.csv'}: sequence no-such-video is not in {davis_root}" in err
    assert not out.exists()


def test_latex_escapes_what_a_tabular_would_read_as_markup():
    from lsevos.evaluation.tables import _latex_escape

    assert _latex_escape(r"fp_nozoom & 5% #1 \ x") == r"fp\_nozoom \& 5\% \#1 \textbackslash{} x"
    # in one pass: the braces of an escape are not escaped again
    assert (
        _latex_escape(r"$1 {a} ~ ^ \\")
        == r"\$1 \{a\} \textasciitilde{} \textasciicircum{} \textbackslash{}\textbackslash{}"
    )
