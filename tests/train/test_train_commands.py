"""Settings and data descriptions of `lsevos pretrain`, and `lsevos plot-losses`."""

import re

import pytest
from PIL import Image

from lsevos.cli import main
from lsevos.errors import ConfigError
from lsevos.train.data import check_data_spec
from lsevos.train.pretrain import PretrainSettings, pretrain


def test_settings_defaults_and_key_errors():
    settings = PretrainSettings.from_dict({"iterations": 5, "lr": 1, "backbone": "tiny"})
    assert settings.iterations == 5 and settings.lr == 1.0 and isinstance(settings.lr, float)
    assert settings.batch == 7 and settings.crop == 321  # the paper's values by default
    with pytest.raises(ConfigError, match="'iteration': unknown key \\(did you mean 'iterations'\\?\\)"):
        PretrainSettings.from_dict({"iteration": 5})
    with pytest.raises(
        ConfigError, match=r"'batch': expected an integer \(int\), got '7' \(str\); Snakemake"
    ):
        PretrainSettings.from_dict({"batch": "7"})
    with pytest.raises(ConfigError, match=r"'batch': expected an integer \(int\), got 'seven' \(str\)$"):
        PretrainSettings.from_dict({"batch": "seven"})  # not a number as text: no word of Snakemake
    with pytest.raises(ConfigError, match=r"'lr': expected a number \(float\), got 'true' \(str\)$"):
        PretrainSettings.from_dict({"lr": "true"})
    with pytest.raises(
        ConfigError, match=r"'pretrained': expected a boolean \(bool\), got 'false' \(str\); "
    ):
        PretrainSettings.from_dict({"pretrained": "false"})
    with pytest.raises(ConfigError, match=r"'pretrained': expected a boolean \(bool\), got 1"):
        PretrainSettings.from_dict({"pretrained": 1})
    with pytest.raises(ConfigError, match="'crop': invalid value 0; allowed: > 0"):
        PretrainSettings.from_dict({"crop": 0})


def test_data_description_errors():
    with pytest.raises(ConfigError, match="kind is 'coco'"):
        check_data_spec({"sources": [{"kind": "coco", "root": "x"}]})
    with pytest.raises(ConfigError, match=r"missing key\(s\) \['root'\]"):
        check_data_spec({"sources": [{"kind": "voc"}]})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['folder'\]"):
        check_data_spec({"sources": [{"kind": "static", "root": "x", "folder": "y"}]})


def test_stage2_needs_init(tmp_path, static_spec):
    settings = PretrainSettings(iterations=1, backbone="tiny", pretrained=False)
    with pytest.raises(ConfigError, match="--init"):
        pretrain("2", static_spec, settings, tmp_path / "s2.pt", tmp_path / "s2.csv")


def test_copy_paste_refuses_evaluated_sequences(benchmark_root):
    from lsevos.train.data import TrainingData

    spec = {
        "sources": [
            {
                "kind": "copy_paste",
                "davis_root": str(benchmark_root / "davis"),
                "sequences": ["lookalike-cross"],
            }
        ]
    }
    with pytest.raises(ConfigError, match="lookalike-cross are evaluated sequences"):
        TrainingData(spec, crop=32)


def test_pretrain_command_and_loss_plot(tmp_path, static_spec, capsys):
    import json

    settings = {
        "iterations": 4,
        "batch": 1,
        "crop": 32,
        "log_every": 2,
        "backbone": "tiny",
        "pretrained": False,
        "embed_dim": 4,
        "samples_per_instance": 4,
    }
    out, log, figure = tmp_path / "fp.pt", tmp_path / "fp.csv", tmp_path / "curve.png"
    args = [
        "pretrain",
        "--stage",
        "fp",
        "--data",
        json.dumps(static_spec),
        "--settings",
        json.dumps(settings),
        "--out",
        str(out),
        "--log",
        str(log),
    ]
    assert main(args) == 0
    assert "pretrain stage fp: step 4/4 total" in capsys.readouterr().err
    assert log.read_text().splitlines()[0] == "step,total,fg" and len(log.read_text().splitlines()) == 3
    assert main(["plot-losses", str(log), "--out", str(figure)]) == 0
    assert Image.open(figure).size[0] > 100
    assert (
        main(
            [
                "pretrain",
                "--stage",
                "1",
                "--data",
                "{}",
                "--settings",
                "{}",
                "--out",
                str(out),
                "--log",
                str(log),
            ]
        )
        == 2
    )
    assert "data: expected an object" in capsys.readouterr().err


def test_a_log_that_is_not_the_commands_own_is_refused_before_any_work(
    tmp_path, static_spec, capsys, monkeypatch
):
    """A user's file, `--out`, an input or a folder as `--log` is refused before the model is built; the
    log of an earlier run (its header) is the command's own and is written again."""
    import json

    from lsevos.train import pretrain as pretrain_module

    def built(*args, **kwargs):
        raise AssertionError("the model was built before --log was checked")

    monkeypatch.setattr(pretrain_module, "_build_model", built)
    data = tmp_path / "data.json"
    data.write_text(json.dumps(static_spec))
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    (tmp_path / "logs").mkdir()
    out = tmp_path / "fp.pt"
    for log, message in (
        (notes, "--log is an existing file that is not a loss log"),
        (out, "--log .*: is also --out"),
        (data, "--log is the input"),
        (tmp_path / "logs", "--log is an existing folder"),
    ):
        argv = ["pretrain", "--stage", "fp", "--data", str(data), "--out", str(out), "--log", str(log)]
        assert main(argv) == 2
        assert re.search(message, capsys.readouterr().err)
    assert notes.read_text() == "my notes\n" and json.loads(data.read_text()) == static_spec
    inline = json.dumps({"note": "x" * 300, **static_spec})  # inline JSON longer than a file name may be
    assert main(["pretrain", "--stage", "fp", "--data", inline, "--out", str(out), "--log", str(notes)]) == 2
    assert "--log is an existing file that is not a loss log" in capsys.readouterr().err
    own = tmp_path / "own.csv"
    own.write_text("step,total,fg\n2,0.5,0.5\n")
    argv = ["pretrain", "--stage", "fp", "--data", str(data), "--out", str(out), "--log", str(own)]
    with pytest.raises(AssertionError, match="model was built"):  # past every check
        main(argv)


def test_diverging_pretraining_stops_with_a_clear_error(tmp_path, static_spec):
    from lsevos.errors import LsevosError

    settings = PretrainSettings(
        iterations=5,
        batch=2,
        lr=1e30,
        crop=32,
        backbone="tiny",
        pretrained=False,
        embed_dim=4,
        samples_per_instance=8,
        log_every=1,
        checkpoint_every=100,
        grad_clip=0.0,
    )
    with pytest.raises(LsevosError, match="lower `lr`"):
        pretrain("1", static_spec, settings, tmp_path / "s1.pt", tmp_path / "s1.csv")
    assert not (tmp_path / "s1.pt").exists()


def test_plot_losses_draws_each_column_against_the_step(tmp_path):
    """A total falling 10x a step on a log axis is a straight line from top left to bottom right (the
    first colour, matplotlib's C0 #1f77b4); a constant loss is a horizontal line (C1 #ff7f0e)."""
    import numpy as np

    log = tmp_path / "losses.csv"
    log.write_text("step,total,fg\n" + "".join(f"{s},{10.0 ** (1 - s)},0.5\n" for s in range(5)))
    figure = tmp_path / "curve.png"
    assert main(["plot-losses", str(log), "--out", str(figure)]) == 0
    pixels = np.asarray(Image.open(figure).convert("RGB")).astype(int)

    def line(colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        rows, columns = np.nonzero(np.abs(pixels - np.array(colour)).sum(axis=-1) < 40)
        return rows, columns

    rows, columns = line((0x1F, 0x77, 0xB4))
    left, right = (
        columns.min() + (columns.max() - columns.min()) // 4,
        columns.max() - (columns.max() - columns.min()) // 4,
    )
    assert np.median(rows[columns < left]) < np.median(rows[columns > right]) - 100  # falls, top to bottom
    rows, columns = line((0xFF, 0x7F, 0x0E))
    wide = columns > np.percentile(columns, 10)  # the line, the legend's short swatch aside
    assert np.percentile(rows[wide], 90) - np.percentile(rows[wide], 10) <= 3  # horizontal
