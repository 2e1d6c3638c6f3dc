"""The workflow's plan (`lsevos.workflow_plan`) as pure functions of a configuration, without Snakemake:
data roots, folds, pretraining sources and inputs, table inputs, the model card."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from lsevos import workflow_plan as plan
from lsevos.video.variants import PRIOR_ALONE

REPO = Path(__file__).resolve().parents[2]


def load(*names: str) -> dict:
    """config/<name>.yaml, later files read over earlier ones (blocks replaced whole, as Snakemake does
    for top-level keys; `pretrain` merged one level, as config/model.yaml is meant to be read)."""
    config: dict = {}
    for name in names:
        layer = yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())
        pretrain = {**config.get("pretrain", {}), **layer.get("pretrain", {})}
        config.update(layer)
        if pretrain:
            config["pretrain"] = pretrain
    return copy.deepcopy(config)


@pytest.fixture
def demo() -> dict:
    return load("demo")


@pytest.fixture
def cpu() -> dict:
    return load("cpu")


@pytest.fixture
def paper() -> dict:
    return load("config")


@pytest.fixture
def cpu_folds(cpu) -> dict:
    """config/cpu.yaml split into two folds over its sequences (copy-paste from the other fold)."""
    names = cpu["sequences"]["davis"]
    cpu["pretrain"]["folds"] = {
        "a": {"evaluate": names[:5] + cpu["sequences"]["segtrack"], "copy_paste": names[5:]},
        "b": {"evaluate": names[5:], "copy_paste": names[:5]},
    }
    cpu["pretrain"]["copy_paste"] = {"davis_root": None, "sequences": []}
    return cpu


def test_data_roots_follow_the_user_folder_then_the_source(demo, paper):
    assert plan.davis_root(demo) == ("results/demo/data/synthetic/davis", "synthetic")
    assert plan.segtrack_release_root(demo) == ("results/demo/data/synthetic/segtrack", "synthetic")
    assert plan.dataset_dependency(demo, "davis") == "results/demo/data/synthetic"
    assert plan.segtrack_dependency(demo) == "results/demo/data/synthetic"
    assert plan.davis_root(paper) == ("resources/davis2016/DAVIS", "download")
    assert plan.dataset_dependency(paper, "davis") == "resources/davis2016"
    assert plan.segtrack_dependency(paper) == "resources/segtrackv2"
    paper["data"]["davis_root"] = "/data/DAVIS"
    assert plan.davis_root(paper) == ("/data/DAVIS", "local")
    assert plan.dataset_dependency(paper, "davis") == "/data/DAVIS"
    assert plan.dataset_root(paper, "segtrack") == "results/data/segtrack_davis"
    assert plan.dataset_dependency(paper, "segtrack") == "results/data/segtrack_davis"


def test_voc_and_sbd_come_from_the_download_unless_given(paper):
    assert plan.voc_root(paper) == "resources/voc2012/VOCdevkit/VOC2012"
    assert plan.sbd_root(paper) == "resources/sbd/benchmark_RELEASE/dataset"
    assert plan.voc_sbd_dependencies(paper) == ["resources/voc2012", "resources/sbd"]
    paper["data"]["voc_root"] = "/data/VOC2012"
    assert plan.voc_root(paper) == "/data/VOC2012"
    assert plan.voc_sbd_dependencies(paper) == ["resources/sbd"]


def test_one_fold_unless_the_config_splits_the_data(demo, cpu_folds):
    cpu = cpu_folds
    assert list(plan.folds(demo)) == ["all"]
    assert plan.folds(demo)["all"] == demo["sequences"]["davis"] + demo["sequences"]["segtrack"]
    assert plan.copy_paste_sequences(demo, "all") == demo["pretrain"]["copy_paste"]["sequences"]
    split = plan.folds(cpu)
    assert sorted(split) == sorted(cpu["pretrain"]["folds"])
    fold_of = plan.fold_of(cpu)
    assert sorted(fold_of) == sorted(cpu["sequences"]["davis"] + cpu["sequences"]["segtrack"])
    for fold, names in split.items():
        assert all(fold_of[seq] == fold for seq in names)
        assert plan.copy_paste_sequences(cpu, fold) == cpu["pretrain"]["folds"][fold].get("copy_paste", [])


def test_pretraining_sources_of_each_kind(paper, cpu_folds):
    paper["pretrain"]["sources"] = ["voc_sbd", "voc", "sbd", "static"]
    sources = plan.pretrain_sources(paper, "all")["sources"]
    assert sources == [
        {
            "kind": "voc_sbd",
            "voc_root": "resources/voc2012/VOCdevkit/VOC2012",
            "sbd_root": "resources/sbd/benchmark_RELEASE/dataset",
            "list": "resources/train_aug.txt",
        },
        {"kind": "voc", "root": "resources/voc2012/VOCdevkit/VOC2012", "split": "train"},
        {"kind": "sbd", "root": "resources/sbd/benchmark_RELEASE/dataset", "split": "train"},
        {"kind": "static", "root": "results/data/synthetic/static", "split": "train"},
    ]
    fold = next(iter(cpu_folds["pretrain"]["folds"]))
    cut = plan.pretrain_sources(cpu_folds, fold)["sources"][-1]
    assert cut == {
        "kind": "copy_paste",
        "davis_root": "resources/davis2016/DAVIS",
        "sequences": cpu_folds["pretrain"]["folds"][fold]["copy_paste"],
        "exclude": cpu_folds["pretrain"]["folds"][fold]["evaluate"],
    }


def test_each_stage_starts_from_the_previous_one_or_imagenet(paper, demo):
    weights = "resources/torch_home/hub/checkpoints/resnet101-63fe2227.pth"
    assert plan.imagenet_weights(paper) == weights
    deps = ["resources/voc2012", "resources/sbd", "resources/train_aug.txt"]
    assert plan.pretrain_dependencies(paper, "all", "1") == [*deps, weights]
    assert plan.pretrain_dependencies(paper, "all", "fp") == [*deps, weights]
    assert plan.pretrain_dependencies(paper, "all", "3") == [*deps, "results/pretrain/all/stage2.pt"]
    assert plan.imagenet_weights(demo) is None  # the tiny backbone starts from scratch
    assert plan.pretrain_dependencies(demo, "all", "1") == ["results/demo/data/synthetic"]
    assert [plan.STAGE_INIT[stage] for stage in plan.STAGES] == [None, "1", "2", None]
    assert plan.pretrained_stage("ours") == "3" and plan.pretrained_stage("fp") == "fp"


def test_stage_and_video_settings_carry_the_top_level_device(paper):
    paper["pretrain"]["model"] = {"backbone": "tiny", "embed_dim": 8}
    paper["pretrain"]["stage2"] = {"lr": 0.5, "embed_dim": 16}
    values = plan.stage_settings_values(paper, "2")
    assert values == {"backbone": "tiny", "embed_dim": 16, "lr": 0.5, "device": paper["device"]}
    assert plan.video_settings_values(paper) == {**paper["video"], "device": paper["device"]}
    assert plan.settings_json({"b": 1, "a": [2]}) == '{"a": [2], "b": 1}'


def test_tables_read_the_metrics_the_configuration_produces(demo):
    demo["variants"] = ["ours"]
    demo["segtrack_variants"] = []
    assert plan.dataset_variants(demo, "davis") == ["grabcut", "ours"]
    assert plan.evaluated(demo) == [("davis", "grabcut"), ("davis", "ours")]
    inputs = plan.table_inputs(demo, 5)  # Table 5: SegTrack, where nothing runs
    assert inputs == [] and "segtrack/ours" in plan.table_left_out(demo, 5)
    everything = plan.all_metrics_inputs(demo)
    assert everything == sorted(
        f"results/demo/metrics/davis/{variant}{kind}"
        for variant in ("grabcut", "ours")
        for kind in (".csv", ".per_frame.csv")
    )
    demo["sequences"]["davis"] = []
    assert plan.evaluated(demo) == []


def test_the_prior_variant_is_evaluated_outside_the_paper_tables_with_its_own_settings(demo):
    """`prior` is in no paper table: its metrics are still made (summary, figures); its scan folder sits
    beside Ours' and runs the configuration's video settings with PRIOR_ALONE, on the CPU."""
    demo["variants"] = ["ours", "prior"]
    demo["segtrack_variants"] = []
    demo["device"] = "cuda"
    assert ("davis", "prior") in plan.evaluated(demo)
    assert not any(
        "prior" in path for number in plan.table_numbers() for path in plan.table_inputs(demo, number)
    )
    assert "results/demo/metrics/davis/prior.csv" in plan.all_metrics_inputs(demo)
    assert (
        plan.variant_masks(demo, "davis", "dash-fm", "prior") == "results/demo/davis/dash-fm/ours/prior/masks"
    )
    values = plan.prior_settings_values(demo)
    assert values == {**demo["video"], **PRIOR_ALONE, "device": "cpu"}
    assert plan.video_settings_values(demo)["device"] == "cuda"  # the other steps keep the GPU


def test_results_layout_and_wildcard_of_sequences(demo):
    assert plan.variant_output(demo, "davis", "dash-fm", "grabcut") == "results/demo/davis/dash-fm/grabcut"
    assert plan.variant_masks(demo, "davis", "dash-fm", "grabcut") == "results/demo/davis/dash-fm/grabcut"
    assert (
        plan.variant_output(demo, "davis", "dash-fm", "ours_crf")
        == "results/demo/davis/dash-fm/ours/scan2_crf"
    )
    assert (
        plan.variant_masks(demo, "davis", "dash-fm", "ours") == "results/demo/davis/dash-fm/ours/scan2/masks"
    )
    demo["sequences"] = {"davis": ["a.b", "a.bc"], "segtrack": []}
    assert plan.sequence_pattern(demo) == r"a\.bc|a\.b"
    assert plan.final_masks(demo) == ["results/demo/davis/a.b/masks", "results/demo/davis/a.bc/masks"]
    demo["sequences"]["davis"] = []
    assert plan.sequence_pattern(demo) == "NONE"


def test_model_card_of_the_shipped_model():
    config = load("cpu", "model")
    assert plan.model_file(config) == "models/lsevos-cpu.pt"
    assert plan.model_card_file(config) == "models/lsevos-cpu.md"
    card = plan.model_card(config)
    assert card["summary"] == config["shipped_model"]["summary"] and card["configuration"] == "model"
    stage1 = {**config["pretrain"]["model"], **config["pretrain"]["stage1"]}
    assert card["pretraining steps x batch @ crop"]["stage 1"] == (
        f"{stage1['iterations']} x {stage1['batch']} @ {stage1['crop']}"
    )
    assert card["pretraining data"] == plan.pretrain_sources(config, "all")
    assert json.loads(plan.settings_json(card)) == card
