"""Settings of the video stage (tracking, adaptation, CRF): one typed key each, with defaults.

The workflow passes the `video` block of the configuration as JSON; users may pass a JSON or YAML file.
Every key has a default, so an empty block is valid. Unknown or ill-typed keys and values out of range
raise `ConfigError` naming the key (`lsevos.settings_base`). Each key's type, default, range and meaning
are the fields below; config/README.md and the workflow's JSON schema are generated from them
(`python -m lsevos.config_models --write`).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import model_validator

from lsevos.devices import Device
from lsevos.settings_base import Settings, setting
from lsevos.settings_text import read_mapping

Optimizer = Literal["sgd", "adam"]
EpochDefinition = Literal["frames", "full_batches"]
SaliencyBlend = Literal["mean", "log_odds"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
EPOCH_DEFINITIONS: tuple[str, ...] = get_args(EpochDefinition)

# A switch that acts only through another: (switch, the setting it needs, how to turn that on).
NEEDS: tuple[tuple[str, str, str], ...] = (
    ("first_frame_span", "first_frame_grabcut", "GrabCut iterations, e.g. 5"),
    ("redetect_appearance", "redetect_below", "the recovery's threshold, e.g. 0.3"),
    ("follow_appearance", "redetect_below", "the recovery's threshold, e.g. 0.3"),
)
# A switch that acts only while another is off: (switch, the setting that must be 0, why).
EXCLUDES: tuple[tuple[str, str, str], ...] = (
    ("box_tightness", "first_frame_grabcut", "GrabCut's labels do not mark the box"),
    ("box_tightness", "finetune_moved_share", "a moved object's labels do not mark the box"),
)


class VideoSettings(Settings):
    """Every knob of the video stage (the `video` block; the defaults are the paper configuration).

    `optimizer`: the paper names no optimizer; SGD with `momentum` is that of DeepLab, the paper's base,
    and of the pretraining here; Adam (the CPU configurations) moves the network further in a few steps.
    The zoom tracker's guards (`box_*`, `lsevos.video.tracker.SearchBoxes`) are all off (0 / false) in the
    paper configuration, where the next box is the enlarged box of the whole mask.
    """

    crop_size: int = setting(
        321,
        "side of the square network input; each (enlarged) box is resized to it; without zoom "
        "(`fp_nozoom`) the whole frame keeps its aspect ratio with its shorter side resized to it",
        unit="px",
        ge=8,
    )
    enlarge: float = setting(
        1.5, "factor the box of mask t is enlarged by (around its centre) for frame t+1", unit="x", ge=1.0
    )
    vanish_growth: float = setting(
        1.5, "extra enlargement per consecutive empty frame while the object is lost", unit="x", ge=1.0
    )
    threshold: float = setting(0.5, "probability above which a pixel is foreground", gt=0.0, lt=1.0)
    finetune_epochs: int = setting(20, "first-frame fine-tune epochs (see `epoch_definition`)", ge=0)
    finetune_lr: float = setting(2.5e-5, "first-frame fine-tune learning rate", ge=0.0)
    retrain_epochs: int = setting(
        1, "retraining epochs on the scan-1 pseudo-labels (see `epoch_definition`)", ge=0
    )
    retrain_lr: float = setting(2.5e-5, "retraining learning rate", ge=0.0)
    retrain_first_frame_share: float = setting(
        0.0,
        "share of the retraining samples that are the first frame with its fine-tune labels (0: scan-1 "
        "labels only, as in the paper)",
        ge=0.0,
        lt=1.0,
    )
    train_crop_size: int = setting(
        0,
        "side of the fine-tune's and retraining's crops (0: `crop_size`); the network is fully "
        "convolutional, so it may train on smaller crops than it scans (`cpu`: 161, the pretraining crop: "
        "0.55x the step time of 241; docs/experiments.md, E24)",
        unit="px",
        ge=0,
    )
    freeze_early_layers: bool = setting(
        False,
        "fine-tune and retraining keep the backbone's layers at output stride <= 4 (stem and first "
        "stage, `lsevos.model.backbones.Backbone.early_layers`) as pretrained: their backward pass is the "
        "costliest part of a step (`cpu`: true, 0.7-0.8x the step time)",
    )
    batch: int = setting(4, "crops per optimisation step (at most, with `epoch_definition: frames`)", ge=1)
    optimizer: Optimizer = setting(
        "sgd",
        "fine-tune and retraining optimizer: `sgd` with `momentum` (the paper configuration) or `adam` "
        "(`demo`, `cpu`: a few steps move the network further)",
    )
    momentum: float = setting(0.9, "SGD momentum (unused by `adam`)", ge=0.0, lt=1.0)
    weight_decay: float = setting(
        0.0, "weight decay of either optimizer (the paper states none for the video stage)", ge=0.0
    )
    epoch_definition: EpochDefinition = setting(
        "frames",
        "`frames` (the paper): an epoch shows every training frame exactly once, in steps of up to `batch` "
        "crops, so a first-frame epoch is one step of one crop; `full_batches` (`demo`, `cpu`): "
        "ceil(frames / `batch`) steps of exactly `batch` crops, the shuffled frames repeated to fill them "
        "(a first-frame epoch: one step of `batch` augmented crops)",
    )
    pseudo_fg_threshold: float = setting(
        0.6, "first-frame rule: foreground probability inside the box that counts as object", gt=0.0, le=1.0
    )
    first_frame_grabcut: int = setting(
        0,
        "0: the paper's first-frame rule; else GrabCut iterations that turn its labels into a full "
        "foreground/background labelling (`lsevos.video.pseudo_labels`)",
        ge=0,
    )
    first_frame_span: float = setting(
        0.0,
        "with GrabCut first-frame labels: a box touches its object on all four sides, so labels whose "
        "foreground crosses less than this share of the box's rows or columns cover a part of the object "
        "and GrabCut runs again with the missed rows and columns as probable foreground "
        "(`lsevos.video.pseudo_labels.box_span`); 0: off; > 0 needs `first_frame_grabcut` > 0",
        ge=0.0,
        le=1.0,
    )
    box_tightness: float = setting(
        0.0,
        "first-frame fine-tune under the 0.6 rule: weight of a box-tightness loss added to the foreground "
        "loss; a box touches its object on all four sides, so every row and column of the user's box must "
        "hold a foreground pixel: the mean over them of -log(their largest foreground probability) "
        "(`lsevos.losses.tightness_loss`); with a given first-frame mask the labels already hold it; 0: off "
        "(the paper); needs `first_frame_grabcut` 0; the network alone (no prior): development videos "
        "+6.4 J, check +8.1; with the prior (`cpu`) -1.7 J on development videos (docs/experiments.md, E33)",
        ge=0.0,
    )
    pseudo_ignore_margin: float = setting(
        0.0,
        "scan-1 rule: probabilities within this margin of `threshold` are ignored (255); 0 (the paper): "
        "scan 1's masks are the labels as they are (`demo`, `cpu`: 0.2)",
        ge=0.0,
        lt=0.5,
    )
    box_threshold: float = setting(
        0.0,
        "zoom tracker guard: only pixels with probability above it make the next box; 0 (the paper): the "
        "mask's pixels (off in every configuration: docs/design.md, \"Deviations of the CPU configurations "
        'from the paper")',
        ge=0.0,
        lt=1.0,
    )
    box_component: bool = setting(
        False,
        "zoom tracker guard: only the mask's connected components that touch the previous box make the "
        "next box (the largest one when none does) (off everywhere)",
    )
    box_max_growth: float = setting(
        0.0,
        "zoom tracker guard: the box's width and height grow by at most this factor per frame; 0: no cap "
        "(the paper) (off everywhere; `cpu` at 1.15: development videos -0.4 and -2.4 J at fine-tune seeds "
        "0 and 1, the mask spills inside the capped crop; docs/experiments.md, E47)",
        unit="x",
        ge=1.0,
        off=0.0,
    )
    box_max_shrink: float = setting(
        0.0,
        "zoom tracker guard: the box's width and height shrink by at most this factor per frame (a mask "
        "thinning onto a part keeps the crop on the object); 0: no cap (the paper) (off everywhere)",
        unit="x",
        ge=1.0,
        off=0.0,
    )
    box_area_jump: float = setting(
        0.0,
        "zoom tracker guard: a frame whose box pixels cover more than this factor of the last accepted "
        "frame's is rejected and the previous box kept; 0: off (the paper); after 3 rejections in a row "
        "the next frame is accepted (off everywhere)",
        unit="x",
        gt=1.0,
        off=0.0,
    )
    flow_weight: float = setting(
        0.0,
        "zoom tracker: share of each frame's probability that is the previous frame's final probability "
        "carried by optical flow (`lsevos.video.propagation`); below 0.5, so motion alone never makes a "
        "pixel foreground; 0: off (the paper)",
        ge=0.0,
        lt=0.5,
    )
    connected_object: bool = setting(
        False,
        "zoom tracker: the mask keeps only the connected components that belong to the object "
        "(`lsevos/video/components.py`): in the first frame those with at least half of their pixels in "
        "the user's box (and the one holding most of the box), then those that share a pixel with the "
        "previous frame's mask; a component dropped is background in the probability; the 0.6 rule's "
        "first-frame labels (every mode) ignore the box's part of the others; off: every component (the "
        "paper) (`cpu`: true; docs/experiments.md, E29)",
    )
    follow_appearance: bool = setting(
        False,
        "zoom tracker recovery: a CSRT box tracker (OpenCV's contrib modules) follows the object by its "
        "look, kept on the mask's box while the mask is trusted; where the recovery would hold the last "
        "good box (nothing near it, or a spill), it looks near the follower's box and takes what it "
        "re-finds there (`lsevos/video/follower.py`); off: the recovery holds the last good box (the "
        "paper has no recovery) (`cpu`: true; docs/experiments.md, E36)",
    )
    motion_prediction: float = setting(
        0.0,
        "zoom tracker: the next search box is centred where the object would be if it kept this share of "
        "its last shift between two consecutive frames (1: constant velocity); an object that moves more "
        "than the enlarged box allows per frame stays in the crop; 0: off (the paper)",
        ge=0.0,
        le=2.0,
    )
    redetect_below: float = setting(
        0.0,
        "zoom tracker recovery: when the mask's area falls below this share of the largest mask area of "
        "the last `lsevos.video.tracker.REDETECT_WINDOW` (5) frames (or the mask is empty), the whole "
        "frame is predicted (as FP (no zoom) sees it); its components near the last good box replace the "
        "frame's mask and re-seed the box when they cover more than the zoomed mask and at most 1 / this "
        "times that area; when they cover no more than the zoomed mask, the object is as small as the "
        "crop saw it and is followed (confirmed); when they cover nothing or more than the cap (a spill), "
        "the next crop is made from the last good box instead of the collapsed mask (held); `boxes.json` "
        'lists the frames under "recovery"; 0: off (the paper) (`cpu`: 0.3; docs/design.md, '
        '"Recovery of a collapsed zoom box")',
        ge=0.0,
        lt=1.0,
    )
    saliency_weight: float = setting(
        0.0,
        "weight w of the U^2-Net-p salient-object prior (`lsevos/video/saliency.py`): every prediction "
        "becomes (1 - w) network + w saliency; 0 (the paper): never loaded (`cpu`: 0.7)",
        ge=0.0,
        le=1.0,
    )
    saliency_blend: SaliencyBlend = setting(
        "mean",
        "how the prior and the network are mixed: `mean`, (1 - w) network + w saliency (the network "
        "decides only where the prior lies within (1 - w) / (2w) of 0.5: 0.29..0.71 at w = 0.7); "
        "`log_odds`, the same weighted mean of their log-odds (each clipped to `LOG_ODDS_CLIP` (0.001) "
        "from 0 and 1), so a sure network overrides an unsure prior "
        "(`lsevos.video.saliency.blend`); `log_odds` at the `cpu` weight: development videos -8.3 J at "
        "fine-tune seed 0, a ball lost (docs/experiments.md, E42)",
    )
    network_veto: bool = setting(
        False,
        "with the prior, a connected component of a crop's foreground is kept only where the network "
        "alone calls one of its pixels foreground; the others take the network's probability "
        "(background): the prior draws the outline, the network decides which salient things are the "
        "object (`lsevos.video.saliency.blend`)",
    )
    test_flip: bool = setting(
        False,
        "test-time flip: wherever the network predicts a crop (first-frame labels, scans, recovery), it "
        "predicts its mirror image too and takes the mean of the two probabilities (the second mirrored "
        "back); the prior sees the crop once; off: one prediction (the paper)",
    )
    saliency_size: int = setting(
        320,
        "side of the square input U^2-Net-p sees each crop at (320: its training size; smaller is faster, "
        "about as the square of the side; `cpu`: 224, 0.57x the time of 320)",
        unit="px",
        ge=32,
    )
    fast_kernels: bool = setting(
        False,
        "the network's weights in channels-last layout and Adam's fused step: the same computations in "
        "another floating-point order, training ~10% and inference ~12% faster on a CPU; the rounding "
        "compounds over the fine-tune, so masks move: J on the 10 shared val sequences -0.6, one thin-bike "
        "video -5 (`cpu`: true)",
    )
    prior_reuse_iou: float = setting(
        0.0,
        "scan 2 takes each frame's U^2-Net-p map from scan 1, resampled onto its own crop, where its crop "
        "overlaps scan 1's with at least this IoU (the prior sees only the frame's pixels, which the "
        "retraining does not change; `lsevos.video.saliency.ScanPrior`); elsewhere the prior runs again; 0: "
        "the prior runs on every crop of both scans",
        ge=0.0,
        le=1.0,
    )
    saliency_evidence: bool = setting(
        False,
        "scale `saliency_weight` per video by the prior's IoU with the first-frame labels in the first "
        "search crop (`lsevos.video.saliency.evidence_weight`): a target that is not the salient thing of "
        "its crop leaves the network in charge; the first-frame labels use the plain weight",
    )
    redetect_appearance: bool = setting(
        False,
        "the recovery (`redetect_below`) looks for the object in the whole frame by the mean of FP and the "
        "similarity of each pixel's appearance embedding to the first frame's (its median over the "
        "first-frame labels; `lsevos.video.inference.appearance_finder`) instead of by the scan's own "
        "prediction (the prior included); needs `redetect_below` > 0",
    )
    aug_scale: float = setting(0.15, "crop augmentation: box scale jitter", ge=0.0, lt=1.0)
    aug_shift: float = setting(
        0.1, "crop augmentation: centre shift as a share of the box size", ge=0.0, lt=1.0
    )
    aug_flip: bool = setting(True, "crop augmentation: horizontal flip")
    finetune_context_share: float = setting(
        0.0,
        "share of the first frame's training crops (the fine-tune's, and retraining's with "
        "`retrain_first_frame_share`) cut at a random place of the frame instead of around the search "
        "box (the search box's size, then the same jitter): outside the user's box everything is "
        "background, so the network learns this video's background wherever the search box may drift; "
        "zoom only; 0: off (the paper and every configuration); at 0.5 with the prior (`cpu`): "
        "development videos +0.1 and +8.0 J at fine-tune seeds 0 and 1, check -0.5, unseen folds -0.4 "
        "and -2.4 (docs/experiments.md, E41)",
        ge=0.0,
        le=1.0,
    )
    weight_average: float = setting(
        0.0,
        "fine-tune and retraining end on the mean of the network's weights over this share of their last "
        "steps (tail averaging, as stochastic weight averaging: `torch.optim.swa_utils.AveragedModel`; "
        "normalisation statistics are the last step's) instead of the last step's weights, so that a "
        "video's network depends less on which crops its last few steps drew; 0: off (the paper and "
        "every configuration); at 0.5 (`cpu`): development videos -0.3 and -0.1 J at fine-tune seeds 0 "
        "and 1 (docs/experiments.md, E42)",
        ge=0.0,
        le=1.0,
    )
    finetune_moved_share: float = setting(
        0.0,
        "share of the first frame's training crops (the fine-tune's, and retraining's with "
        "`retrain_first_frame_share`) in which the object (label 1) is moved by up to `MOVE_REACH` (0.3) "
        "of its box onto the frame with its place filled in (inpainting) and labelled background, so the "
        "network learns the object by its appearance rather than by its place in the crop "
        "(`lsevos.video.training.moved_object`); 0: off (the paper and every configuration); at 0.5 "
        "(`cpu`): development videos -0.9 J at fine-tune seed 0 (docs/experiments.md, E42)",
        ge=0.0,
        le=1.0,
    )
    crf_iterations: int = setting(5, "dense CRF iterations", ge=1)
    crf_gaussian_sxy: float = setting(3.0, "dense CRF Gaussian kernel width", unit="px")
    crf_gaussian_weight: float = setting(3.0, "dense CRF Gaussian kernel weight")
    crf_bilateral_sxy: float = setting(50.0, "dense CRF bilateral kernel spatial width", unit="px")
    crf_bilateral_srgb: float = setting(10.0, "dense CRF bilateral kernel colour width", unit="grey levels")
    crf_bilateral_weight: float = setting(5.0, "dense CRF bilateral kernel weight")
    seed: int = setting(0, "seed of the fine-tune/retraining (initialisation, augmentation)")
    device: Device = setting(
        "auto", "where the video commands compute; set by the workflow from the top-level `device`"
    )

    @model_validator(mode="after")
    def _check_needs(self) -> VideoSettings:
        """A switch of `NEEDS` set on while the setting it acts through is off, or of `EXCLUDES` while the
        setting it excludes is on, would change nothing: refused, so that a run does not report it as
        acting."""
        for switch, needed, how in NEEDS:
            if getattr(self, switch) and not getattr(self, needed):
                raise ValueError(
                    f"{switch!r} acts only with {needed!r} > 0 ({how}); set {needed!r} or turn {switch!r} off"
                )
        for switch, other, why in EXCLUDES:
            if getattr(self, switch) and getattr(self, other):
                raise ValueError(
                    f"{switch!r} acts only with {other!r} = 0 ({why}); "
                    f"set {other!r} to 0 or turn {switch!r} off"
                )
        if self.follow_appearance:
            from lsevos.video.follower import check_available

            missing = check_available()
            if missing is not None:
                raise ValueError(f"'follow_appearance' needs {missing}, or turn it off")
        return self

    @classmethod
    def from_dict(cls, values: object, where: str = "video setting") -> VideoSettings:
        """Build from a mapping; unknown keys, wrong types and values out of range raise `ConfigError`
        naming the key (`video setting 'crop_size': ...`)."""
        return super().from_dict(values, where)


def load_settings(text: str | None, defaults: dict[str, Any] | None = None) -> VideoSettings:
    """Parse `--settings`: None (all defaults), inline JSON, or a path to a .json/.yaml file.

    `defaults` replace the dataclass defaults for keys that `text` does not set.
    """
    values = {} if text is None or text.strip() == "" else read_mapping(text, "--settings")
    return VideoSettings.from_dict({**(defaults or {}), **values})
