"""The workflow's plan as pure functions of the configuration: where data comes from, the folds, the
pretraining sources and stage order, the metrics each table needs, the model card.

`workflow/rules/*.smk` call these functions (through the input functions of `common.smk`) and hold no
logic of their own; tests call them directly on a configuration mapping, without Snakemake. Paths are
strings, relative to Snakemake's working directory unless the configuration gives absolute ones.
"""

from __future__ import annotations

import json
import re
from typing import Any

GRABCUT = "grabcut"  # the GrabCut baseline: a variant name beside lsevos.video.variants.VARIANTS
DATASETS = ("davis", "segtrack")
STAGES = ("1", "2", "3", "fp")
# The stage each pretraining stage starts from (None: ImageNet weights or scratch).
STAGE_INIT: dict[str, str | None] = {"1": None, "2": "1", "3": "2", "fp": None}
# Folders below resources_dir: each download's unpacked data (lsevos.data.download).
DAVIS_DOWNLOAD = "davis2016/DAVIS"
SEGTRACK_DOWNLOAD = "segtrackv2/SegTrackv2"
VOC_DOWNLOAD = "voc2012/VOCdevkit/VOC2012"
SBD_DOWNLOAD = "sbd/benchmark_RELEASE/dataset"
TORCH_HOME = "torch_home"  # below resources_dir: ImageNet weights, fetched before any training job


def results_dir(config: dict) -> str:
    return config["results_dir"].rstrip("/")


def resources_dir(config: dict) -> str:
    return config["resources_dir"].rstrip("/")


def settings_json(block: object) -> str:
    """A settings mapping as the one-line JSON the commands' `--settings` / `--data` / `--card` read."""
    return json.dumps(block, sort_keys=True)


# ------------------------------------------------------------------------------------------ data roots
def synthetic_dir(config: dict, part: str = "") -> str:
    """The built-in benchmark (rule generate_benchmark), or one of its parts (`davis`, `static`, ...)."""
    root = f"{results_dir(config)}/data/synthetic"
    return f"{root}/{part}" if part else root


def _data_root(config: dict, key: str, synthetic_part: str, download: str) -> tuple[str | None, str]:
    """(folder, origin): a user-given folder wins; else the built-in benchmark or the download, by
    `data.source`; origin is `local`, `synthetic` or `download`."""
    data = config["data"]
    if data.get(key):
        return data[key], "local"
    if data["source"] == "synthetic":
        return synthetic_dir(config, synthetic_part), "synthetic"
    if data["source"] == "download":
        return f"{resources_dir(config)}/{download}", "download"
    return None, "local"


def davis_root(config: dict) -> tuple[str | None, str]:
    """(the DAVIS-layout folder the DAVIS sequences are read from, its origin)."""
    return _data_root(config, "davis_root", "davis", DAVIS_DOWNLOAD)


def segtrack_release_root(config: dict) -> tuple[str | None, str]:
    """(the SegTrack v2 folder in its release layout, its origin); rule prepare_segtrack converts it."""
    return _data_root(config, "segtrack_root", "segtrack", SEGTRACK_DOWNLOAD)


def segtrack_davis_root(config: dict) -> str:
    """SegTrack v2 converted to the DAVIS layout (rule prepare_segtrack)."""
    return f"{results_dir(config)}/data/segtrack_davis"


def dataset_root(config: dict, dataset: str) -> str | None:
    """The DAVIS-layout folder a dataset's sequences are read from."""
    return davis_root(config)[0] if dataset == "davis" else segtrack_davis_root(config)


def _produced_by(config: dict, root: tuple[str | None, str], download: str) -> str | None:
    """The rule output a data folder comes from (the benchmark, the download) or the user's folder."""
    folder, origin = root
    if origin == "synthetic":
        return synthetic_dir(config)
    if origin == "download":
        return f"{resources_dir(config)}/{download}"
    return folder


def dataset_dependency(config: dict, dataset: str) -> str | None:
    """The input a dataset's frames come from: a rule's output, or the user's own folder."""
    if dataset == "segtrack":
        return segtrack_davis_root(config)
    return _produced_by(config, davis_root(config), DAVIS_DOWNLOAD.split("/")[0])


def segtrack_dependency(config: dict) -> str | None:
    """The input the SegTrack v2 release layout comes from: a rule's output, or the user's own folder."""
    return _produced_by(config, segtrack_release_root(config), SEGTRACK_DOWNLOAD.split("/")[0])


def voc_root(config: dict) -> str:
    return config["data"]["voc_root"] or f"{resources_dir(config)}/{VOC_DOWNLOAD}"


def sbd_root(config: dict) -> str:
    return config["data"]["sbd_root"] or f"{resources_dir(config)}/{SBD_DOWNLOAD}"


def train_aug_list(config: dict) -> str:
    """The augmented VOC 2012 training list (rule sbd_augment)."""
    return f"{resources_dir(config)}/train_aug.txt"


def voc_sbd_dependencies(config: dict) -> list[str]:
    """Download outputs VOC/SBD come from ([] when the user's own folders are used)."""
    downloads = (("voc_root", VOC_DOWNLOAD), ("sbd_root", SBD_DOWNLOAD))
    return [
        f"{resources_dir(config)}/{download.split('/')[0]}"
        for key, download in downloads
        if not config["data"][key]
    ]


# ---------------------------------------------------------------------------------------------- folds
def sequences(config: dict) -> dict[str, list[str]]:
    """Dataset -> its evaluated sequences."""
    return {dataset: list(config["sequences"][dataset]) for dataset in DATASETS}


def folds(config: dict) -> dict[str, list[str]]:
    """Fold name -> evaluated sequences; one fold `all` unless `pretrain.folds` splits the data."""
    split = config["pretrain"].get("folds") or {}
    if not split:
        return {"all": [seq for names in sequences(config).values() for seq in names]}
    return {name: list(fold["evaluate"]) for name, fold in split.items()}


def sequence_pattern(config: dict) -> str:
    """The regular expression of the `seq` wildcard: the evaluated names, longest first (`NONE`: none)."""
    names = sorted({seq for names in sequences(config).values() for seq in names}, key=len, reverse=True)
    return "|".join(re.escape(seq) for seq in names) or "NONE"


def fold_of(config: dict) -> dict[str, str]:
    """Sequence -> the fold whose model segments it."""
    return {seq: fold for fold, names in folds(config).items() for seq in names}


def copy_paste_sequences(config: dict, fold: str) -> list[str] | str:
    """The sequences whose objects are cut for the copy-paste pretraining of `fold`'s model ("all":
    every annotated sequence of the folder that the fold does not evaluate)."""
    split = config["pretrain"].get("folds") or {}
    if split:
        return split[fold].get("copy_paste", [])
    return (config["pretrain"].get("copy_paste") or {}).get("sequences", [])


# --------------------------------------------------------------------------------------- pretraining
def stage_block(stage: str) -> str:
    """Pretraining stage ('1', ..., 'fp') -> its block under `pretrain`."""
    return "fp" if stage == "fp" else f"stage{stage}"


def stage_settings_values(config: dict, stage: str) -> dict:
    """The settings the workflow passes to `lsevos pretrain --settings`: the stage block merged over
    `pretrain.model`, with the top-level `device`."""
    pretrain = config["pretrain"]
    return {**pretrain["model"], **pretrain[stage_block(stage)], "device": config["device"]}


def video_settings_values(config: dict) -> dict:
    """The settings the workflow passes to the video commands: the `video` block with the top-level
    `device`."""
    return {**config["video"], "device": config["device"]}


def prior_settings_values(config: dict) -> dict:
    """The settings of the `prior` variant's scan: the video settings with
    `lsevos.video.variants.PRIOR_ALONE` over them, on the CPU (the prior runs there; no model is read, so
    the job needs neither a GPU nor pretraining)."""
    from lsevos.video.variants import PRIOR_ALONE

    return {**video_settings_values(config), **PRIOR_ALONE, "device": "cpu"}


def checkpoint(config: dict, fold: str, stage: str) -> str:
    """The pretrained model of one fold and stage (rule pretrain)."""
    return f"{results_dir(config)}/pretrain/{fold}/stage{stage}.pt"


def pretrained_stage(family: str) -> str:
    """The pretraining stage a family's video model starts from: stage 3 (joint) or the FP-only model."""
    from lsevos.video.variants import FAMILIES

    return "3" if FAMILIES[family].pretraining == "joint" else "fp"


def pretrain_sources(config: dict, fold: str) -> dict:
    """The `lsevos pretrain --data` description of the training images of one fold's model."""
    sources: list[dict[str, Any]] = []
    for kind in config["pretrain"]["sources"]:
        if kind == "voc_sbd":  # the paper's augmented set, through the list rule sbd_augment writes
            roots = {"voc_root": voc_root(config), "sbd_root": sbd_root(config)}
            sources.append({"kind": "voc_sbd", **roots, "list": train_aug_list(config)})
        elif kind in ("voc", "sbd"):
            root = voc_root(config) if kind == "voc" else sbd_root(config)
            sources.append({"kind": kind, "root": root, "split": "train"})
        elif kind == "static":
            sources.append({"kind": "static", "root": synthetic_dir(config, "static"), "split": "train"})
        elif kind == "copy_paste":
            cut = copy_paste_sequences(config, fold)
            root = config["pretrain"]["copy_paste"]["davis_root"] or davis_root(config)[0]
            exclude = folds(config)[fold]
            sources.append({"kind": "copy_paste", "davis_root": root, "sequences": cut, "exclude": exclude})
    return {"sources": sources}


def imagenet_backbones(config: dict) -> set[str]:
    """Backbones whose ImageNet weights the stages that start from scratch (1 and fp) load, with every
    default applied as `lsevos pretrain` applies it (a stage may override `pretrain.model`)."""
    from lsevos.train.pretrain import PretrainSettings

    backbones: set[str] = set()
    for stage in (stage for stage, init in STAGE_INIT.items() if init is None):
        settings = PretrainSettings.from_dict(stage_settings_values(config, stage))
        if settings.pretrained:
            backbones.add(settings.backbone)
    return backbones


def imagenet_home(config: dict) -> str:
    """TORCH_HOME of the training jobs: the ImageNet weights torch would download are fetched there first
    (rule imagenet_weights; compute nodes rarely reach the internet)."""
    return f"{resources_dir(config)}/{TORCH_HOME}"


def imagenet_weights(config: dict) -> str | None:
    """The ImageNet file the first stages read from `imagenet_home` (None: no stage needs one)."""
    from lsevos.model.backbones import RESNET101_FILE

    if "resnet101" not in imagenet_backbones(config):
        return None
    return f"{imagenet_home(config)}/hub/checkpoints/{RESNET101_FILE}"


def pretrain_dependencies(config: dict, fold: str, stage: str) -> list[str]:
    """The inputs of one pretraining job: its training images' folders, and the stage it starts from
    (or the ImageNet weights)."""
    kinds = set(config["pretrain"]["sources"])
    deps = voc_sbd_dependencies(config) if kinds & {"voc", "sbd", "voc_sbd"} else []
    if "voc_sbd" in kinds:
        deps.append(train_aug_list(config))
    if "static" in kinds:
        deps.append(synthetic_dir(config))
    if "copy_paste" in kinds:
        own = config["pretrain"]["copy_paste"]["davis_root"]
        deps.append(own or dataset_dependency(config, "davis"))
    init = STAGE_INIT[stage]
    weights = imagenet_weights(config)
    if init:
        deps.append(checkpoint(config, fold, init))
    elif weights:
        deps.append(weights)
    return deps


# ------------------------------------------------------------------------------------ results layout
def variant_output(config: dict, dataset: str, seq: str, variant: str) -> str:
    """The rule output (a folder) holding a variant's masks (lsevos.video.variants.scan_folder)."""
    from lsevos.video.variants import scan_folder

    base = f"{results_dir(config)}/{dataset}/{seq}"
    if variant == GRABCUT:
        return f"{base}/{GRABCUT}"
    family, scan = scan_folder(variant)
    return f"{base}/{family}/{scan}"


def variant_masks(config: dict, dataset: str, seq: str, variant: str) -> str:
    """The folder of a variant's mask PNGs (inside `variant_output`)."""
    output = variant_output(config, dataset, seq, variant)
    return output if variant == GRABCUT else f"{output}/masks"


def final_masks(config: dict) -> list[str]:
    """The main variant's masks of every evaluated sequence (rule final_masks)."""
    return [
        f"{results_dir(config)}/{d}/{seq}/masks" for d, names in sequences(config).items() for seq in names
    ]


# ---------------------------------------------------------------------------------------------- tables
def dataset_variants(config: dict, dataset: str) -> list[str]:
    """The variants run on a dataset: `variants` (DAVIS, with the GrabCut baseline) or
    `segtrack_variants`."""
    if dataset == "davis":
        return [GRABCUT, *(name for name in config["variants"] if name != GRABCUT)]
    return list(config["segtrack_variants"])


def produces_metrics(config: dict, dataset: str, variant: str) -> bool:
    """Whether this configuration produces the metrics of `variant` on `dataset`."""
    return variant in dataset_variants(config, dataset) and bool(config["sequences"][dataset])


def metrics_files(config: dict, dataset: str, variant: str) -> list[str]:
    """The merged metrics of one variant on one dataset (rule merge_metrics)."""
    stem = f"{results_dir(config)}/metrics/{dataset}/{variant}"
    return [f"{stem}.csv", f"{stem}.per_frame.csv"]


def table_needs(number: int | str) -> tuple[tuple[str, str], ...]:
    """The (dataset, variant) metrics table `number` reads (lsevos.evaluation.tables.TABLE_NEEDS)."""
    from lsevos.evaluation.tables import TABLE_NEEDS

    return TABLE_NEEDS[int(number)]


def table_numbers() -> list[str]:
    from lsevos.evaluation.tables import TABLE_NEEDS

    return [str(number) for number in TABLE_NEEDS]


def table_inputs(config: dict, number: int | str) -> list[str]:
    """The metrics files of table `number` that this configuration produces."""
    return [
        path
        for dataset, variant in table_needs(number)
        if produces_metrics(config, dataset, variant)
        for path in metrics_files(config, dataset, variant)
    ]


def table_left_out(config: dict, number: int | str) -> str:
    """`lsevos tables --left-out`: the table's (dataset, variant) metrics this configuration does not run."""
    return ",".join(
        f"{dataset}/{variant}"
        for dataset, variant in table_needs(number)
        if not produces_metrics(config, dataset, variant)
    )


def all_metrics_inputs(config: dict) -> list[str]:
    """The metrics files of every variant the configuration evaluates (`evaluated`): those the tables read
    and the others (`prior`, in no paper table: the metrics summary and the figures), once."""
    return sorted(
        {path for dataset, variant in evaluated(config) for path in metrics_files(config, dataset, variant)}
    )


def evaluated(config: dict) -> list[tuple[str, str]]:
    """(dataset, variant) pairs this configuration segments and evaluates."""
    return [
        (dataset, variant)
        for dataset in DATASETS
        for variant in dataset_variants(config, dataset)
        if produces_metrics(config, dataset, variant)
    ]


# ------------------------------------------------------------------------------------ the shipped model
def model_file(config: dict) -> str:
    """The model file the `model` target writes."""
    return (config.get("shipped_model") or {}).get("file", "models/lsevos-cpu.pt")


def model_card_file(config: dict) -> str:
    """The card beside the model file (lsevos.video.model_file.card_path)."""
    from lsevos.video.model_file import card_path

    return str(card_path(model_file(config)))


def model_card(config: dict) -> dict:
    """The card fields of the model file (`lsevos package-model --card`)."""
    block = config.get("shipped_model") or {}
    stages = {stage: stage_settings_values(config, stage) for stage in ("1", "2", "3")}
    steps = {
        f"stage {stage}": f"{values['iterations']} x {values['batch']} @ {values['crop']}"
        for stage, values in stages.items()
    }
    return {
        "summary": block.get("summary", ""),
        "pretraining data": pretrain_sources(config, "all"),
        "pretraining steps x batch @ crop": steps,
        "measured": block.get("measured", ""),
        "configuration": config["name"],
    }
