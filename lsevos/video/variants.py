"""The ablation variants of Tables 1 and 2 as data.

A *family* fixes what is trained: the pretraining (`fp`: foreground loss only; `joint`: the three
stages with the embedding losses), the output head used for fine-tuning and masks (`fp`: the FP branch;
`fused`: the fusion of FP and LSE) and zoom (crop around the propagated box, or the whole frame).
A *variant* picks a family and an output: `scan1` (static: fine-tune only), `scan2` (two-scan adaptation),
`gtbox` (Table 1: the first-frame fine-tuned model applied inside the ground-truth box of every frame,
no propagation, no retraining), `prior` (the baseline the method must beat where a salient-object prior
drives it: the zoom tracker of scan 1 from the same first box, every crop segmented by the prior alone,
`PRIOR_ALONE`), and whether the dense CRF post-processes the masks. A variant's masks
are those of one scan folder of the workflow's results, `<dataset>/<seq>/<family>/<scan>` (`scan_folder`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from lsevos.errors import ConfigError


@dataclass(frozen=True)
class Family:
    pretraining: str
    head: str
    zoom: bool


@dataclass(frozen=True)
class Variant:
    family: str
    output: str
    crf: bool


FAMILIES: dict[str, Family] = {
    "fp_nozoom": Family(pretraining="fp", head="fp", zoom=False),
    "fp": Family(pretraining="fp", head="fp", zoom=True),
    "fplse": Family(pretraining="joint", head="fp", zoom=True),
    "ours": Family(pretraining="joint", head="fused", zoom=True),
}

VARIANTS: dict[str, Variant] = {
    "fp_nozoom": Variant(family="fp_nozoom", output="scan2", crf=False),
    "fp": Variant(family="fp", output="scan2", crf=False),
    "fplse": Variant(family="fplse", output="scan2", crf=False),
    "ours": Variant(family="ours", output="scan2", crf=False),
    "ours_crf": Variant(family="ours", output="scan2", crf=True),
    "ours_static": Variant(family="ours", output="scan1", crf=False),
    "fp_gtbox": Variant(family="fp", output="gtbox", crf=False),
    "ours_gtbox": Variant(family="ours", output="gtbox", crf=False),
    "prior": Variant(family="ours", output="prior", crf=False),
}

# The video settings the `prior` variant replaces: the prior's weight 1 and every switch that reads the
# network off, so the network is never run (`lsevos.video.saliency.mix`). The tracker (search box,
# recovery, follower, connected regions) stays the configuration's.
PRIOR_ALONE: Mapping[str, object] = MappingProxyType(
    {
        "saliency_weight": 1.0,
        "network_veto": False,
        "test_flip": False,
        "saliency_evidence": False,
        "redetect_appearance": False,
    }
)


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ConfigError(f"unknown family {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ConfigError(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]


def scan_mode(family_name: str, output: str) -> str:
    """Tracker mode of a scan: `gtbox` for Table 1, else zoom or no-zoom by family (`prior`: zoom)."""
    if output == "gtbox":
        return "gtbox"
    return "zoom" if family(family_name).zoom else "nozoom"


def scan_folder(name: str) -> tuple[str, str]:
    """The folder of a variant's result inside a sequence's results, as path parts: `(family, scan)`,
    scan = the output (`scan1`, `scan2`, `gtbox`, `prior`) with `_crf` appended for the CRF variants."""
    chosen = variant(name)
    return chosen.family, chosen.output + ("_crf" if chosen.crf else "")
