"""Adapting an `LSENet` to one video: first-frame fine-tune and retraining on scan-1 pseudo-labels.

Training samples are augmented crops: the crop box (a frame's search box; a frame the tracker's recovery
re-found in the whole frame: its object box enlarged) is jittered in scale
(+-`aug_scale`) and centre (+-`aug_shift` of its size), cropped and resized to crop x crop (labels with
nearest neighbour), and flipped horizontally with probability 1/2. Without zoom (the FP(no-zoom) family:
the search box is the whole frame) crops keep the frame's aspect ratio instead, shorter side = crop
(`lsevos.video.boxes.whole_frame_shape`), as the no-zoom scan shows the network. Frames and labels are
read from disk per sample, so retraining on a long video holds one batch in memory.

Epochs (`epoch_definition`): "frames" (the paper configuration) visits every training frame exactly once
per epoch in steps of up to `batch` crops, so the first-frame fine-tune's epoch is one step of one crop;
"full_batches" (the CPU configurations) makes ceil(frames / batch) steps of exactly `batch` crops, the
shuffled frames repeated to fill the last one (a single first frame: `batch` augmentations per step).
Optimizer (`optimizer`): SGD with `momentum` (the paper configuration) or Adam, both with `weight_decay`.

Loss (`lsevos.losses.foreground_loss`, label 255 ignored) on the family's head: `fp` trains the FP
output; `fused` trains both the FP output and the fused output. The network computes only the heads the
loss or the prediction reads (`lsevos.model.fusion.outputs_needed`: FP, or FP and LSE). The device, the
crop tensors and the predictor are the scan's (`lsevos.video.inference`).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from lsevos.data.io import FrameSource, read_mask
from lsevos.devices import return_freed_memory
from lsevos.errors import ConfigError, DataError
from lsevos.progress import Meter, Progress
from lsevos.video.boxes import (
    Box,
    crop_and_resize,
    enlarge_box,
    whole_frame_shape,
    whole_image_box,
)
from lsevos.video.inference import crops_to_tensor, torch_device, video_predictor
from lsevos.video.pseudo_labels import first_frame_labels, grabcut_first_frame_labels
from lsevos.video.scan_folder import read_boxes
from lsevos.video.settings import VideoSettings
from lsevos.video.tracker import predict_in


class CropSampler(Protocol):
    """Training frames: `len()` and `sample(i, rng) -> (crop uint8 [s,s,3], labels uint8 [s,s])`."""

    def __len__(self) -> int: ...

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


def jitter_box(
    box: Box, image_size: tuple[int, int], rng: np.random.Generator, scale: float, shift: float
) -> Box:
    """Randomly rescale (1 +- scale) and shift (+- shift x size) a box, clipped to the image."""
    height, width = image_size
    x0, y0, x1, y1 = box
    box_w, box_h = x1 + 1 - x0, y1 + 1 - y0
    factor = 1.0 + rng.uniform(-scale, scale)
    dx, dy = rng.uniform(-shift, shift) * box_w, rng.uniform(-shift, shift) * box_h
    half_w, half_h = max(1.0, factor * box_w / 2), max(1.0, factor * box_h / 2)
    centre_x, centre_y = (x0 + x1 + 1) / 2 + dx, (y0 + y1 + 1) / 2 + dy
    new_x0 = min(width - 1, max(0, math.floor(centre_x - half_w)))
    new_y0 = min(height - 1, max(0, math.floor(centre_y - half_h)))
    new_x1 = max(new_x0, min(width - 1, math.ceil(centre_x + half_w) - 1))
    new_y1 = max(new_y0, min(height - 1, math.ceil(centre_y + half_h) - 1))
    return new_x0, new_y0, new_x1, new_y1


def input_shape(
    frame_size: tuple[int, int], settings: VideoSettings, whole_frame: bool, training: bool = False
) -> int | tuple[int, int]:
    """The network input of a crop: crop x crop, or the whole frame's aspect (shorter side crop) without
    zoom; `training`: the fine-tune's and retraining's side (`train_crop_size`, 0: `crop_size`)."""
    side = (settings.train_crop_size or settings.crop_size) if training else settings.crop_size
    return whole_frame_shape(frame_size, side) if whole_frame else side


def augmented_crop(
    frame: np.ndarray,
    labels: np.ndarray,
    box: Box,
    settings: VideoSettings,
    rng: np.random.Generator,
    whole_frame: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """frame [H,W,3], labels [H,W], crop box -> augmented crop [s,s,3] and its labels [s,s]
    ([h,w] of `whole_frame_shape` for `whole_frame`, the no-zoom input)."""
    jittered = jitter_box(box, frame.shape[:2], rng, settings.aug_scale, settings.aug_shift)
    shape = input_shape(frame.shape[:2], settings, whole_frame, training=True)
    crop = crop_and_resize(frame, jittered, shape)
    label_crop = crop_and_resize(labels, jittered, shape, nearest=True)
    if settings.aug_flip and rng.random() < 0.5:
        crop, label_crop = crop[:, ::-1], label_crop[:, ::-1]
    return np.ascontiguousarray(crop), np.ascontiguousarray(label_crop)


class FirstFrameCrops:
    """The first frame with its labels [H,W], cropped around its search box (`whole_frame`: the no-zoom
    input shape, the frame's aspect ratio)."""

    def __init__(
        self,
        frame: np.ndarray,
        labels: np.ndarray,
        box: Box,
        settings: VideoSettings,
        whole_frame: bool = False,
    ):
        self.frame, self.labels, self.box, self.settings = frame, labels, box, settings
        self.whole_frame = whole_frame
        self.vacated: tuple[np.ndarray, np.ndarray] | None = None  # `vacated_frame`, made when first needed

    def __len__(self) -> int:
        return 1

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        box, frame, labels = self.box, self.frame, self.labels
        share = self.settings.finetune_context_share
        if share > 0 and not self.whole_frame and rng.random() < share:
            box = context_box(box, self.frame.shape[:2], rng)
        moved = self.settings.finetune_moved_share
        if moved > 0 and rng.random() < moved:
            if self.vacated is None:
                self.vacated = vacated_frame(self.frame, self.labels)
            frame, labels = moved_object(self.frame, self.labels, *self.vacated, rng)
        return augmented_crop(frame, labels, box, self.settings, rng, self.whole_frame)


MIN_LABELLED_SHARE = 0.01
"""`finetune_first_frame` warns when the first-frame rule labels less of the box than this as foreground."""
MOVE_REACH = 0.3  # `moved_object`: the object moves by up to this share of its box's width and height
VACATE_MARGIN = 3  # `vacated_frame`: pixels around the object filled in with it; the inpainting radius


def vacated_frame(frame: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first frame without its object: the object's pixels (label 1, grown by `VACATE_MARGIN`) filled
    in from their surroundings (OpenCV's Telea inpainting), and the labels with that region background
    (0). For `moved_object`."""
    import cv2

    size = 2 * VACATE_MARGIN + 1
    hole = cv2.dilate((labels == 1).astype(np.uint8), np.ones((size, size), np.uint8))
    background = cv2.inpaint(np.ascontiguousarray(frame), hole, VACATE_MARGIN, cv2.INPAINT_TELEA)
    return background, np.where(hole > 0, 0, labels).astype(np.uint8)


def moved_object(
    frame: np.ndarray,
    labels: np.ndarray,
    background: np.ndarray,
    vacated: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The first frame with its object (label 1) moved by a random offset of up to `MOVE_REACH` of its box
    in each direction onto the `vacated_frame` (`background`, `vacated` labels): the object's pixels are
    pasted at the new place and labelled 1, where it was is background. A network fine-tuned on such
    frames learns the object by its appearance rather than by where it stands in the crop, and learns
    the place it leaves as background (`finetune_moved_share`). Labels without an object: the frame and
    labels as they are, nothing drawn."""
    ys, xs = np.nonzero(labels == 1)
    if len(ys) == 0:
        return frame, labels
    height, width = labels.shape
    dx = int(round(rng.uniform(-MOVE_REACH, MOVE_REACH) * (xs.max() + 1 - xs.min())))
    dy = int(round(rng.uniform(-MOVE_REACH, MOVE_REACH) * (ys.max() + 1 - ys.min())))
    inside = (xs + dx >= 0) & (xs + dx < width) & (ys + dy >= 0) & (ys + dy < height)
    ys, xs = ys[inside], xs[inside]
    image, moved = background.copy(), vacated.copy()
    image[ys + dy, xs + dx] = frame[ys, xs]
    moved[ys + dy, xs + dx] = 1
    return image, moved


def context_box(box: Box, image_size: tuple[int, int], rng: np.random.Generator) -> Box:
    """A box of `box`'s size (clipped to the image) at a uniformly random place inside the image
    (`finetune_context_share`)."""
    height, width = image_size
    w = min(box[2] - box[0] + 1, width)
    h = min(box[3] - box[1] + 1, height)
    x0 = int(rng.integers(0, width - w + 1))
    y0 = int(rng.integers(0, height - h + 1))
    return (x0, y0, x0 + w - 1, y0 + h - 1)


def retrain_crop_boxes(
    names: list[str],
    search: dict,
    object_boxes: dict,
    recovery: dict,
    enlarge: float,
    image_size: tuple[int, int],
) -> list:
    """Where retraining crops each frame: the scan's search box of that frame (None: the whole frame), or,
    for a frame the zoom tracker's recovery re-found in the whole frame (`lsevos.video.tracker`,
    "recovery"), its object box enlarged, as a zoom crop."""
    return [
        enlarge_box(tuple(object_boxes[name]), enlarge, image_size)
        if recovery.get(name) == "redetected" and object_boxes.get(name)
        else search.get(name)
        for name in names
    ]


class LabelledCrops:
    """Every frame of a video with its pseudo-labels (`labels(i) -> uint8 [H,W]`), cropped around its box
    of `retrain_crop_boxes` (at the frame's aspect ratio after a no-zoom scan, as that scan's input).
    Frames and labels are read per sample, so a long video holds one batch in memory."""

    def __init__(self, frames, labels, boxes: list, settings: VideoSettings, whole_frame: bool, where):
        self.source, self.labels, self.boxes = frames, labels, boxes
        self.settings, self.whole_frame, self.where = settings, whole_frame, where
        self.names = frames.names

    def __len__(self) -> int:
        return len(self.names)

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        frame = self.source.read(index)
        labels = self.labels(index)
        if labels.shape != frame.shape[:2]:
            raise DataError(
                f"{self.where(index)}: size {labels.shape} differs from its frame's "
                f"{frame.shape[:2]}; re-run the pseudo-labels on a scan of these frames"
            )
        box = self.boxes[index]
        box = whole_image_box(frame.shape[:2]) if box is None else tuple(box)
        return augmented_crop(frame, labels, box, self.settings, rng, self.whole_frame)


class ScanLabelCrops(LabelledCrops):
    """`LabelledCrops` of a frame folder (or video) and a label folder (`lsevos pseudo-labels`), whose
    `boxes.json` (the scan's) gives the crop boxes."""

    def __init__(self, frames: str | os.PathLike, label_dir: str | os.PathLike, settings: VideoSettings):
        source = FrameSource(frames)
        self.label_dir = Path(label_dir)
        boxes = read_boxes(self.label_dir)
        names = source.names
        missing = [name for name in names if not (self.label_dir / f"{name}.png").is_file()]
        if missing:
            raise DataError(
                f"{self.label_dir}: no pseudo-label for frames {missing[:5]}; run `lsevos pseudo-labels` "
                "on a scan of the same frames"
            )
        crop_boxes = retrain_crop_boxes(
            names,
            boxes.get("search", {}),
            boxes.get("frames", {}),
            boxes.get("recovery", {}),
            settings.enlarge,
            tuple(boxes.get("image_size", ())),
        )
        super().__init__(
            source,
            lambda index: read_mask(self.label_dir / f"{names[index]}.png"),
            crop_boxes,
            settings,
            boxes.get("mode") == "nozoom",
            lambda index: f"{self.label_dir / names[index]}.png",
        )


class AnchoredCrops:
    """Scan-label crops plus the first frame with its fine-tune labels as `share` of all samples: retraining
    keeps seeing the one frame whose labels come from the user's box instead of from the scan."""

    def __init__(self, scan: CropSampler, first: CropSampler, share: float):
        if not 0.0 <= share < 1.0:
            raise ConfigError(f"first-frame share must be in [0, 1), got {share}")
        self.scan, self.first = scan, first
        self.first_count = round(len(scan) * share / (1.0 - share))

    def __len__(self) -> int:
        return len(self.scan) + self.first_count

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if index < len(self.scan):
            return self.scan.sample(index, rng)
        return self.first.sample(0, rng)


def head_loss(output, labels: torch.Tensor, head: str, tightness: float = 0.0) -> torch.Tensor:
    """Foreground loss of the `fp` head, or of both the FP and the fused output for `fused` (`output`:
    an `LSEOutput` with at least the outputs `outputs_needed(head)`); with `tightness` > 0, plus that
    weight times the box-tightness loss of each (`lsevos.losses.tightness_loss`, `box_tightness`)."""
    from lsevos.losses import foreground_loss, tightness_loss
    from lsevos.model.fusion import foreground_probability

    def terms(prediction: torch.Tensor, from_logits: bool) -> torch.Tensor:
        loss = foreground_loss(prediction, labels, from_logits)
        if tightness > 0.0:
            loss = loss + tightness * tightness_loss(prediction, labels, from_logits)
        return loss

    loss = terms(output.fg_logit, True)
    if head == "fused":
        loss = loss + terms(foreground_probability(output, "fused"), False)
    return loss


def make_optimizer(
    parameters: list[torch.nn.Parameter], lr: float, settings: VideoSettings
) -> torch.optim.Optimizer:
    """SGD with `momentum` or Adam (`settings.optimizer`), both with `weight_decay`."""
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    if settings.optimizer == "adam":
        fused = True if settings.fast_kernels else None  # one kernel per step instead of ~10 tensor ops
        return torch.optim.Adam(parameters, lr=lr, weight_decay=settings.weight_decay, fused=fused)
    raise ConfigError(f"video setting 'optimizer' has an invalid value {settings.optimizer!r}")


def epoch_batches(count: int, settings: VideoSettings, rng: np.random.Generator) -> list[np.ndarray]:
    """The sample indices of each step of one epoch over `count` samples (see the module docstring):
    "frames": a permutation cut into steps of up to `batch`; "full_batches": the permutation repeated to
    ceil(count / batch) steps of exactly `batch`."""
    order = rng.permutation(count)
    if settings.epoch_definition == "full_batches":
        order = np.resize(order, math.ceil(count / settings.batch) * settings.batch)
    return [order[first : first + settings.batch] for first in range(0, len(order), settings.batch)]


def train_on_crops(
    model: torch.nn.Module,
    crops: CropSampler,
    *,
    epochs: int,
    lr: float,
    head: str,
    settings: VideoSettings,
    progress: Progress | None = None,
    stage: str = "adapt",
    tightness: float = 0.0,
) -> int:
    """Train `model` in place for `epochs` passes over `crops` (`epoch_definition`) with the settings'
    `optimizer`; returns the number of steps. `tightness`: the weight of the box-tightness loss
    (`head_loss`), for crops whose labels mark the box as every pixel not background (the first frame)."""
    from lsevos.model.fusion import outputs_needed

    heads = outputs_needed(head)
    device = torch_device(settings)
    model.to(device).train()
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    step = 0
    per_epoch = math.ceil(len(crops) / settings.batch)  # steps of `epoch_batches`, either definition
    steps = epochs * per_epoch
    meter = None if progress is None else Meter(steps, stage, "step", progress)
    average = WeightAverage(steps, settings.weight_average)
    free_memory()
    with frozen(early_parameters(model) if settings.freeze_early_layers else []):
        optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], lr, settings)
        for epoch in range(epochs):
            for indices in epoch_batches(len(crops), settings, rng):
                pairs = [crops.sample(int(index), rng) for index in indices]
                images = crops_to_tensor(np.stack([image for image, _ in pairs]), device)
                labels = torch.from_numpy(np.stack([label for _, label in pairs])).to(device).long()
                loss = head_loss(model(images, heads=heads), labels, head, tightness)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                average.update(model, step)
                if meter is not None:
                    meter.update(1, f"epoch {epoch + 1}/{epochs} loss {loss.item():.4f}")
    if meter is not None:
        meter.close()
    average.apply(model)
    model.eval()
    free_memory()
    return step


class WeightAverage:
    """The mean of a model's parameters over the last `share` of `steps` optimisation steps (at least
    one step when `share` > 0), kept by `torch.optim.swa_utils.AveragedModel` (parameters only: the
    buffers, normalisation statistics, stay the model's). `share` 0: nothing is kept or changed."""

    def __init__(self, steps: int, share: float):
        self.first = steps - max(1, round(share * steps)) + 1 if share > 0 and steps > 0 else None
        self.kept: torch.optim.swa_utils.AveragedModel | None = None  # made at the first averaged step

    def update(self, model: torch.nn.Module, step: int) -> None:
        """After step `step` (1-based) of the training."""
        if self.first is None or step < self.first:
            return
        if self.kept is None:
            self.kept = torch.optim.swa_utils.AveragedModel(model)
        self.kept.update_parameters(model)

    def apply(self, model: torch.nn.Module) -> None:
        """Write the mean into `model`'s parameters and drop the copy (nothing when no step was averaged)."""
        if self.kept is None:
            return
        with torch.no_grad():
            for mine, mean in zip(model.parameters(), self.kept.module.parameters(), strict=True):
                mine.copy_(mean)
        self.kept = None


def free_memory() -> None:
    """Around a training run: the prior's kept memory (when a scan has loaded it) and the freed heap go
    back to the system, so the training's peak and the next scan's do not stack on what the last phase
    left (`lsevos segment` on 90 frames of 854x480: 2.0 -> ~1.0 GB peak with the cpu settings)."""
    saliency = sys.modules.get("lsevos.video.saliency")
    if saliency is not None:
        saliency.release_shared()
    return_freed_memory()


def early_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters of the backbone's layers at output stride <= 4 (`Backbone.early_layers`)."""
    from lsevos.model.backbones import Backbone

    backbone = model.backbone
    if not isinstance(backbone, Backbone):
        raise ConfigError("video setting 'freeze_early_layers' needs an LSENet (its backbone's early layers)")
    return [p for layer in backbone.early_layers() for p in layer.parameters()]


@contextlib.contextmanager
def frozen(parameters: list[torch.nn.Parameter]) -> Iterator[None]:
    """`parameters` get no gradient inside the block (their `requires_grad` is restored after it), so the
    backward pass stops above them."""
    before = [p.requires_grad for p in parameters]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(parameters, before, strict=True):
            parameter.requires_grad_(flag)


def finetune_first_frame(
    model: torch.nn.Module,
    frame: np.ndarray,
    box: Box,
    settings: VideoSettings,
    head: str,
    zoom: bool,
    progress: Progress | None = None,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, Box]:
    """Label the first frame with the model itself (first-frame rule) and fine-tune on it; with `labels`
    (uint8 [H,W] in {0,1}, a user's first-frame mask) fine-tune on those instead.

    Returns the labels [H,W] in {0,1,255} it trained on and the search box its crops were cut around.
    Without zoom the network sees the whole frame at its aspect ratio (shorter side crop), as in the
    no-zoom scan, both to label the frame and in the fine-tune's crops.
    """
    device = torch_device(settings)
    model.to(device)
    size = frame.shape[:2]
    search = enlarge_box(box, settings.enlarge, size) if zoom else whole_image_box(size)
    given = labels is not None
    if labels is not None:
        if labels.shape != size:
            raise DataError(f"first-frame labels are {labels.shape}, the frame is {size}")
    else:
        shape = input_shape(size, settings, whole_frame=not zoom)
        prob = predict_in(video_predictor(model, head, settings), frame, search, shape)
        if settings.first_frame_grabcut > 0:
            labels = grabcut_first_frame_labels(
                frame,
                prob,
                box,
                settings.pseudo_fg_threshold,
                settings.first_frame_grabcut,
                settings.first_frame_span,
            )
        else:
            labels = first_frame_labels(prob, box, settings.pseudo_fg_threshold, settings.connected_object)
    if progress is not None:
        share = float((labels[box[1] : box[3] + 1, box[0] : box[2] + 1] == 1).mean())
        progress(f"fine-tune: {share:.1%} of the box labelled foreground")
        if share < MIN_LABELLED_SHARE and not given:
            progress(
                f"fine-tune: warning: the first-frame rule found almost no object in the box {list(box)} "
                f"({share:.1%} of it labelled foreground); the object will likely be lost: give a box around "
                "a visible object, or the object's first-frame mask"
            )
    train_on_crops(
        model,
        FirstFrameCrops(frame, labels, search, settings, whole_frame=not zoom),
        epochs=settings.finetune_epochs,
        lr=settings.finetune_lr,
        head=head,
        settings=settings,
        progress=progress,
        stage="fine-tune",
        tightness=settings.box_tightness,
    )
    return labels, search
