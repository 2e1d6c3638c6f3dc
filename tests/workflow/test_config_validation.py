"""The whole configuration is checked once (`lsevos.config.check_config`): short errors naming the key path,
before any job; the schema documents exactly what the settings dataclasses accept."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lsevos.config import check_config, code_object, load_schema, schema_nodes
from lsevos.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CONFIGS = ("demo", "cpu", "config")
MAX_LINES = 5
MAX_CHARS = 1000


def load(name: str) -> dict:
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
        ["positive"],
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
        "cpu",
        _append("pretrain", "folds", "a", "copy_paste", "camel"),
        "pretrain.folds.a",
        ["camel", "copy-paste"],
    ),
    "sequence in no fold": (
        "cpu",
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
    "local data without a folder": ("cpu", _set("data", "source", "local"), "data.davis_root", ["local"]),
    "missing folder": (
        "cpu",
        _set("data", "davis_root", "/no/such/davis"),
        "data.davis_root",
        ["/no/such/davis"],
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


def test_unknown_sequence_names_the_local_folder(davis_root):
    config = load("cpu")
    config["data"]["davis_root"] = str(davis_root)
    check_config(config)  # the sequences of config/cpu.yaml are there
    position = len(config["sequences"]["davis"])
    config["sequences"]["davis"].append("blackswann")
    message = error_of(config)
    assert message.startswith(f"sequences.davis[{position}]: unknown sequence 'blackswann'"), message
    assert str(davis_root) in message and "blackswan," in message
    assert_short(message)


def test_unknown_copy_paste_sequence_is_named(davis_root):
    config = load("cpu")
    config["data"]["davis_root"] = str(davis_root)
    position = len(config["pretrain"]["folds"]["b"]["copy_paste"])
    config["pretrain"]["folds"]["b"]["copy_paste"].append("dogg")
    message = error_of(config)
    assert message.startswith(f"pretrain.folds.b.copy_paste[{position}]: unknown sequence 'dogg'"), message


def test_data_not_there_yet_is_not_checked(tmp_path):
    config = load("config")  # downloads: the sequence names are unknown before the download
    config["sequences"]["davis"].append("not-downloaded-yet")
    config["pretrain"]["folds"] = {}
    check_config(config, base_dir=tmp_path)


# ------------------------------------------------------------------------------- the schema and the code
JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}


def checked_blocks() -> list[dict]:
    return [node for node in schema_nodes(load_schema(resolve=False)) if "x-checked-by" in node]


def test_every_dataclass_field_is_documented_in_the_schema_and_vice_versa():
    blocks = checked_blocks()
    owners = {block["x-checked-by"] for block in blocks}
    assert owners >= {
        "lsevos.video.settings.VideoSettings",
        "lsevos.train.pretrain.PretrainSettings",
        "lsevos.data.synthetic.SyntheticSettings",
    }
    for block in blocks:
        cls = code_object(block["x-checked-by"])
        fields = {field.name: field for field in dataclasses.fields(cls)}
        documented = block["properties"]
        assert set(fields) - set(documented) == set(), f"add to the schema block of {cls.__name__}"
        assert set(documented) - set(fields) == set(), f"remove from the schema block of {cls.__name__}"
        assert block["additionalProperties"] is False
        for name, field in fields.items():
            if field.type in JSON_TYPES:
                assert documented[name]["type"] == JSON_TYPES[field.type], f"{cls.__name__}.{name}"
            if field.default is not dataclasses.MISSING:
                assert documented[name].get("default") == field.default, f"{cls.__name__}.{name} default"


def test_lists_the_code_owns_are_those_of_the_code():
    for node in schema_nodes(load_schema(resolve=False)):
        if "x-enum-from" in node:
            assert node["enum"] == list(code_object(node["x-enum-from"])), node["x-enum-from"]


def test_readme_documents_every_key():
    readme = (REPO / "config" / "README.md").read_text()
    keys = set()
    for node in schema_nodes(load_schema(resolve=False)):
        if isinstance(node.get("properties"), dict):
            keys |= set(node["properties"])
    missing = sorted(key for key in keys if f"`{key}`" not in readme)
    assert not missing, f"config/README.md does not document {missing}"


def test_the_check_takes_keys_and_lists_from_the_code():
    """The check runs the dataclass, not the schema's key list, on the blocks the dataclass owns."""
    schema = load_schema()
    video = schema["properties"]["video"]
    assert "properties" not in video and "additionalProperties" not in video
    sources = schema["properties"]["pretrain"]["properties"]["sources"]["items"]["enum"]
    assert list(code_object("lsevos.train.data.SOURCE_KEYS")) == sources


# ----------------------------------------------------------------------------------- through Snakemake
END_TO_END = {
    "video typo": (_set("video", "crop_sise", 48), "video.crop_sise"),
    "stage2 ill-typed": (_set("pretrain", "stage2", "lr", "fast"), "pretrain.stage2.lr"),
    "bogus main_variant": (_set("main_variant", "bogus"), "main_variant"),
}


@pytest.mark.slow
@pytest.mark.parametrize(("change", "path"), list(END_TO_END.values()), ids=list(END_TO_END))
def test_snakemake_dry_run_stops_before_any_job_with_a_short_message(tmp_path, workflow, change, path):
    config = load("demo")
    change(config)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "tables", "--configfile", str(bad)],
        cwd=REPO,
        env=workflow.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"invalid configuration: {path}: " in output, output
    assert "Job stats" not in output and "rule " not in output, output  # no job planned, none ran
    assert "KeyError" not in output and "Traceback" not in output, output
    assert len(output.splitlines()) < 15, output


def test_imagenet_weights_follow_every_default_and_stage_override(repo_root):
    """The local rule imagenet_weights is needed when stage 1 or fp loads ResNet-101's ImageNet weights,
    with the defaults `lsevos pretrain` applies (a model block without `backbone` is ResNet-101)."""
    import copy

    from lsevos.config import imagenet_backbones

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
