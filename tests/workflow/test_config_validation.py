"""The whole configuration is checked once (`lsevos.config.check_config`): short errors naming the key path,
before any job. The configuration models are the one description of every key: the JSON schema, the key
tables of config/README.md and the check all come from them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lsevos import workflow_plan
from lsevos.config import check_config
from lsevos.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CONFIGS = ("demo", "cpu", "config")
MAX_LINES = 5
MAX_CHARS = 1000


# Two folds over the cpu configuration's ten sequences: each evaluated sequence is segmented by the model
# whose copy-paste objects come from the other fold (a layout for when no training split is at hand).
FOLDS = {
    "a": {
        "evaluate": ["blackswan", "bmx-trees", "camel", "dance-twirl", "goat", "bmx_2"],
        "copy_paste": ["breakdance", "car-shadow", "cows", "dog", "parkour"],
    },
    "b": {
        "evaluate": ["breakdance", "car-shadow", "cows", "dog", "parkour"],
        "copy_paste": ["blackswan", "bmx-trees", "camel", "dance-twirl", "goat"],
    },
}


def load(name: str) -> dict:
    """A shipped configuration by name; `cpu-folds`: config/cpu.yaml split into the two `FOLDS`."""
    if name == "cpu-folds":
        config = load("cpu")
        config["pretrain"]["folds"] = yaml.safe_load(yaml.safe_dump(FOLDS))
        config["pretrain"]["copy_paste"] = {"davis_root": None, "sequences": []}
        return config
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())


def error_of(config: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        check_config(config)
    return str(caught.value)


def assert_short(message: str) -> None:
    assert len(message.splitlines()) <= MAX_LINES, message
    assert len(message) <= MAX_CHARS, message


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_pass(name):
    check_config(load(name))


def _set(*keys_and_value):
    *keys, last, value = keys_and_value

    def change(config):
        for key in keys:
            config = config[key]
        config[last] = value

    return change


def _append(*keys_and_value):
    *keys, value = keys_and_value

    def change(config):
        for key in keys:
            config = config[key]
        config.append(value)

    return change


# (config, change, key path the message starts with, words it must hold)
BAD = {
    "video typo": ("demo", _set("video", "crop_sise", 48), "video.crop_sise", ["crop_size"]),
    "video ill-typed": ("demo", _set("video", "crop_size", "48"), "video.crop_size", ["int"]),
    "video out of range": ("config", _set("video", "threshold", 1.5), "video.threshold", ["invalid"]),
    "stage2 ill-typed": ("demo", _set("pretrain", "stage2", "lr", "fast"), "pretrain.stage2.lr", ["float"]),
    "stage unknown key": (
        "cpu",
        _set("pretrain", "fp", "iteration", 5),
        "pretrain.fp.iteration",
        ["iterations"],
    ),
    "stage non-positive": (
        "config",
        _set("pretrain", "stage3", "batch", 0),
        "pretrain.stage3.batch",
        ["invalid value 0", "> 0"],
    ),
    "model ill-typed": (
        "demo",
        _set("pretrain", "model", "embed_dim", 2.5),
        "pretrain.model.embed_dim",
        ["integer"],
    ),
    "unknown backbone": (
        "demo",
        _set("pretrain", "model", "backbone", "vgg"),
        "pretrain.model.backbone",
        ["tiny"],
    ),
    "synthetic unknown key": (
        "demo",
        _set("data", "synthetic", "settings", "frames", 10),
        "data.synthetic.settings.frames",
        ["video_frames"],
    ),
    "synthetic out of range": (
        "demo",
        _set("data", "synthetic", "settings", "video_frames", 3),
        "data.synthetic.settings.video_frames",
        ["8..10000"],
    ),
    "unknown variant": ("demo", _append("variants", "fp_zoom"), "variants[8]", ["fp_nozoom", "grabcut"]),
    "unknown segtrack variant": (
        "config",
        _append("segtrack_variants", "ourz"),
        "segtrack_variants[1]",
        ["ours"],
    ),
    "bogus main_variant": ("demo", _set("main_variant", "bogus"), "main_variant", ["grabcut", "ours_crf"]),
    "unknown top-level key": ("demo", _set("colour", "red"), "colour", ["allowed keys", "video"]),
    "unknown nested key": ("config", _set("grabcut", "margn", 3), "grabcut.margn", ["margin"]),
    "ill-typed top-level": ("cpu", _set("threads", "two"), "threads", ["integer"]),
    "unknown source kind": (
        "demo",
        _set("pretrain", "sources", ["imagenet"]),
        "pretrain.sources[0]",
        ["voc_sbd"],
    ),
    "fold overlap": (
        "cpu-folds",
        _append("pretrain", "folds", "a", "copy_paste", "camel"),
        "pretrain.folds.a",
        ["camel", "copy-paste"],
    ),
    "sequence in no fold": (
        "cpu-folds",
        _set(
            "pretrain", "folds", "a", "evaluate", ["blackswan", "bmx-trees", "camel", "dance-twirl", "goat"]
        ),
        "pretrain.folds",
        ["bmx_2"],
    ),
    "copy-paste overlap without folds": (
        "demo",
        _set("pretrain", "copy_paste", "sequences", ["glide-sc"]),
        "pretrain.copy_paste.sequences",
        ["both cut for copy-paste pretraining and evaluated"],
    ),
    "unknown synthetic sequence": (
        "demo",
        _append("sequences", "davis", "dash_fm"),
        "sequences.davis[6]",
        ["dash-fm", "built-in benchmark"],
    ),
    "unknown synthetic segtrack object": (
        "demo",
        _append("sequences", "segtrack", "duo_3"),
        "sequences.segtrack[3]",
        ["duo_2"],
    ),
    "fold key typo": (
        "cpu-folds",
        _set("pretrain", "folds", "a", "evalute", ["camel"]),
        "pretrain.folds.a.evalute",
        ["did you mean 'evaluate'", "allowed keys: copy_paste, evaluate"],
    ),
    "no sequence": (
        "demo",
        _set("sequences", {"davis": [], "segtrack": []}),
        "sequences",
        ["no sequence to segment and evaluate"],
    ),
    "nothing evaluated": (
        "demo",
        lambda config: config.update(sequences={"davis": [], "segtrack": ["duo_1"]}, segtrack_variants=[]),
        "segtrack_variants",
        ["evaluates nothing"],
    ),
    "copy_paste source without its block": (
        "cpu",
        lambda config: config["pretrain"].pop("copy_paste"),
        "pretrain",
        ["pretrain.copy_paste"],
    ),
    "video guard between off and its range": (
        "demo",
        _set("video", "box_max_growth", 0.5),
        "video.box_max_growth",
        ["0 or >= 1"],
    ),
    "local data without a folder": ("cpu", _set("data", "source", "local"), "data.davis_root", ["local"]),
    "missing folder": (
        "cpu",
        _set("data", "davis_root", "/no/such/davis"),
        "data.davis_root",
        ["/no/such/davis"],
    ),
    "null given as text by snakemake --config": (
        "cpu",
        _set("data", "segtrack_root", "null"),
        "data.segtrack_root",
        ["no folder null", "passes its values as text", "--configfile"],
    ),
}


@pytest.mark.parametrize(("base", "change", "path", "words"), list(BAD.values()), ids=list(BAD))
def test_bad_value_is_named_by_its_key_path(base, change, path, words):
    config = load(base)
    change(config)
    message = error_of(config)
    assert message.startswith(f"{path}: "), message
    for word in words:
        assert word in message, message
    assert_short(message)


def test_unknown_sequence_names_the_local_folder(davis_root, shared_root):
    config = load("cpu")
    config["data"]["davis_root"] = str(davis_root)
    config["pretrain"]["copy_paste"]["davis_root"] = str(shared_root / "data" / "davis2016-train")
    check_config(config)  # the sequences of config/cpu.yaml are there
    position = len(config["sequences"]["davis"])
    config["sequences"]["davis"].append("blackswann")
    message = error_of(config)
    assert message.startswith(f"sequences.davis[{position}]: unknown sequence 'blackswann'"), message
    assert str(davis_root) in message and "blackswan," in message
    assert_short(message)


def test_unknown_copy_paste_sequence_is_named(davis_root, shared_root):
    config = load("cpu")
    config["data"]["davis_root"] = str(davis_root)
    config["pretrain"]["copy_paste"] = {
        "davis_root": str(shared_root / "data" / "davis2016-train"),
        "sequences": ["bear", "dogg"],
    }
    message = error_of(config)
    assert message.startswith("pretrain.copy_paste.sequences[1]: unknown sequence 'dogg'"), message
    assert "dog-agility" in message


def test_copy_paste_all_that_leaves_no_training_sequence_is_refused(davis_root, shared_root):
    """cpu.yaml cuts copy-paste objects from `all` the sequences it does not evaluate: pointed at a folder
    whose every sequence is evaluated (the ten val sequences), nothing is left to train on."""
    config = load("cpu")
    config["data"]["davis_root"] = str(davis_root)
    message = error_of(config)
    assert message.startswith("pretrain.copy_paste.sequences: `all` leaves no training sequence"), message
    assert "pretrain.copy_paste.davis_root" in message
    assert_short(message)
    config["pretrain"]["copy_paste"]["davis_root"] = str(shared_root / "data" / "davis2016-train")
    check_config(config)


def test_data_not_there_yet_is_not_checked(tmp_path):
    config = load("config")  # downloads: the sequence names are unknown before the download
    config["sequences"]["davis"].append("not-downloaded-yet")
    config["pretrain"]["folds"] = {}
    check_config(config, base_dir=tmp_path)


def test_a_run_that_needs_the_prior_without_it_stops_at_the_check(monkeypatch, tmp_path):
    """The prior's model file missing: refused before any job when the cpu video settings mix it in, when
    the `prior` variant runs it, or when it is the main variant (every sequence's masks); passed when no
    video job runs it: the demo (no prior), GrabCut alone with the cpu settings, a model-only build."""
    missing = tmp_path / "u2netp.onnx"
    monkeypatch.setenv("LSEVOS_U2NETP", str(missing))
    demo, cpu_video = load("demo"), load("cpu")["video"]
    for config in (
        {**demo, "variants": [*demo["variants"], "prior"]},
        {**demo, "video": cpu_video},
        {**demo, "variants": ["ours"], "segtrack_variants": [], "main_variant": "prior"},
    ):
        with pytest.raises(ConfigError, match=rf"LSEVOS_U2NETP={missing}: no such file") as refused:
            check_config(config, base_dir=tmp_path)
        assert "\n" not in str(refused.value)
    check_config(demo, base_dir=tmp_path)
    grabcut = {**demo, "video": cpu_video, "variants": [], "segtrack_variants": [], "main_variant": "grabcut"}
    check_config(grabcut, base_dir=tmp_path)
    model_only = {**load("cpu"), **load("model")}
    model_only["pretrain"] = {**load("cpu")["pretrain"], **load("model")["pretrain"]}
    check_config(model_only)


def test_video_settings_that_never_run_the_network_are_refused_unless_only_the_prior_runs(tmp_path):
    """`saliency_weight` 1.0 without the veto: no family's fine-tune would be read (`lsevos adapt` refuses
    such settings), so a run of Ours is refused at the check, in one line naming the key; a run of the
    `prior` variant (and GrabCut) alone passes, and so does the veto, which reads the network."""
    demo, cpu_video = load("demo"), load("cpu")["video"]
    alone = {**cpu_video, "saliency_weight": 1.0, "network_veto": False}
    with pytest.raises(ConfigError, match=r"^video.saliency_weight: 1.0 without network_veto") as refused:
        check_config({**demo, "video": alone}, base_dir=tmp_path)
    assert "\n" not in str(refused.value)
    prior_only = {**demo, "video": alone, "variants": ["grabcut", "prior"], "segtrack_variants": []}
    check_config({**prior_only, "main_variant": "prior"}, base_dir=tmp_path)
    check_config({**demo, "video": {**alone, "network_veto": True}}, base_dir=tmp_path)


# ------------------------------------------------------------------------------- the models and their files
def test_a_model_only_configuration_evaluates_nothing_and_passes():
    """config/model.yaml over config/cpu.yaml builds the shipped model and evaluates nothing."""
    config = {**load("cpu"), **load("model")}
    config["pretrain"] = {**load("cpu")["pretrain"], **load("model")["pretrain"]}
    check_config(config)
    assert workflow_plan.evaluated(config) == [] and workflow_plan.all_metrics_inputs(config) == []
    assert workflow_plan.evaluated(load("cpu")) != []  # the configuration underneath does evaluate


def test_the_generated_schema_and_readme_tables_are_up_to_date():
    from lsevos.config_models import main

    assert main(["--check"]) == 0, "run `python -m lsevos.config_models --write`"


def test_the_generated_schema_accepts_the_shipped_configs_and_refuses_a_typo():
    import jsonschema

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for name in CONFIGS:
        assert not list(validator.iter_errors(load(name))), name
    config = load("demo")
    config["video"]["crop_sise"] = 48
    config["pretrain"]["stage1"]["iterations"] = "many"
    messages = sorted(error.message for error in validator.iter_errors(config))
    assert messages == [
        "'many' is not of type 'integer'",
        "Additional properties are not allowed ('crop_sise' was unexpected)",
    ]


@pytest.mark.slow
def test_a_key_added_to_one_model_reaches_the_schema_the_readme_and_the_check(tmp_path):
    """Only the model's file is edited: the generator writes the schema and the README tables, and the
    check (the same model) takes the key with its type and range."""
    for part in ("lsevos", "config", "workflow/schemas"):
        shutil.copytree(REPO / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    settings = tmp_path / "lsevos" / "video" / "settings.py"
    anchor = "    aug_flip: bool = setting("
    text = settings.read_text()
    assert text.count(anchor) == 1
    added = '    zoom_steps: int = setting(3, "an added test key", unit="frames", ge=1, le=9)\n'
    settings.write_text(text.replace(anchor, added + anchor))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def python(code: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", code]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    stale = python("from lsevos.config_models import main; raise SystemExit(main(['--check']))")
    assert stale.returncode == 1 and "config.schema.yaml: out of date" in stale.stderr, stale.stderr
    written = python("from lsevos.config_models import main; raise SystemExit(main(['--write']))")
    assert written.returncode == 0, written.stderr
    schema = yaml.safe_load((tmp_path / "workflow" / "schemas" / "config.schema.yaml").read_text())
    field = schema["$defs"]["VideoSettings"]["properties"]["zoom_steps"]
    assert (field["type"], field["default"], field["minimum"], field["maximum"]) == ("integer", 3, 1, 9)
    row = "| `zoom_steps` | integer, 1..9 | `3` | frames | an added test key |"
    assert row in (tmp_path / "config" / "README.md").read_text()
    check = (
        "import sys, yaml\n"
        "from lsevos.config import check_config\n"
        "config = yaml.safe_load(open('config/demo.yaml'))\n"
        "config['video']['zoom_steps'] = 5\n"
        "check_config(config)\n"
        "for value in (0, 'five'):\n"
        "    config['video']['zoom_steps'] = value\n"
        "    try:\n"
        "        check_config(config)\n"
        "    except Exception as error:\n"
        "        print(error)\n"
        "config['video'] = {'zoom_step': 5}\n"
        "try:\n"
        "    check_config(config)\n"
        "except Exception as error:\n"
        "    print(error)\n"
    )
    result = python(check)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "video.zoom_steps: invalid value 0; allowed: 1..9", lines
    assert lines[1] == "video.zoom_steps: expected an integer (int), got 'five' (str)", lines
    assert lines[2].startswith("video.zoom_step: unknown key (did you mean 'zoom_steps'?)"), lines


# ----------------------------------------------------------------------------------- through Snakemake
END_TO_END = {
    "video typo": (_set("video", "crop_sise", 48), "video.crop_sise"),
    "stage2 ill-typed": (_set("pretrain", "stage2", "lr", "fast"), "pretrain.stage2.lr"),
    "bogus main_variant": (_set("main_variant", "bogus"), "main_variant"),
    "no sequence": (_set("sequences", {"davis": [], "segtrack": []}), "sequences"),
}


def dry_run_tables(workflow, *arguments: str) -> tuple[int, str]:
    """`snakemake -n tables ARGUMENTS` in the checkout: its exit status and its output (stdout + stderr)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "tables", *arguments],
        cwd=REPO,
        env=workflow.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("change", "path"), list(END_TO_END.values()), ids=list(END_TO_END))
def test_snakemake_dry_run_stops_before_any_job_with_a_short_message(tmp_path, workflow, change, path):
    config = load("demo")
    change(config)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config, sort_keys=False))
    returncode, output = dry_run_tables(workflow, "--configfile", str(bad))
    assert returncode != 0, output
    assert f"invalid configuration: {path}: " in output, output
    assert "Job stats" not in output and "rule " not in output, output  # no job planned, none ran
    assert "KeyError" not in output and "Traceback" not in output, output
    assert len(output.splitlines()) < 15, output


@pytest.mark.slow
def test_a_number_inside_snakemake_config_braces_gets_the_way_out(workflow):
    """Snakemake's --config reads the values inside 'key={...}' as text: a number there is refused before
    any job, with the fix."""
    returncode, output = dry_run_tables(
        workflow, "--configfile", "config/demo.yaml", "--config", "video={box_tightness: 1.0}"
    )
    assert returncode != 0, output
    expected = "video.box_tightness: expected a number (float), got '1.0' (str); Snakemake's --config"
    assert expected in output and "set this key in a --configfile" in output, output
    assert "Job stats" not in output and "Traceback" not in output, output


def test_imagenet_weights_follow_every_default_and_stage_override(repo_root):
    """The local rule imagenet_weights is needed when stage 1 or fp loads ResNet-101's ImageNet weights,
    with the defaults `lsevos pretrain` applies (a model block without `backbone` is ResNet-101)."""
    import copy

    from lsevos.workflow_plan import imagenet_backbones

    paper = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    assert imagenet_backbones(paper) == {"resnet101"}
    bare = copy.deepcopy(paper)
    bare["pretrain"]["model"] = {"embed_dim": 64}
    assert imagenet_backbones(bare) == {"resnet101"}
    cpu = yaml.safe_load((repo_root / "config" / "cpu.yaml").read_text())
    assert imagenet_backbones(cpu) == {"efficientnet-lite0"}
    cpu["pretrain"]["fp"] = {**cpu["pretrain"]["fp"], "backbone": "resnet101"}
    assert imagenet_backbones(cpu) == {"efficientnet-lite0", "resnet101"}
    demo = yaml.safe_load((repo_root / "config" / "demo.yaml").read_text())
    assert imagenet_backbones(demo) == set()
