# Configuration, paths and the small functions every rule file uses.
import json
import os
import re
import shutil
import sys
from types import SimpleNamespace as Namespace

from snakemake.exceptions import WorkflowError

from lsevos.config import (
    check_config,
    copy_paste_sequences as _copy_paste_sequences,
    folds as _folds,
    imagenet_backbones,
    stage_settings_values,
    video_settings_values,
)
from lsevos.data.download import DOWNLOADS as _DOWNLOAD_TABLE
from lsevos.errors import ConfigError
from lsevos.evaluation.tables import TABLE_NEEDS as _TABLE_NEEDS
from lsevos.video.variants import FAMILIES, VARIANTS

# The whole configuration, every block and value, is checked once here, before any job (lsevos.config).
try:
    check_config(config, os.path.join(workflow.basedir, "schemas", "config.schema.yaml"))
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None


# The rules call the `lsevos` command. Snakemake started as `.venv/bin/snakemake` without activating the
# environment has lsevos importable but not on PATH: put the running Python's bin folder first, so every
# job (and a SLURM job, which inherits this PATH) finds the same installation.
envvars:
    "PATH",


_python_bin = os.path.dirname(sys.executable)
if shutil.which("lsevos") is None and os.access(os.path.join(_python_bin, "lsevos"), os.X_OK):
    os.environ["PATH"] = _python_bin + os.pathsep + os.environ.get("PATH", "")


onstart:
    if shutil.which("lsevos") is None:
        raise WorkflowError(
            "the `lsevos` command is not on PATH: install the package (`make venv` or "
            "`pip install -e .`) and run Snakemake from that environment (`source .venv/bin/activate`)"
        )


R = config["results_dir"].rstrip("/")
RES = config["resources_dir"].rstrip("/")
SOURCE = config["data"]["source"]
GPU = 1 if config["device"] == "cuda" else 0
THREADS = config["threads"]
# Per-sequence checkpoints are temporary unless the config keeps them (84 GB in the paper DAG otherwise).
checkpoint_output = (lambda path: path) if config.get("keep_checkpoints", False) else temp

DATASETS = {"davis": config["sequences"]["davis"], "segtrack": config["sequences"]["segtrack"]}
DATASET_VARIANTS = {"davis": config["variants"], "segtrack": config["segtrack_variants"]}


# ---------------------------------------------------------------- data locations
def _synthetic(part):
    return f"{R}/data/synthetic/{part}"


def _data_root(key, synthetic_part, download_root):
    """A user-given folder wins; else the built-in benchmark or the download, by data.source."""
    if config["data"].get(key):
        return config["data"][key], "local"
    if SOURCE == "synthetic":
        return _synthetic(synthetic_part), "synthetic"
    if SOURCE == "download":
        return f"{RES}/{download_root}", "download"
    return None, "local"


DAVIS_ROOT, DAVIS_FROM = _data_root("davis_root", "davis", "davis2016/DAVIS")
SEGTRACK_SRC, SEGTRACK_FROM = _data_root("segtrack_root", "segtrack", "segtrackv2/SegTrackv2")
DOWNLOADS = tuple(_DOWNLOAD_TABLE)  # unpacked to <resources_dir>/<name>/
CONDA_ENV = "../envs/lsevos.yaml"
SEGTRACK_ROOT = f"{R}/data/segtrack_davis"  # SegTrack v2 converted to the DAVIS layout
VOC_ROOT = config["data"]["voc_root"] or f"{RES}/voc2012/VOCdevkit/VOC2012"
SBD_ROOT = config["data"]["sbd_root"] or f"{RES}/sbd/benchmark_RELEASE/dataset"
TRAIN_AUG = f"{RES}/train_aug.txt"  # the augmented VOC 2012 training list (rule sbd_augment)


def voc_sbd_dependencies():
    """Download outputs VOC/SBD come from ([] when the user's own folders are used)."""
    deps = []
    if not config["data"]["voc_root"]:
        deps.append(f"{RES}/voc2012")
    if not config["data"]["sbd_root"]:
        deps.append(f"{RES}/sbd")
    return deps


def dataset_root(dataset):
    return DAVIS_ROOT if dataset == "davis" else SEGTRACK_ROOT


def dataset_dependency(wildcards):
    """The folder a sequence's frames come from: a rule's output, or the user's own folder."""
    if wildcards.dataset == "segtrack":
        return SEGTRACK_ROOT
    return {"synthetic": f"{R}/data/synthetic", "download": f"{RES}/davis2016", "local": DAVIS_ROOT}[
        DAVIS_FROM
    ]


def segtrack_dependency():
    """The folder the SegTrack v2 release layout comes from: a rule's output, or the user's own folder."""
    return {"synthetic": f"{R}/data/synthetic", "download": f"{RES}/segtrackv2", "local": SEGTRACK_SRC}[
        SEGTRACK_FROM
    ]


def frames_dir(wildcards):
    return f"{dataset_root(wildcards.dataset)}/JPEGImages/480p/{wildcards.seq}"


def first_mask(wildcards):
    return f"{dataset_root(wildcards.dataset)}/Annotations/480p/{wildcards.seq}/00000.png"


def gt_masks_dir(wildcards):
    return f"{dataset_root(wildcards.dataset)}/Annotations/480p/{wildcards.seq}"


# ---------------------------------------------------------------- folds
FOLDS = _folds(config)  # fold name -> evaluated sequences; one fold `all` unless the config splits the data
FOLD_OF = {seq: fold for fold, seqs in FOLDS.items() for seq in seqs}


def copy_paste_sequences(fold):
    return _copy_paste_sequences(config, fold)


# ---------------------------------------------------------------- settings passed to commands
def settings_json(block):
    return json.dumps(block, sort_keys=True)


def video_settings():
    return settings_json(video_settings_values(config))


def family_of(variant):
    return VARIANTS[variant].family


def scan_dir(dataset, seq, variant):
    """The scan folder whose masks are a variant's result (lsevos.video.variants.scan_folder)."""
    from lsevos.video.variants import scan_folder

    family, scan = scan_folder(variant)
    return f"{R}/{dataset}/{seq}/{family}/{scan}"


def variant_output(dataset, seq, variant):
    """The rule output (a folder) holding a variant's masks."""
    if variant == "grabcut":
        return f"{R}/{dataset}/{seq}/grabcut"
    return scan_dir(dataset, seq, variant)


def variant_masks(dataset, seq, variant):
    """The folder of a variant's mask PNGs (inside `variant_output`)."""
    if variant == "grabcut":
        return variant_output(dataset, seq, variant)
    return f"{scan_dir(dataset, seq, variant)}/masks"


def expand_final_masks():
    return [f"{R}/{dataset}/{seq}/masks" for dataset, seqs in DATASETS.items() for seq in seqs]


# ---------------------------------------------------------------- output layout
SEQ_DIR = f"{R}/{{dataset}}/{{seq}}"
FAMILY_DIR = f"{SEQ_DIR}/{{family}}"
LOG_DIR = f"{R}/logs/{{dataset}}/{{seq}}/{{family}}"
# Snakemake's per-job benchmark records (wall seconds, max RSS, CPU time): what the cost tables and the
# SLURM runtimes are measured from (`lsevos cost`).
BENCH_DIR = f"{R}/benchmarks/{{dataset}}/{{seq}}/{{family}}"

METRICS_DIR = f"{R}/metrics"
TABLES_DIR = f"{R}/tables"
FIGURES_DIR = f"{R}/figures"
TABLE_NEEDS = {str(number): needs for number, needs in _TABLE_NEEDS.items()}  # lsevos.evaluation.tables


# ---------------------------------------------------------------- pretraining
STAGE_INIT = {"1": None, "2": "1", "3": "2", "fp": None}


def pretrain_sources(fold):
    """The `--data` description of the training images for one fold."""
    sources = []
    for kind in config["pretrain"]["sources"]:
        if kind == "voc_sbd":  # the paper's augmented set, through the list rule sbd_augment writes
            sources.append({"kind": "voc_sbd", "voc_root": VOC_ROOT, "sbd_root": SBD_ROOT, "list": TRAIN_AUG})
        elif kind == "voc":
            sources.append({"kind": "voc", "root": VOC_ROOT, "split": "train"})
        elif kind == "sbd":
            sources.append({"kind": "sbd", "root": SBD_ROOT, "split": "train"})
        elif kind == "static":
            sources.append({"kind": "static", "root": _synthetic("static"), "split": "train"})
        elif kind == "copy_paste":
            root = config["pretrain"]["copy_paste"]["davis_root"] or DAVIS_ROOT
            sources.append(
                {
                    "kind": "copy_paste",
                    "davis_root": root,
                    "sequences": copy_paste_sequences(fold),
                    "exclude": FOLDS[fold],
                }
            )
    return {"sources": sources}


def pretrain_dependencies(wildcards):
    kinds = set(config["pretrain"]["sources"])
    deps = []
    if kinds & {"voc", "sbd", "voc_sbd"}:
        deps += voc_sbd_dependencies()
    if "voc_sbd" in kinds:
        deps.append(TRAIN_AUG)
    if "static" in kinds:
        deps.append(f"{R}/data/synthetic")
    if "copy_paste" in kinds:
        deps.append(
            config["pretrain"]["copy_paste"]["davis_root"] or dataset_dependency(Namespace(dataset="davis"))
        )
    init = STAGE_INIT[wildcards.stage]
    if init:
        deps.append(f"{R}/pretrain/{wildcards.fold}/stage{init}.pt")
    elif IMAGENET_WEIGHTS:
        deps.append(IMAGENET_WEIGHTS)
    return deps


# ImageNet weights that torch would download: fetched by the local rule imagenet_weights before the first
# training job (compute nodes rarely reach the internet); the jobs read them with TORCH_HOME=IMAGENET_HOME.
IMAGENET_HOME = f"{RES}/torch_home"
IMAGENET_WEIGHTS = (
    f"{IMAGENET_HOME}/hub/checkpoints/resnet101-63fe2227.pth"
    if "resnet101" in imagenet_backbones(config)
    else None
)


def stage_settings(stage):
    return settings_json(stage_settings_values(config, stage))


def init_option(wildcards):
    init = STAGE_INIT[wildcards.stage]
    return f"--init {R}/pretrain/{wildcards.fold}/stage{init}.pt" if init else ""


def pretrained_checkpoint(wildcards):
    """Stage 3 for the joint families, the FP-only model for the FP families."""
    stage = "3" if FAMILIES[wildcards.family].pretraining == "joint" else "fp"
    return f"{R}/pretrain/{FOLD_OF[wildcards.seq]}/stage{stage}.pt"


# ---------------------------------------------------------------- tables
def configured(dataset, variant):
    return variant == "grabcut" and dataset == "davis" or variant in DATASET_VARIANTS[dataset]


def runs(dataset, variant):
    """Whether this configuration produces the metrics of `variant` on `dataset`."""
    return configured(dataset, variant) and bool(DATASETS[dataset])


def table_inputs(number):
    return [
        f"{METRICS_DIR}/{dataset}/{variant}.{kind}"
        for dataset, variant in TABLE_NEEDS[number]
        if runs(dataset, variant)
        for kind in ("csv", "per_frame.csv")
    ]


def table_left_out(number):
    """`lsevos tables --left-out`: the table's (dataset, variant) metrics this configuration does not run."""
    return ",".join(
        f"{dataset}/{variant}" for dataset, variant in TABLE_NEEDS[number] if not runs(dataset, variant)
    )


def all_metrics_inputs():
    return sorted({path for number in TABLE_NEEDS for path in table_inputs(number)})


wildcard_constraints:
    dataset="davis|segtrack",
    seq="|".join(
        re.escape(s)
        for s in sorted({s for names in DATASETS.values() for s in names}, key=len, reverse=True)
    )
    or "NONE",
    family="|".join(FAMILIES),
    variant="|".join(["grabcut", *VARIANTS]),
    fold="|".join(FOLDS),


# ---------------------------------------------------------------- the shipped model (rules/model.smk)
MODEL_FILE = (config.get("shipped_model") or {}).get("file", "models/lsevos-cpu.pt")
# the card beside the model file, as lsevos.video.model_file.card_path (the schema requires .pt)
MODEL_CARD = MODEL_FILE[: -len(".pt")] + ".md"


def model_card():
    """The card fields of the model file (`lsevos package-model --card`)."""
    block = config.get("shipped_model") or {}
    stages = {stage: stage_settings_values(config, stage) for stage in ("1", "2", "3")}
    card = {
        "summary": block.get("summary", ""),
        "pretraining data": pretrain_sources("all"),
        "pretraining steps x batch @ crop": {
            f"stage {s}": f"{v['iterations']} x {v['batch']} @ {v['crop']}" for s, v in stages.items()
        },
        "measured": block.get("measured", ""),
        "configuration": config["name"],
    }
    return settings_json(card)
