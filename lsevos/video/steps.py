"""File-to-file steps of the video stage: the single-step commands, thin wrappers around the in-memory
core (`lsevos.video.adaptation`) that read their inputs and write their outputs.

fine-tune (pretrained checkpoint + first box -> FT checkpoint) -> scan 1 (FT -> scan folder) ->
pseudo-labels (scan 1 -> label folder, `lsevos.video.scan_folder.write_scan_labels`) -> retrain (FT +
labels -> RT checkpoint) -> scan 2 (RT -> scan folder). Each reads its checkpoint once. The chain of all
five in one process is `lsevos.video.chain` (`lsevos adapt`); `lsevos segment` and `lsevos.Segmenter` run
the core without these files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from lsevos.data.io import FrameSource, read_mask
from lsevos.errors import ConfigError, DataError
from lsevos.video import adaptation as adaptation_core
from lsevos.video.adaptation import (
    Adaptation,
    FirstFrame,
    Prompt,
    check_model_given,
    kept_prior,
    reuses_prior,
    scan_uses_first_frame,
    track_frames,
)
from lsevos.video.boxes import Box, box_from_mask
from lsevos.video.inference import on_device, torch_device
from lsevos.video.scan_folder import scan_crops, scan_metadata, write_scan
from lsevos.video.settings import VideoSettings
from lsevos.video.training import ScanLabelCrops


def first_box_from_mask(
    path: str | os.PathLike,
    frame_size: tuple[int, int] | None = None,
    frames: str | os.PathLike | None = None,
) -> Box:
    """The tight box of the object in a first-frame mask file (any non-zero id).

    With `frame_size` (H, W) a mask of another size is a `DataError` naming the mask and both sizes.
    """
    mask = read_mask(path)
    if frame_size is not None and tuple(mask.shape) != tuple(frame_size):
        where = f" of {frames}" if frames is not None else ""
        raise DataError(
            f"{path}: the first-frame mask is {mask.shape[1]}x{mask.shape[0]} pixels but the frames{where} "
            f"are {frame_size[1]}x{frame_size[0]} (width x height); give the first frame's mask at the "
            "frames' resolution"
        )
    box = box_from_mask(mask > 0)
    if box is None:
        raise DataError(f"{path}: the first-frame mask is empty; give a mask with the object or use --box")
    return box


# The adaptation `lsevos segment` uses with a model that is not the paper's ResNet-101: the CPU
# configurations' switches (docs/design.md, "Deviations"), since the paper's 20 SGD steps of one crop at
# 2.5e-5 barely move such a model. `--settings` overrides any of them.
CPU_ADAPTATION: dict[str, object] = {
    "optimizer": "adam",
    "epoch_definition": "full_batches",
    "pseudo_ignore_margin": 0.2,
}


def pretraining_defaults(checkpoint: str | os.PathLike, payload: dict | None = None) -> dict[str, object]:
    """Video settings implied by a pretrained checkpoint: those stored in a model file (`make model`);
    else `crop_size` = its pretraining crop, if recorded, and `CPU_ADAPTATION` unless its backbone is the
    paper's ResNet-101.

    `payload`: the checkpoint already loaded (saves reading it again)."""
    from lsevos.train.checkpoint import load_checkpoint
    from lsevos.video.model_file import stored_video_settings

    payload = load_checkpoint(checkpoint) if payload is None else payload
    stored = stored_video_settings(payload)
    if stored is not None:
        return stored
    config = payload.get("config") or {}
    crop = (config.get("settings") or {}).get("crop") if isinstance(config, dict) else None
    defaults: dict[str, object] = {}
    model_config = payload.get("model_config")
    if not (isinstance(model_config, dict) and model_config.get("backbone") == "resnet101"):
        defaults.update(CPU_ADAPTATION)
    if isinstance(crop, int) and not isinstance(crop, bool):
        defaults["crop_size"] = crop
    return defaults


def _load(
    checkpoint: str | os.PathLike, settings: VideoSettings, payload: dict | None = None
) -> torch.nn.Module:
    """The model of `checkpoint` (or of its `payload`, already read) on the settings' device; a stage-1/2
    pretrained model (no trained FP head) is refused."""
    from lsevos.train.checkpoint import model_from_checkpoint, require_fp_head

    payload = require_fp_head(checkpoint, payload)
    return on_device(model_from_checkpoint(payload, checkpoint).eval(), settings)


def _save(
    path: str | os.PathLike,
    model: torch.nn.Module,
    step: int,
    stage: str,
    settings: VideoSettings,
    state: dict | None = None,
    **config: object,
) -> None:
    """Write `model` as a checkpoint (from the CPU, as the steps always wrote it), then put it back on
    the settings' device for the next step."""
    from lsevos.train.checkpoint import save_checkpoint

    save_checkpoint(
        path,
        model.cpu(),
        step=step,
        config={"stage": stage, **config},
        extra={"stage": stage, **(state or {})},
    )
    model.to(torch_device(settings))


def save_finetuned(
    path: str | os.PathLike,
    model: torch.nn.Module,
    first: FirstFrame,
    prompt: Prompt,
    adaptation: Adaptation,
) -> None:
    """The fine-tuned checkpoint; its `extra` keeps the first-frame labels (uint8 tensor [H,W]), their
    search box and frame for retraining (`retrain_first_frame_share`)."""
    state = {"first_frame_labels": torch.from_numpy(first.labels), "first_frame_search": list(first.search)}
    if first.index:
        state["first_frame_index"] = first.index
    settings = adaptation.settings
    _save(
        path,
        model,
        settings.finetune_epochs,
        "finetune",
        settings,
        state=state,
        family=adaptation.family,
        first_box=list(prompt.box),
        video=settings.to_dict(),
    )


def save_retrained(
    path: str | os.PathLike, model: torch.nn.Module, steps: int, adaptation: Adaptation
) -> None:
    settings = adaptation.settings
    _save(path, model, steps, "retrain", settings, family=adaptation.family, video=settings.to_dict())


def finetune(
    frames: str | os.PathLike,
    prompt: Prompt,
    checkpoint: str | os.PathLike,
    adaptation: Adaptation,
    out: str | os.PathLike,
) -> None:
    """Fine-tune `checkpoint` on the prompt's frame of `frames` inside its box; save to `out`. With
    `prompt.labels` (a user's mask of the object) it trains on those instead of labelling the frame."""
    source = FrameSource(frames)
    prompt = prompt.clipped(source)
    model = _load(checkpoint, adaptation.settings)
    first = adaptation_core.finetune(model, source, prompt, adaptation)
    save_finetuned(out, model, first, prompt, adaptation)


def gt_mask_boxes(frames: FrameSource, gt_masks: str | os.PathLike) -> dict[str, Box | None]:
    """The box of every frame's ground-truth mask (Table 1's GT-box mode)."""
    gt_boxes = {}
    for name in frames.names:
        mask_path = Path(gt_masks) / f"{name}.png"
        if not mask_path.is_file():
            raise DataError(f"{mask_path}: missing; --gt-masks needs one mask per frame, named like it")
        gt_boxes[name] = box_from_mask(read_mask(mask_path) > 0)
    return gt_boxes


def scan(
    frames: str | os.PathLike,
    checkpoint: str | os.PathLike | None,
    adaptation: Adaptation,
    out: str | os.PathLike,
    prompt: Prompt | None = None,
    gt_masks: str | os.PathLike | None = None,
    prior_from: str | os.PathLike | None = None,
) -> int:
    """Segment every frame with `checkpoint` into the scan folder `out`, streamed (one frame in memory);
    returns the frame count. With `gt_masks` the scan is Table 1's GT-box mode; otherwise zoom or no-zoom
    by family. `prior_from`: scan 1's folder, when this is scan 2 and `prior_reuse_iou` > 0 (scan 1's
    prior maps are computed again on its search crops, as the chain's scan 2 reuses them). Without a
    `checkpoint` the settings must never run the network (`runs_network`: the prior alone, the workflow's
    `prior` variant); no model is read."""
    check_model_given(checkpoint, adaptation.settings)
    mode = adaptation.mode(gtbox=gt_masks is not None)
    source = FrameSource(frames)
    if mode == "zoom" and prompt is None:
        raise ConfigError("scan: the first frame's box is needed (--box x0,y0,x1,y1 or --first-mask PNG)")
    gt_boxes = None if gt_masks is None else gt_mask_boxes(source, gt_masks)
    earlier = None
    if prior_from is not None:
        if not reuses_prior(adaptation.settings):
            raise ConfigError(
                "scan: --prior-from needs the video settings prior_reuse_iou > 0 and saliency_weight > 0 "
                "(scan 2 reusing scan 1's prior); drop --prior-from or set them"
            )
        earlier = scan_crops(prior_from, source.names)
    from lsevos.train.checkpoint import require_fp_head

    model, first = None, None
    if checkpoint is not None:
        payload = require_fp_head(checkpoint)
        model = _load(checkpoint, adaptation.settings, payload)
        if scan_uses_first_frame(adaptation.settings) and "first_frame_labels" in (
            payload.get("extra") or {}
        ):
            first = first_frame_of(payload, checkpoint, source)
    metadata = {**scan_metadata(adaptation.settings, mode), "family": adaptation.family}
    with tempfile.TemporaryDirectory(prefix="lsevos-prior-") as scratch:
        prior = None if earlier is None else kept_prior(source, adaptation.settings, Path(scratch))
        if prior is not None:
            prior.reuse(earlier)
        tracked = track_frames(model, source, prompt, adaptation, mode, gt_boxes, first, prior)
        results = (result for _, result in tracked)
        return write_scan(results, out, metadata, total=len(source), progress=adaptation.progress)


def first_frame_of(payload: dict, checkpoint: str | os.PathLike, frames: FrameSource) -> FirstFrame:
    """The labels, search box and frame a fine-tuned checkpoint's payload stored (`save_finetuned`)."""
    extra = payload.get("extra") or {}
    if "first_frame_labels" not in extra:
        raise ConfigError(
            f"{checkpoint}: holds no first-frame labels (not written by `lsevos finetune` of this version); "
            "fine-tune again or set retrain_first_frame_share: 0"
        )
    labels = extra["first_frame_labels"].numpy()
    index = int(extra.get("first_frame_index", 0))
    if labels.shape != tuple(frames.size):
        raise DataError(
            f"{checkpoint}: its first-frame labels are {labels.shape}, the first frame of {frames.path} is "
            f"{tuple(frames.size)}; fine-tune on these frames"
        )
    return FirstFrame(index, labels, tuple(extra["first_frame_search"]))


def retrain(
    frames: str | os.PathLike,
    labels: str | os.PathLike,
    checkpoint: str | os.PathLike,
    adaptation: Adaptation,
    out: str | os.PathLike,
) -> None:
    """Retrain `checkpoint` on every frame with its pseudo-labels (a label folder); save to `out`.

    With `retrain_first_frame_share` > 0 that share of the samples is the first frame with the labels
    the fine-tune stored in `checkpoint` (read once, with the model).
    """
    from lsevos.train.checkpoint import require_fp_head

    payload = require_fp_head(checkpoint)
    model = _load(checkpoint, adaptation.settings, payload)
    crops = ScanLabelCrops(frames, labels, adaptation.settings)
    source = crops.source
    first = lambda: first_frame_of(payload, checkpoint, source)  # noqa: E731  (read only when needed)
    steps = adaptation_core.retrain(model, crops, first, source, adaptation)
    save_retrained(out, model, steps, adaptation)
