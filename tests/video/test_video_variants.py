"""Variants as configuration: each one changes only what it should; settings are checked strictly."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from lsevos.errors import ConfigError
from lsevos.video.settings import VideoSettings, load_settings
from lsevos.video.variants import VARIANTS, family, scan_folder, scan_mode, variant


def fixed_by(name: str) -> dict[str, object]:
    """Everything a variant fixes, as the pipeline and the workflow read it: its family's fields, output,
    CRF, the scan's tracker mode and the scan folder of its masks."""
    chosen = variant(name)
    return {
        **asdict(chosen),
        **asdict(family(chosen.family)),
        "mode": scan_mode(chosen.family, chosen.output),
        "folder": scan_folder(name),
    }


def changed(a: str, b: str) -> dict[str, tuple]:
    first, second = fixed_by(a), fixed_by(b)
    return {key: (first[key], second[key]) for key in first if first[key] != second[key]}


def test_each_variant_changes_only_what_it_should():
    assert changed("fp", "fp_nozoom") == {
        "family": ("fp", "fp_nozoom"),
        "zoom": (True, False),
        "mode": ("zoom", "nozoom"),
        "folder": (("fp", "scan2"), ("fp_nozoom", "scan2")),
    }
    assert changed("fp", "fplse") == {
        "family": ("fp", "fplse"),
        "pretraining": ("fp", "joint"),
        "folder": (("fp", "scan2"), ("fplse", "scan2")),
    }
    assert changed("fplse", "ours") == {
        "family": ("fplse", "ours"),
        "head": ("fp", "fused"),
        "folder": (("fplse", "scan2"), ("ours", "scan2")),
    }
    assert changed("ours", "ours_crf") == {
        "crf": (False, True),
        "folder": (("ours", "scan2"), ("ours", "scan2_crf")),
    }
    assert changed("ours", "ours_static") == {
        "output": ("scan2", "scan1"),
        "folder": (("ours", "scan2"), ("ours", "scan1")),
    }
    assert changed("ours", "ours_gtbox") == {
        "output": ("scan2", "gtbox"),
        "mode": ("zoom", "gtbox"),
        "folder": (("ours", "scan2"), ("ours", "gtbox")),
    }
    assert changed("fp_gtbox", "ours_gtbox") == {
        "family": ("fp", "ours"),
        "pretraining": ("fp", "joint"),
        "head": ("fp", "fused"),
        "folder": (("fp", "gtbox"), ("ours", "gtbox")),
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
        "prior",
    }
    assert changed("ours_static", "prior") == {
        "output": ("scan1", "prior"),
        "folder": (("ours", "scan1"), ("ours", "prior")),
    }


def test_the_prior_variant_keeps_the_tracker_and_turns_every_reader_of_the_network_off():
    from lsevos.video.variants import PRIOR_ALONE

    cpu = {"saliency_weight": 0.7, "network_veto": True, "test_flip": True, "crop_size": 241, "enlarge": 1.5}
    alone = VideoSettings.from_dict({**cpu, "redetect_below": 0.3, "follow_appearance": True, **PRIOR_ALONE})
    assert alone.saliency_weight == 1.0 and not alone.network_veto and not alone.test_flip
    assert not alone.saliency_evidence and not alone.redetect_appearance
    assert (alone.crop_size, alone.enlarge, alone.redetect_below, alone.follow_appearance) == (
        241,
        1.5,
        0.3,
        True,
    )
    assert cpu["saliency_weight"] == 0.7 and not PRIOR_ALONE["network_veto"]  # neither is changed
    with pytest.raises(TypeError):
        PRIOR_ALONE["saliency_weight"] = 0.5  # type: ignore[index]


def test_no_two_variants_share_a_result_folder():
    folders = [scan_folder(name) for name in VARIANTS]
    assert len(set(folders)) == len(VARIANTS)
    assert all(fam == VARIANTS[name].family for name, (fam, _) in zip(VARIANTS, folders, strict=True))


def test_unknown_variant_is_a_config_error():
    with pytest.raises(ConfigError, match="ours_static"):
        scan_folder("ours_dynamic")
    with pytest.raises(ConfigError, match="fplse"):
        family("fp_lse")


def test_settings_defaults_and_strict_keys(tmp_path):
    assert VideoSettings().finetune_epochs == 20 and VideoSettings().finetune_lr == 2.5e-5
    assert VideoSettings().pseudo_fg_threshold == 0.6
    settings = load_settings('{"crop_size": 65, "enlarge": 2, "aug_flip": false}')
    assert settings.crop_size == 65 and settings.enlarge == 2.0 and settings.aug_flip is False
    with pytest.raises(ConfigError, match="'crop_sise'"):
        load_settings('{"crop_sise": 65}')
    with pytest.raises(ConfigError, match=r"'crop_size': expected an integer \(int\)"):
        load_settings('{"crop_size": "65"}')
    with pytest.raises(ConfigError, match=r"'batch': expected an integer \(int\), got True \(bool\)"):
        load_settings('{"batch": true}')
    with pytest.raises(ConfigError, match="'threshold'"):
        load_settings('{"threshold": 1.5}')
    yaml_file = tmp_path / "video.yaml"
    yaml_file.write_text("crop_size: 97\nretrain_epochs: 3\n")
    assert load_settings(str(yaml_file)) == VideoSettings(crop_size=97, retrain_epochs=3)
    with pytest.raises(ConfigError, match="neither"):
        load_settings(str(tmp_path / "missing.yaml"))


def test_the_box_tightness_loss_with_grabcut_labels_is_refused():
    """GrabCut's labels are 0 and 1 inside the box, so they do not mark the box the loss needs."""
    with pytest.raises(
        ConfigError,
        match=r"'box_tightness' acts only with 'first_frame_grabcut' = 0.*turn 'box_tightness' off",
    ) as refused:
        load_settings(json.dumps({"box_tightness": 1.0, "first_frame_grabcut": 5}))
    assert "\n" not in str(refused.value)
    assert load_settings(json.dumps({"box_tightness": 1.0})).box_tightness == 1.0


@pytest.mark.parametrize(
    ("switch", "needed", "on"),
    [("first_frame_span", "first_frame_grabcut", 5), ("redetect_appearance", "redetect_below", 0.3)],
)
def test_a_switch_without_the_setting_it_acts_through_is_refused(switch, needed, on):
    """With its setting off the switch would change nothing (`first_frame_span` completes GrabCut labels
    only): refused in one line naming both keys; accepted once the setting is on, and off is always fine."""
    value = 0.9 if switch == "first_frame_span" else True
    with pytest.raises(
        ConfigError, match=rf"'{switch}' acts only with '{needed}' > 0.*turn '{switch}' off"
    ) as refused:
        load_settings(json.dumps({switch: value}))
    assert "\n" not in str(refused.value)
    assert getattr(load_settings(json.dumps({switch: value, needed: on})), switch) == value
    assert load_settings(json.dumps({needed: on})) == VideoSettings(**{needed: on})
