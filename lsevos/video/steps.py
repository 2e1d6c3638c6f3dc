"""File-to-file steps of the video stage and the two-scan adaptation that chains them.

fine-tune (pretrained checkpoint + first box -> FT checkpoint) -> scan 1 (FT -> scan folder) ->
pseudo-labels (scan 1 -> label folder) -> retrain (FT + labels -> RT checkpoint) -> scan 2 (RT -> scan
folder). The static variant stops after scan 1. Every step reads and writes files, so the workflow runs
them as separate rules and `lsevos segment` runs them in a row.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from lsevos.data.io import FrameSource, read_mask
from lsevos.errors import ConfigError, DataError
from lsevos.progress import Progress
from lsevos.video.boxes import Box, box_from_mask, clip_box
from lsevos.video.inference import torch_device, video_predictor
from lsevos.video.scan_folder import scan_metadata, write_scan, write_scan_labels
from lsevos.video.settings import VideoSettings
from lsevos.video.tracker import track
from lsevos.video.training import (
    AnchoredCrops,
    FirstFrameCrops,
    ScanLabelCrops,
    finetune_first_frame,
    train_on_crops,
)
from lsevos.video.variants import family, scan_mode


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


def _load(checkpoint: str | os.PathLike, settings: VideoSettings) -> torch.nn.Module:
    """The model of `checkpoint` on the settings' device; a stage-1/2 pretrained model (no trained FP
    head) is refused."""
    from lsevos.train.checkpoint import model_from_checkpoint, require_fp_head

    payload = require_fp_head(checkpoint)
    return model_from_checkpoint(payload, checkpoint).eval().to(torch_device(settings))


def _save(
    path: str | os.PathLike,
    model: torch.nn.Module,
    step: int,
    stage: str,
    state: dict | None = None,
    **config: object,
) -> None:
    from lsevos.train.checkpoint import save_checkpoint

    save_checkpoint(
        path,
        model.cpu(),
        step=step,
        config={"stage": stage, **config},
        extra={"stage": stage, **(state or {})},
    )


def finetune(
    frames: str | os.PathLike,
    first_box: Box,
    checkpoint: str | os.PathLike,
    family_name: str,
    settings: VideoSettings,
    out: str | os.PathLike,
    progress: Progress | None = None,
    first_labels=None,
) -> None:
    """Fine-tune `checkpoint` on the first frame of `frames` inside `first_box`; save to `out`. With
    `first_labels` (uint8 [H,W] in {0,1}: a user's first-frame mask of the object) it trains on those
    instead of labelling the frame itself.

    The checkpoint's `extra` keeps the first-frame labels (uint8 tensor [H,W]) and their search box for
    retraining (`retrain_first_frame_share`).
    """
    chosen = family(family_name)
    source = FrameSource(frames)
    box = clip_box(first_box, source.size)
    model = _load(checkpoint, settings)
    labels, search = finetune_first_frame(
        model, source.read(0), box, settings, chosen.head, chosen.zoom, progress, first_labels
    )
    _save(
        out,
        model,
        settings.finetune_epochs,
        "finetune",
        state={"first_frame_labels": torch.from_numpy(labels), "first_frame_search": list(search)},
        family=family_name,
        first_box=list(box),
        video=settings.to_dict(),
    )


def scan(
    frames: str | os.PathLike,
    checkpoint: str | os.PathLike,
    family_name: str,
    settings: VideoSettings,
    out: str | os.PathLike,
    first_box: Box | None = None,
    gt_masks: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> int:
    """Segment every frame with `checkpoint` into the scan folder `out`; returns the frame count.

    With `gt_masks` the scan is Table 1's GT-box mode; otherwise zoom or no-zoom by family.
    """
    chosen = family(family_name)
    mode = scan_mode(family_name, "gtbox" if gt_masks is not None else "scan")
    source = FrameSource(frames)
    if mode == "zoom":
        if first_box is None:
            raise ConfigError("scan: the first frame's box is needed (--box x0,y0,x1,y1 or --first-mask PNG)")
        first_box = clip_box(first_box, source.size)
    gt_boxes = None
    if gt_masks is not None:
        gt_boxes = {}
        for name in source.names:
            mask_path = Path(gt_masks) / f"{name}.png"
            if not mask_path.is_file():
                raise DataError(f"{mask_path}: missing; --gt-masks needs one mask per frame, named like it")
            gt_boxes[name] = box_from_mask(read_mask(mask_path) > 0)
    predict = video_predictor(_load(checkpoint, settings), chosen.head, settings)
    metadata = {**scan_metadata(settings, mode), "family": family_name}
    results = track(source, predict, first_box, settings, mode, gt_boxes)
    return write_scan(results, out, metadata, total=len(source), progress=progress)


def _first_frame_crops(
    frames: str | os.PathLike, checkpoint: str | os.PathLike, settings: VideoSettings, whole_frame: bool
) -> FirstFrameCrops:
    """The first frame of `frames` with the labels and search box a fine-tuned checkpoint stored
    (`whole_frame`: a no-zoom family's input shape, the frame's aspect ratio)."""
    from lsevos.train.checkpoint import load_checkpoint

    extra = load_checkpoint(checkpoint).get("extra") or {}
    if "first_frame_labels" not in extra:
        raise ConfigError(
            f"{checkpoint}: holds no first-frame labels (not written by `lsevos finetune` of this version); "
            "fine-tune again or set retrain_first_frame_share: 0"
        )
    frame = FrameSource(frames).read(0)
    labels = extra["first_frame_labels"].numpy()
    if labels.shape != frame.shape[:2]:
        raise DataError(
            f"{checkpoint}: its first-frame labels are {labels.shape}, the first frame of {frames} is "
            f"{frame.shape[:2]}; fine-tune on these frames"
        )
    return FirstFrameCrops(frame, labels, tuple(extra["first_frame_search"]), settings, whole_frame)


def retrain(
    frames: str | os.PathLike,
    labels: str | os.PathLike,
    checkpoint: str | os.PathLike,
    family_name: str,
    settings: VideoSettings,
    out: str | os.PathLike,
    progress: Progress | None = None,
) -> None:
    """Retrain `checkpoint` on every frame with its pseudo-labels; save to `out`.

    With `retrain_first_frame_share` > 0 that share of the samples is the first frame with the labels
    the fine-tune stored in `checkpoint`.
    """
    chosen = family(family_name)
    model = _load(checkpoint, settings)
    crops = ScanLabelCrops(frames, labels, settings)
    if settings.retrain_first_frame_share > 0:
        crops = AnchoredCrops(
            crops,
            _first_frame_crops(frames, checkpoint, settings, whole_frame=not chosen.zoom),
            settings.retrain_first_frame_share,
        )
    steps = train_on_crops(
        model,
        crops,
        epochs=settings.retrain_epochs,
        lr=settings.retrain_lr,
        head=chosen.head,
        settings=settings,
        progress=progress,
        stage="retrain",
    )
    _save(out, model, steps, "retrain", family=family_name, video=settings.to_dict())


CHAIN_STEPS = ("finetune", "scan1", "labels", "retrain", "scan2")
"""The two-scan adaptation's steps in order (§5.2): first-frame fine-tune, scan 1, its pseudo-labels,
retraining once, scan 2."""


def run_steps(
    frames: str | os.PathLike,
    first_box: Box,
    checkpoint: str | os.PathLike,
    family_name: str,
    settings: VideoSettings,
    paths: Mapping[str, Path],
    done: Iterable[str] = (),
    last: str = "scan2",
    progress: Progress | None = None,
    first_labels=None,
) -> None:
    """Run the steps of `CHAIN_STEPS` up to `last`, each writing `paths[step]` (two checkpoints, three
    folders) and reading its predecessors' paths; steps in `done` are taken as already written. The one
    home of the chain's order for `two_scan` (`lsevos segment`) and `lsevos.video.chain` (`lsevos adapt`)."""
    done = set(done)
    for step in CHAIN_STEPS[: CHAIN_STEPS.index(last) + 1]:
        if step in done:
            continue
        if step == "finetune":
            finetune(
                frames, first_box, checkpoint, family_name, settings, paths[step], progress, first_labels
            )
        elif step == "scan1":
            scan(frames, paths["finetune"], family_name, settings, paths[step], first_box, progress=progress)
        elif step == "labels":
            margin = settings.pseudo_ignore_margin
            write_scan_labels(paths["scan1"], paths[step], settings.threshold, margin, progress)
        elif step == "retrain":
            retrain(frames, paths["labels"], paths["finetune"], family_name, settings, paths[step], progress)
        else:
            scan(frames, paths["retrain"], family_name, settings, paths[step], first_box, progress=progress)


def two_scan(
    frames: str | os.PathLike,
    first_box: Box,
    checkpoint: str | os.PathLike,
    family_name: str,
    settings: VideoSettings,
    out: str | os.PathLike,
    work_dir: str | os.PathLike,
    static: bool = False,
    progress: Progress | None = None,
    first_labels=None,
) -> Path:
    """Fine-tune, scan 1, pseudo-labels, retrain once, scan 2 into `out` (static: scan 1 into `out`).

    Intermediate checkpoints and folders go to `work_dir`. Returns `out`.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "finetune": work_dir / "finetune.pt",
        "scan1": Path(out) if static else work_dir / "scan1",
        "labels": work_dir / "labels",
        "retrain": work_dir / "retrain.pt",
        "scan2": Path(out),
    }
    last = "scan1" if static else "scan2"
    run_steps(frames, first_box, checkpoint, family_name, settings, paths, (), last, progress, first_labels)
    return Path(out)
