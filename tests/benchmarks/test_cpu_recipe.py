"""`benchmarks/cpu_recipe.py`, the one command behind metrics/cpu-recipe.json: no model pastes objects of a
video it runs, its pretraining configurations pass the project's validation, the true-box step's real
scans, the metrics file assembled from real CSVs and rendered by `lsevos readme-tables`, and bad roots
refused in one line before any step."""

from __future__ import annotations

import json
import os
import sys

import cv2
import numpy as np
import pytest
import yaml

from lsevos.config import check_config
from lsevos.errors import ConfigError
from lsevos.evaluation.metric_files import read_per_sequence, write_per_sequence
from lsevos.evaluation.readme_tables import section


def merged(base: dict, over: dict) -> dict:
    """Snakemake's merge of a second --configfile: mappings key by key, the rest replaced."""
    result = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        result[key] = merged(base[key], value) if both else value
    return result


def test_no_model_pastes_objects_of_a_video_it_runs(recipe):
    train = {*recipe.DEVELOPMENT, *recipe.UNSEEN, *recipe.THIRD}
    assert len(train) == 30  # three disjoint sets of ten: every train sequence evaluated once
    sets = recipe.video_sets(recipe.check_sequences())
    assert [(video_set.name, video_set.model) for video_set in sets] == [
        ("development", "dev"),
        ("check", "dev"),
        ("unseen", "unseen"),
        ("third", "third"),
    ]
    for video_set in sets:
        pasted = set(recipe.MODELS[video_set.model])
        assert len(pasted) == 20 and pasted <= train
        assert not pasted & set(video_set.sequences), video_set.name
    assert not train & set(sets[1].sequences)  # the check videos are val sequences


def test_each_models_configuration_passes_the_projects_validation(recipe, repo_root, tmp_path):
    train = tmp_path / "train"
    for seq in recipe.DEVELOPMENT + recipe.UNSEEN + recipe.THIRD:
        for part in ("JPEGImages/480p", "Annotations/480p"):
            (train / part / seq).mkdir(parents=True)
    base = yaml.safe_load((repo_root / "config" / "cpu.yaml").read_text())
    for name in recipe.MODELS:
        overlay = recipe.model_overlay(name, train, tmp_path / "work")
        config = merged(base, overlay)
        check_config(config, repo_root)  # raises on a key or a sequence the workflow would refuse
        assert config["results_dir"] == str(tmp_path / "work" / "models" / name)
        assert config["pretrain"]["copy_paste"]["sequences"] == sorted(recipe.MODELS[name])
        assert config["pretrain"]["stage3"] == base["pretrain"]["stage3"]  # the recipe's own pretraining
    bad = recipe.model_overlay("dev", train, tmp_path / "work")
    bad["pretrain"]["copy_paste"]["sequences"] = ["no-such-sequence"]
    with pytest.raises(ConfigError, match="no-such-sequence"):
        check_config(merged(base, bad), repo_root)


def row(j: float, f: float) -> dict[str, float]:
    return {"J_M": j, "J_R": 1.0, "J_D": 0.0, "F_M": f, "F_R": 0.5, "F_D": 0.1}


def test_the_metrics_file_is_assembled_from_the_runs_csvs(recipe, tmp_path):
    ours, prior, stress = tmp_path / "ours.csv", tmp_path / "prior.csv", tmp_path / "stress.csv"
    write_per_sequence(ours, {"a": row(0.8, 0.6), "b": row(0.6, 0.4)})
    write_per_sequence(prior, {"a": row(0.7, 0.7)})
    write_per_sequence(stress, {"s1": row(0.2, 0.3), "s2": row(0.4, 0.5), "s3": row(0.9, 0.9)})
    suite = tmp_path / "suite"
    suite.mkdir()
    modes = [("s1", "small"), ("s2", "small"), ("s3", "part")]
    (suite / "stress.json").write_text(json.dumps({"sequences": [{"name": n, "mode": m} for n, m in modes]}))
    content = recipe.assemble({"set": {"ours": ours, "prior": prior}}, suite, stress)
    assert content["set"]["ours"]["J_M"] == pytest.approx(0.7)
    assert content["set"]["ours"]["F_M"] == pytest.approx(0.5)
    assert content["set"]["ours"]["count"] == 2
    assert content["set"]["prior"]["J_M"] == pytest.approx(0.7)
    assert content["stress suite: small"]["ours_static"]["J_M"] == pytest.approx(0.3)
    assert content["stress suite: small"]["ours_static"]["count"] == 2
    assert content["stress suite: part"]["ours_static"]["F_M"] == pytest.approx(0.9)
    assert content["run"]["config"] == "cpu-recipe" and content["run"]["note"] == recipe.NOTE
    metrics = tmp_path / "metrics" / "cpu-recipe.json"
    metrics.parent.mkdir()
    metrics.write_text(json.dumps(content))
    table = section(metrics)
    assert "| set | Ours | 2 | 70.0 | 100.0 | 0.0 | 50.0 | 50.0 | 10.0 |" in table.replace("**", "")


@pytest.mark.slow
def test_the_true_box_step_scans_every_sequence_and_evaluates_them(recipe, davis, tmp_path):
    video_set = recipe.VideoSet("tiny", "tiny", "train", ("disk", "square"), "dev")
    metrics = recipe.true_box(video_set, davis, tmp_path / "work")
    rows = read_per_sequence(metrics)
    assert sorted(rows) == ["disk", "square"]
    # the red disk on a flat background, given its true box: the prior finds most of it (the small blue
    # square, which fills its enlarged box, is not salient to it: J 0, still a row of its own)
    assert rows["disk"]["J_M"] > 0.5
    settings = json.loads((tmp_path / "work/runs/tiny/true-box/settings.json").read_text())
    assert settings["saliency_weight"] == 1.0 and settings["network_veto"] is False


def test_a_root_without_the_sequences_is_refused_before_any_step(recipe, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "JPEGImages/480p").mkdir(parents=True)
    work = tmp_path / "work"
    status = recipe.main(["--train", str(empty), "--val", str(empty), "--work", str(work)])
    error = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in error
    assert error.startswith(f"cpu_recipe: --train {empty}: no JPEGImages/480p/bmx-bumps (30 sequence(s)")
    assert not work.exists()


def test_a_failing_step_is_named_in_one_line_with_its_last_words_and_log(recipe, tmp_path):
    script = tmp_path / "step.py"
    script.write_text("import sys\nprint('working')\nprint('no such sequence: surf')\nsys.exit(3)\n")
    log = tmp_path / "logs" / "step.log"
    with pytest.raises(recipe.RecipeError) as caught:
        recipe.run([sys.executable, str(script)], log)
    assert str(caught.value) == f"step.py failed (exit 3): no such sequence: surf; see {log}"
    assert log.read_text() == "working\nno such sequence: surf\n"


def davis_root(root, sequences):
    """One 8x8 frame per sequence, its first mask a 4x4 square."""
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    for seq in sequences:
        for part in ("JPEGImages/480p", "Annotations/480p"):
            (root / part / seq).mkdir(parents=True)
        cv2.imwrite(str(root / "JPEGImages/480p" / seq / "00000.jpg"), np.zeros((8, 8, 3), np.uint8))
        cv2.imwrite(str(root / "Annotations/480p" / seq / "00000.png"), mask)
    return root


def after(command, option):
    return command[command.index(option) + 1]


def test_a_rerun_skips_finished_steps_and_redoes_those_older_than_their_model(recipe, tmp_path, monkeypatch):
    """The orchestration, each command replaced by one that writes what the real one writes last."""
    train = davis_root(tmp_path / "train", recipe.DEVELOPMENT + recipe.UNSEEN + recipe.THIRD)
    val = davis_root(tmp_path / "val", recipe.check_sequences())
    ran: list[list[str]] = []

    def run(command, log):
        ran.append(command)
        if "snakemake" in command:
            target = command[command.index("snakemake") + 1]
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):  # Snakemake skips a model that is there
                open(target, "w").close()
        elif command[1].endswith("protocol.py"):
            out = tmp_path / after(command, "--out")
            out.mkdir(parents=True, exist_ok=True)
            names = after(command, "--sequences").split(",")
            write_per_sequence(out / "metrics.csv", {name: row(0.5, 0.5) for name in names})
            (out / "run.json").write_text(json.dumps({"commit": "abc1234"}))
        elif "evaluate" in command:
            names = after(command, "--sequences").split(",")
            write_per_sequence(after(command, "--out"), {name: row(0.9, 0.8) for name in names})
        elif "stress-suite" in command:
            suite = tmp_path / after(command, "--out")
            suite.mkdir(parents=True)
            entries = [{"name": "s1", "mode": "small"}, {"name": "s2", "mode": "part"}]
            (suite / "stress.json").write_text(json.dumps({"sequences": entries}))

    monkeypatch.setattr(recipe, "run", run)
    work, out = tmp_path / "work", tmp_path / "cpu-recipe.json"
    argv = ["--train", str(train), "--val", str(val), "--work", str(work), "--out", str(out)]
    assert recipe.main(argv) == 0
    kinds = [next(word for word in ("snakemake", "protocol.py", "scan", "evaluate", "stress-suite",
                                    "recipe_check.py") if any(part.endswith(word) for part in command))
             for command in ran]  # fmt: skip
    assert kinds.count("snakemake") == 3 and kinds.count("protocol.py") == 8
    assert kinds.count("scan") == 40 and kinds.count("evaluate") == 5
    assert kinds[-3:] == ["stress-suite", "recipe_check.py", "evaluate"]
    protocols = [command for command in ran if command[1].endswith("protocol.py")]
    unseen = str(recipe.checkpoint("unseen", work.resolve()))
    assert [after(command, "--checkpoint") for command in protocols if "--checkpoint" in command] == [
        str(recipe.checkpoint(name, work.resolve())) for name in ("dev", "dev", "unseen", "third")
    ]
    assert sum("--prior-alone" in command for command in protocols) == 4
    content = json.loads(out.read_text())
    assert len([key for key in content if key.startswith("DAVIS")]) == 4
    assert content["DAVIS 2016 val, 10 shared (check), whole videos"]["ours"]["count"] == 10
    assert content["DAVIS 2016 train, 10 unseen (third fold), whole videos"][recipe.TRUE_BOX_VARIANT][
        "J_M"
    ] == (pytest.approx(0.9))
    assert content["stress suite: part"]["ours_static"]["F_M"] == pytest.approx(0.8)
    assert content["run"]["commit"] == "abc1234"  # the commit the runs were measured at
    # a rerun: every video step is finished; only Snakemake is asked about the models
    ran.clear()
    assert recipe.main(argv) == 0
    assert all("snakemake" in command for command in ran) and len(ran) == 3
    # the unseen model is newer than its Ours run: that run alone is redone (the prior alone reads no model)
    later = os.stat(unseen).st_mtime + 10
    os.utime(unseen, (later, later))
    ran.clear()
    assert recipe.main(argv) == 0
    again = [command for command in ran if "snakemake" not in command]
    assert len(again) == 1 and after(again[0], "--checkpoint") == unseen
    # --again reruns every video step; a foreign --work is refused before anything runs
    ran.clear()
    assert recipe.main([*argv, "--again"]) == 0
    assert len(ran) == 3 + 8 + 40 + 5 + 1  # the stress suite's videos are kept: the same seed builds the same
    foreign = tmp_path / "foreign"
    (foreign / "notes").mkdir(parents=True)
    ran.clear()
    assert recipe.main([*argv[:4], "--work", str(foreign), "--out", str(out)]) == 2
    assert ran == []
    # the metrics file replaces its own earlier copy (above), never a user's file
    for text in ('{"my": "notes"}', '{"run": {"config": "cpu"}}'):  # a user's file; another metrics file
        notes = tmp_path / "notes.json"
        notes.write_text(text)
        assert recipe.main([*argv[:6], "--out", str(notes)]) == 2
        assert ran == [] and notes.read_text() == text
    assert not list(tmp_path.glob(".*.lock"))  # every run releases the lock of --work


def test_a_model_that_would_paste_a_video_it_runs_is_refused_first(recipe, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(
        recipe.MODELS, "unseen", (*recipe.MODELS["unseen"][1:], "bear")
    )  # bear: an unseen video
    work = tmp_path / "work"
    assert recipe.main(["--train", str(tmp_path), "--val", str(tmp_path), "--work", str(work)]) == 2
    assert capsys.readouterr().err == "cpu_recipe: the unseen model pastes ['bear'], which it evaluates\n"
    assert not work.exists()
