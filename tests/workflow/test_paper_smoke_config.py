"""config/paper-smoke.yaml changes scale only: it must not change what the paper's run computes."""

from __future__ import annotations

import yaml

# Key paths (dotted; `*` = any stage block) the smoke may set over config/config.yaml.
SCALE_KEYS = {
    "name",
    "results_dir",
    "resources_dir",
    "device",
    "threads",
    "sequences.davis",
    "sequences.segtrack",
    "pretrain.*.iterations",
    "pretrain.*.batch",
    "pretrain.*.log_every",
    "pretrain.*.checkpoint_every",
    "pretrain.*.workers",
    "video.finetune_epochs",
    "video.retrain_epochs",
    "video.batch",
}
STAGES = ("stage1", "stage2", "stage3", "fp")


def _leaves(block: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in block.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths += _leaves(value, f"{path}.")
        else:
            paths.append(path)
    return paths


def _generic(path: str) -> str:
    parts = path.split(".")
    if len(parts) == 3 and parts[0] == "pretrain" and parts[1] in STAGES:
        parts[1] = "*"
    return ".".join(parts)


def test_paper_smoke_sets_only_scale_keys(repo_root):
    smoke = yaml.safe_load((repo_root / "config" / "paper-smoke.yaml").read_text())
    changed = sorted({_generic(path) for path in _leaves(smoke)})
    assert set(changed) <= SCALE_KEYS, sorted(set(changed) - SCALE_KEYS)


def test_the_merged_smoke_config_is_the_papers_method(repo_root):
    """What the method is made of stays the paper's after the merge Snakemake does (a recursive update)."""
    from snakemake.utils import update_config

    from lsevos.config import check_config

    paper = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    merged = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    update_config(merged, yaml.safe_load((repo_root / "config" / "paper-smoke.yaml").read_text()))
    check_config(merged)
    assert merged["pretrain"]["model"] == paper["pretrain"]["model"]
    assert merged["pretrain"]["model"]["backbone"] == "resnet101"
    assert merged["pretrain"]["sources"] == ["voc_sbd"] and merged["data"]["source"] == "download"
    assert merged["variants"] == paper["variants"] and merged["main_variant"] == paper["main_variant"]
    for stage in STAGES:
        assert merged["pretrain"][stage]["crop"] == 321
        assert merged["pretrain"][stage]["lr"] == paper["pretrain"][stage]["lr"]
    assert merged["video"]["crop_size"] == 321
    assert merged["video"]["finetune_lr"] == paper["video"]["finetune_lr"]
