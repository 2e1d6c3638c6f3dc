"""Settings of the video stage (tracking, adaptation, CRF) with defaults and strict checking.

The workflow passes the `video` block of the configuration as JSON; users may pass a JSON or YAML file.
Every key has a default, so an empty block is valid. Unknown or ill-typed keys raise `ConfigError`
naming the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lsevos.devices import DEVICES
from lsevos.errors import ConfigError
from lsevos.settings_text import read_mapping

OPTIMIZERS = ("sgd", "adam")
EPOCH_DEFINITIONS = ("frames", "full_batches")


@dataclass(frozen=True)
class VideoSettings:
    """Every knob of the video stage.

    crop_size: side of the square network input; each (enlarged) box is resized to crop_size x crop_size.
        No-zoom (the FP(no-zoom) family): the whole frame keeps its aspect ratio, shorter side = crop_size.
    enlarge: factor a by which the box inferred from mask t is enlarged (around its centre) for frame t+1.
    vanish_growth: extra enlargement per consecutive empty frame while the object is lost.
    threshold: probability above which a pixel is foreground.
    finetune_*: first-frame fine-tune (paper: 20 epochs at lr 2.5e-5).
    retrain_*: retraining on the pseudo-labels of scan 1;
        retrain_first_frame_share: share of the retraining samples that are the first frame with its
        fine-tune labels (0: scan-1 labels only, as in the paper).
    batch: crops per optimisation step (at most; see `epoch_definition`).
    optimizer: "sgd" (the paper configuration: the paper names no optimizer; SGD with `momentum` is that of
        DeepLab, the paper's base, and of the pretraining here) or "adam" (the CPU configurations: a few
        steps move the network further).
    momentum: SGD momentum (unused by Adam).
    weight_decay: L2 weight decay of either optimizer (the paper states none for the video stage: 0).
    epoch_definition: "frames" (the paper's epoch: every training frame exactly once, in steps of up to
        `batch` crops; one first frame -> one step of one crop) or "full_batches" (ceil(frames / batch)
        steps of exactly `batch` crops, the shuffled frames repeated to fill them; one first frame -> one
        step of `batch` differently augmented crops).
    pseudo_fg_threshold: first-frame rule, foreground probability inside the box that counts as object.
    first_frame_grabcut: 0 (the paper's rule) or GrabCut iterations that turn the first-frame rule's
        labels into a full foreground/background labelling (`lsevos.video.pseudo_labels`).
    pseudo_ignore_margin: scan-1 rule, probabilities within this margin of `threshold` are ignored (255);
        0 (the paper): the scan-1 masks are the labels as they are.
    box_threshold, box_component, box_max_growth, box_max_shrink, box_area_jump: the zoom tracker's guards
        against a box
        that runs away with a spilled mask (`lsevos.video.tracker.SearchBoxes`); all off (0 / false) in
        the paper configuration, where the next box is the enlarged box of the whole mask.
    redetect_below: zoom tracker recovery: when the mask's area falls below this share of the largest mask
        area of the last `lsevos.video.tracker.REDETECT_WINDOW` frames (or the mask is empty), the whole
        frame is predicted and the object re-found there near the last good box (at most 1 / this times
        that area); seen there no larger than in the crop, it is followed as it is (confirmed); else the
        last good box is held (0: off, the paper; else 0 < x < 1).
    saliency_weight: weight w of the U^2-Net-p salient-object prior mixed into every prediction,
        (1 - w) * network + w * saliency (`lsevos.video.saliency`); 0 (the paper) never loads it.
    aug_scale, aug_shift, aug_flip: crop augmentation (box scale jitter, centre shift as a share of the
        box size, horizontal flip).
    crf_*: dense CRF (iterations, Gaussian and bilateral kernel widths and weights).
    device: "auto" (CUDA when available), "cpu" or "cuda".
    """

    crop_size: int = 321
    enlarge: float = 1.5
    vanish_growth: float = 1.5
    threshold: float = 0.5
    finetune_epochs: int = 20
    finetune_lr: float = 2.5e-5
    retrain_epochs: int = 1
    retrain_lr: float = 2.5e-5
    retrain_first_frame_share: float = 0.0
    batch: int = 4
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    epoch_definition: str = "frames"
    pseudo_fg_threshold: float = 0.6
    first_frame_grabcut: int = 0
    pseudo_ignore_margin: float = 0.0
    box_threshold: float = 0.0
    box_component: bool = False
    box_max_growth: float = 0.0
    box_max_shrink: float = 0.0
    box_area_jump: float = 0.0
    redetect_below: float = 0.0
    saliency_weight: float = 0.0
    aug_scale: float = 0.15
    aug_shift: float = 0.1
    aug_flip: bool = True
    crf_iterations: int = 5
    crf_gaussian_sxy: float = 3.0
    crf_gaussian_weight: float = 3.0
    crf_bilateral_sxy: float = 50.0
    crf_bilateral_srgb: float = 10.0
    crf_bilateral_weight: float = 5.0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        checks = {
            "crop_size": self.crop_size >= 8,
            "enlarge": self.enlarge >= 1.0,
            "vanish_growth": self.vanish_growth >= 1.0,
            "threshold": 0.0 < self.threshold < 1.0,
            "finetune_epochs": self.finetune_epochs >= 0,
            "finetune_lr": self.finetune_lr >= 0.0,
            "retrain_epochs": self.retrain_epochs >= 0,
            "retrain_lr": self.retrain_lr >= 0.0,
            "retrain_first_frame_share": 0.0 <= self.retrain_first_frame_share < 1.0,
            "batch": self.batch >= 1,
            "optimizer": self.optimizer in OPTIMIZERS,
            "momentum": 0.0 <= self.momentum < 1.0,
            "weight_decay": self.weight_decay >= 0.0,
            "epoch_definition": self.epoch_definition in EPOCH_DEFINITIONS,
            "pseudo_fg_threshold": 0.0 < self.pseudo_fg_threshold <= 1.0,
            "first_frame_grabcut": self.first_frame_grabcut >= 0,
            "pseudo_ignore_margin": 0.0 <= self.pseudo_ignore_margin < 0.5,
            "box_threshold": 0.0 <= self.box_threshold < 1.0,
            "box_max_growth": self.box_max_growth == 0.0 or self.box_max_growth >= 1.0,
            "box_max_shrink": self.box_max_shrink == 0.0 or self.box_max_shrink >= 1.0,
            "box_area_jump": self.box_area_jump == 0.0 or self.box_area_jump > 1.0,
            "redetect_below": 0.0 <= self.redetect_below < 1.0,
            "saliency_weight": 0.0 <= self.saliency_weight <= 1.0,
            "aug_scale": 0.0 <= self.aug_scale < 1.0,
            "aug_shift": 0.0 <= self.aug_shift < 1.0,
            "crf_iterations": self.crf_iterations >= 1,
            "device": self.device in DEVICES,
        }
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"video setting {key!r} has an invalid value {getattr(self, key)!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VideoSettings:
        """Build from a mapping; unknown keys and wrong types raise `ConfigError` naming the key."""
        if not isinstance(values, dict):
            raise ConfigError(
                f"video settings must be a mapping of keys to values, got {type(values).__name__}"
            )
        fields = {field.name: field for field in dataclasses.fields(cls)}
        checked: dict[str, Any] = {}
        for key, value in values.items():
            if key not in fields:
                raise ConfigError(
                    f"unknown video setting {key!r}; known settings: {', '.join(sorted(fields))}"
                )
            default = getattr(cls, key)
            checked[key] = _coerce(key, value, type(default))
        return cls(**checked)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(key: str, value: Any, kind: type) -> Any:
    """Accept ints for floats; reject bools posing as numbers and every other mismatch."""
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(value, kind):
        return value
    raise ConfigError(
        f"video setting {key!r} must be of type {kind.__name__}, got {value!r} ({type(value).__name__})"
    )


def load_settings(text: str | None, defaults: dict[str, Any] | None = None) -> VideoSettings:
    """Parse `--settings`: None (all defaults), inline JSON, or a path to a .json/.yaml file.

    `defaults` replace the dataclass defaults for keys that `text` does not set.
    """
    values = {} if text is None or text.strip() == "" else read_mapping(text, "--settings")
    return VideoSettings.from_dict({**(defaults or {}), **values})
