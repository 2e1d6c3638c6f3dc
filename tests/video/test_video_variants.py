"""Variants as configuration: each one changes only what it should; settings are checked strictly."""

from __future__ import annotations

import pytest

from lsevos.errors import ConfigError
from lsevos.video.settings import VideoSettings, load_settings
from lsevos.video.variants import VARIANTS, resolve


def changed(a: str, b: str) -> dict[str, tuple]:
    first, second = resolve(a), resolve(b)
    return {key: (first[key], second[key]) for key in first if first[key] != second[key]}


def test_each_variant_changes_only_what_it_should():
    assert changed("fp", "fp_nozoom") == {
        "family": ("fp", "fp_nozoom"),
        "zoom": (True, False),
        "mode": ("zoom", "nozoom"),
    }
    assert changed("fp", "fplse") == {"family": ("fp", "fplse"), "pretraining": ("fp", "joint")}
    assert changed("fplse", "ours") == {"family": ("fplse", "ours"), "head": ("fp", "fused")}
    assert changed("ours", "ours_crf") == {"crf": (False, True)}
    assert changed("ours", "ours_static") == {"output": ("scan2", "scan1"), "retrain": (True, False)}
    assert changed("ours", "ours_gtbox") == {
        "output": ("scan2", "gtbox"),
        "retrain": (True, False),
        "mode": ("zoom", "gtbox"),
    }
    assert changed("fp_gtbox", "ours_gtbox") == {
        "family": ("fp", "ours"),
        "pretraining": ("fp", "joint"),
        "head": ("fp", "fused"),
    }
    assert set(VARIANTS) == {
        "fp_nozoom",
        "fp",
        "fplse",
        "ours",
        "ours_crf",
        "ours_static",
        "fp_gtbox",
        "ours_gtbox",
    }


def test_unknown_variant_is_a_config_error():
    with pytest.raises(ConfigError, match="ours_static"):
        resolve("ours_dynamic")


def test_settings_defaults_and_strict_keys(tmp_path):
    assert VideoSettings().finetune_epochs == 20 and VideoSettings().finetune_lr == 2.5e-5
    assert VideoSettings().pseudo_fg_threshold == 0.6
    settings = load_settings('{"crop_size": 65, "enlarge": 2, "aug_flip": false}')
    assert settings.crop_size == 65 and settings.enlarge == 2.0 and settings.aug_flip is False
    with pytest.raises(ConfigError, match="'crop_sise'"):
        load_settings('{"crop_sise": 65}')
    with pytest.raises(ConfigError, match="'crop_size' must be of type int"):
        load_settings('{"crop_size": "65"}')
    with pytest.raises(ConfigError, match="'batch' must be of type int"):
        load_settings('{"batch": true}')
    with pytest.raises(ConfigError, match="'threshold'"):
        load_settings('{"threshold": 1.5}')
    yaml_file = tmp_path / "video.yaml"
    yaml_file.write_text("crop_size: 97\nretrain_epochs: 3\n")
    assert load_settings(str(yaml_file)) == VideoSettings(crop_size=97, retrain_epochs=3)
    with pytest.raises(ConfigError, match="neither"):
        load_settings(str(tmp_path / "missing.yaml"))
