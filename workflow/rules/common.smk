# Glue: the configuration check, constants with explaining names and the input functions the rules call.
# Every decision is a pure function of the configuration in lsevos.workflow_plan, tested without Snakemake.
import os
import shutil
import sys
from types import SimpleNamespace as Namespace

from snakemake.exceptions import WorkflowError

from lsevos import workflow_plan as plan
from lsevos.config import check_config
from lsevos.data.download import DOWNLOADS as _DOWNLOAD_TABLE
from lsevos.errors import ConfigError
from lsevos.video.variants import FAMILIES, VARIANTS

# The whole configuration, every block and value, is checked once here, before any job (lsevos.config).
try:
    check_config(config)
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


RESULTS = plan.results_dir(config)  # everything a run writes
RESOURCES = plan.resources_dir(config)  # downloads, the augmented VOC list, ImageNet weights
GPU = 1 if config["device"] == "cuda" else 0
THREADS = config["threads"]
# Per-sequence checkpoints are temporary unless the config keeps them (84 GB in the paper DAG otherwise).
checkpoint_output = (lambda path: path) if config.get("keep_checkpoints", False) else temp
CONDA_ENV = "../envs/lsevos.yaml"

# ---------------------------------------------------------------- data locations
DATASETS = plan.sequences(config)  # dataset -> evaluated sequences
DAVIS_ROOT = plan.dataset_root(config, "davis")
SEGTRACK_RELEASE_ROOT = plan.segtrack_release_root(config)[0]  # as released; rule prepare_segtrack
SEGTRACK_ROOT = plan.segtrack_davis_root(config)  # SegTrack v2 converted to the DAVIS layout
DOWNLOADS = tuple(_DOWNLOAD_TABLE)  # unpacked to <resources_dir>/<name>/
VOC_ROOT = plan.voc_root(config)
SBD_ROOT = plan.sbd_root(config)
TRAIN_AUG = plan.train_aug_list(config)  # the augmented VOC 2012 training list (rule sbd_augment)
VOC_SBD_DOWNLOADS = plan.voc_sbd_dependencies(config)
SEGTRACK_SOURCE = plan.segtrack_dependency(config)


def dataset_root(dataset):
    return plan.dataset_root(config, dataset)


def dataset_dependency(wildcards):
    """The folder a sequence's frames come from: a rule's output, or the user's own folder."""
    return plan.dataset_dependency(config, wildcards.dataset)


def frames_dir(wildcards):
    return f"{dataset_root(wildcards.dataset)}/JPEGImages/480p/{wildcards.seq}"


def first_mask(wildcards):
    return f"{dataset_root(wildcards.dataset)}/Annotations/480p/{wildcards.seq}/00000.png"


def gt_masks_dir(wildcards):
    return f"{dataset_root(wildcards.dataset)}/Annotations/480p/{wildcards.seq}"


# ---------------------------------------------------------------- folds and settings passed to commands
FOLDS = plan.folds(config)  # fold name -> evaluated sequences; one fold `all` unless the config splits
FOLD_OF = plan.fold_of(config)
VIDEO_SETTINGS = plan.settings_json(plan.video_settings_values(config))
PRIOR_SETTINGS = plan.settings_json(plan.prior_settings_values(config))
settings_json = plan.settings_json

# ---------------------------------------------------------------- output layout
SEQ_DIR = f"{RESULTS}/{{dataset}}/{{seq}}"
FAMILY_DIR = f"{SEQ_DIR}/{{family}}"
LOG_DIR = f"{RESULTS}/logs/{{dataset}}/{{seq}}/{{family}}"
# Snakemake's per-job benchmark records (wall seconds, max RSS, CPU time): what the cost tables and the
# SLURM runtimes are measured from (`lsevos cost`).
BENCH_DIR = f"{RESULTS}/benchmarks/{{dataset}}/{{seq}}/{{family}}"
METRICS_DIR = f"{RESULTS}/metrics"
TABLES_DIR = f"{RESULTS}/tables"
FIGURES_DIR = f"{RESULTS}/figures"
TABLE_NUMBERS = plan.table_numbers()  # lsevos.evaluation.tables.TABLE_NEEDS
ALL_METRICS = plan.all_metrics_inputs(config)
FINAL_MASKS = plan.final_masks(config)

# ---------------------------------------------------------------- pretraining
# ImageNet weights that torch would download: fetched by the local rule imagenet_weights before the first
# training job (compute nodes rarely reach the internet); the jobs read them with TORCH_HOME=IMAGENET_HOME.
IMAGENET_HOME = plan.imagenet_home(config)


def pretrain_sources(wildcards):
    return plan.settings_json(plan.pretrain_sources(config, wildcards.fold))


def pretrain_dependencies(wildcards):
    return plan.pretrain_dependencies(config, wildcards.fold, wildcards.stage)


def stage_settings(wildcards):
    return plan.settings_json(plan.stage_settings_values(config, wildcards.stage))


def init_option(wildcards):
    init = plan.STAGE_INIT[wildcards.stage]
    return f"--init {plan.checkpoint(config, wildcards.fold, init)}" if init else ""


def pretrained_checkpoint(wildcards):
    """Stage 3 for the joint families, the FP-only model for the FP families."""
    stage = plan.pretrained_stage(wildcards.family)
    return plan.checkpoint(config, FOLD_OF[wildcards.seq], stage)


# ---------------------------------------------------------------- tables
def table_inputs(number):
    return plan.table_inputs(config, number)


def table_left_out(number):
    return plan.table_left_out(config, number)


wildcard_constraints:
    dataset="|".join(plan.DATASETS),
    seq=plan.sequence_pattern(config),
    family="|".join(FAMILIES),
    variant="|".join([plan.GRABCUT, *VARIANTS]),
    fold="|".join(FOLDS),


# ---------------------------------------------------------------- the shipped model (rules/model.smk)
MODEL_FILE = plan.model_file(config)
MODEL_CARD = plan.model_card_file(config)


def model_card(wildcards):
    """The card fields of the model file (`lsevos package-model --card`)."""
    return plan.settings_json(plan.model_card(config))
