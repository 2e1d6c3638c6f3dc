"""The two-scan adaptation of a model to one object of one video, in memory: the core every entry point
calls (`lsevos.Segmenter`, `lsevos segment`, `lsevos adapt`, the single-step commands).

fine-tune on the prompt's frame (`finetune`) -> scan 1 (`scan`) -> pseudo-labels of scan 1 ->
retraining (`retrain`) -> scan 2 (`scan`); `two_scan` runs them in a row, the static variant stops after
scan 1. Nothing here reads or writes a file the user sees: the model is adapted in place (loaded once by
the caller), scan 1's probabilities become the retraining labels without going through PNGs, and a
scan's per-frame maps go to a `Scan` whose pixels live in raw files of a scratch folder
(`lsevos.video.frames.MapStore`), so memory stays flat in the number of frames. Writing a scan folder,
a label folder or a checkpoint is the callers' business (`lsevos.video.scan_folder`, `lsevos.video.steps`,
`lsevos.video.chain`), and they write what the file-to-file steps wrote, byte for byte.

One parameter object (`Adaptation`: family, video settings, progress) goes through every step; an object
is a `Prompt` (its box on a frame, optionally its mask there).

Quantisation: a scan keeps each frame's probability as uint8 round(255 p), the value its `probs/*.png`
holds, and its mask as `p > threshold` of the unquantised p (as the scan folder's `masks/`); the
pseudo-labels are made from the quantised values, exactly as from the PNGs read back.

Objects that appear later (`Prompt.frame` = k > 0): the model is fine-tuned on frame k in the prompt's
box, and each scan tracks from frame k forward to the last frame and from frame k backward to the first
(the backward pass starts again at frame k, whose result the forward pass already gave, and keeps the
frames before it). The retraining sees every frame; its anchor frame (`retrain_first_frame_share`) is
frame k.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lsevos.errors import ConfigError, DataError
from lsevos.progress import Meter, Progress
from lsevos.video.boxes import Box, clip_box, crop_and_resize
from lsevos.video.frames import Frames, MapStore
from lsevos.video.inference import (
    appearance_finder,
    appearance_template,
    make_predictor,
    torch_device,
)
from lsevos.video.pseudo_labels import scan_labels
from lsevos.video.saliency import ScanPrior, blend_options, mix, runs_network
from lsevos.video.settings import VideoSettings
from lsevos.video.tracker import FrameResult, Predict, track
from lsevos.video.training import (
    AnchoredCrops,
    CropSampler,
    FirstFrameCrops,
    LabelledCrops,
    finetune_first_frame,
    input_shape,
    retrain_crop_boxes,
    train_on_crops,
)
from lsevos.video.variants import Family, family, scan_mode


@dataclass(frozen=True)
class Adaptation:
    """How a model is adapted to a video: the variant family (its head and zoom), the video settings and
    where progress lines go. The one parameter object of every step."""

    family: str = "ours"
    settings: VideoSettings = field(default_factory=VideoSettings)
    progress: Progress | None = None

    @property
    def chosen(self) -> Family:
        return family(self.family)

    def mode(self, gtbox: bool = False) -> str:
        """The tracker mode of this family's scans ("zoom" or "nozoom"; "gtbox" for Table 1's scans)."""
        return scan_mode(self.family, "gtbox" if gtbox else "scan")


@dataclass(frozen=True)
class Prompt:
    """One object: its box (x0, y0, x1, y1, inclusive) on frame `frame` (0: the first), optionally its
    mask there (`labels`, uint8 [H,W] in {0,1}: fine-tuned on instead of the first-frame rule)."""

    box: Box
    frame: int = 0
    labels: np.ndarray | None = None

    def clipped(self, frames: Frames) -> Prompt:
        """This prompt with its box clipped to the frames and its frame checked."""
        if not 0 <= self.frame < len(frames):
            raise ConfigError(
                f"an object's box is on frame {self.frame}, but the video has frames 0..{len(frames) - 1}"
            )
        return Prompt(clip_box(self.box, frames.size), self.frame, self.labels)


@dataclass(frozen=True)
class FirstFrame:
    """What the fine-tune trained on: the frame's index, its labels uint8 [H,W] in {0,1,255} and the search
    box its crops were cut around (kept for the retraining's anchor frame)."""

    index: int
    labels: np.ndarray
    search: Box


def finetune(model: torch.nn.Module, frames: Frames, prompt: Prompt, adaptation: Adaptation) -> FirstFrame:
    """Fine-tune `model` in place on the prompt's frame (`lsevos.video.training.finetune_first_frame`)."""
    prompt = prompt.clipped(frames)
    chosen = adaptation.chosen
    labels, search = finetune_first_frame(
        model,
        frames.read(prompt.frame),
        prompt.box,
        adaptation.settings,
        chosen.head,
        chosen.zoom,
        adaptation.progress,
        prompt.labels,
    )
    return FirstFrame(prompt.frame, labels, search)


class Scan:
    """One scan of a video: per frame the quantised probability and the mask (`MapStore`s in `folder`),
    the object box, the search box and what the tracker's recovery did; `metadata` is the scan folder's
    (mode, enlarge, crop size, threshold, family)."""

    def __init__(self, names: list[str], size: tuple[int, int], folder: Path, metadata: dict):
        folder.mkdir(parents=True, exist_ok=True)
        self.names, self.size, self.metadata = list(names), tuple(size), metadata
        self.probs = MapStore(folder / "probs.u8", len(names), size)
        self.masks = MapStore(folder / "masks.u8", len(names), size)
        self.object_boxes: dict[str, Box | None] = {}
        self.search: dict[str, Box | None] = {}
        self.recovery: dict[str, str] = {}

    def put(self, index: int, result: FrameResult) -> None:
        from lsevos.video.scan_folder import probability_to_png

        self.probs.write(index, probability_to_png(result.prob))
        self.masks.write(index, result.mask)
        self.object_boxes[result.name] = result.object_box
        self.search[result.name] = result.search_box
        if result.recovery:
            self.recovery[result.name] = result.recovery

    def probability(self, index: int) -> np.ndarray:
        """Frame `index`'s probability float32 [H,W], as read back from its `probs/*.png`."""
        return self.probs.read(index).astype(np.float32) / 255.0

    def results(self) -> Iterator[FrameResult]:
        """The frames in order as `FrameResult`s (probability quantised as in the PNG)."""
        for index, name in enumerate(self.names):
            yield FrameResult(
                name,
                self.search[name],
                self.object_boxes[name],
                self.probability(index),
                self.masks.read(index),
                self.recovery.get(name, ""),
            )

    def labels(self, index: int, settings: VideoSettings) -> np.ndarray:
        """The pseudo-labels of frame `index` (`lsevos.video.pseudo_labels.scan_labels`)."""
        return scan_labels(self.probability(index), settings.threshold, settings.pseudo_ignore_margin)

    def crops(self, frames: Frames, settings: VideoSettings) -> LabelledCrops:
        """Retraining samples: every frame with its pseudo-labels, cropped where this scan searched it."""
        boxes = retrain_crop_boxes(
            self.names,
            self.search,
            self.object_boxes,
            self.recovery,
            settings.enlarge,
            self.size,
        )
        return LabelledCrops(
            frames,
            lambda index: self.labels(index, settings),
            boxes,
            settings,
            self.metadata.get("mode") == "nozoom",
            lambda index: f"scan-1 labels of frame {self.names[index]}",
        )


def scan_uses_first_frame(settings: VideoSettings) -> bool:
    """Whether a scan's predictors read the fine-tune's frame and labels (`scan_predictors`)."""
    evidence = settings.saliency_weight > 0 and settings.saliency_evidence
    return evidence or settings.redetect_appearance


def check_model_given(model: object | None, settings: VideoSettings) -> None:
    """Refuse a scan without a model (`model`: a network or a checkpoint path, or None) whose settings
    run the network (`runs_network`); only the prior alone scans without one."""
    if model is None and runs_network(settings):
        raise ConfigError(
            "a checkpoint (--checkpoint) is needed: these video settings run the network (only the prior "
            "alone, lsevos.video.variants.PRIOR_ALONE, scans without a model)"
        )


def scan_predictors(
    model: torch.nn.Module | None,
    frames: Frames,
    adaptation: Adaptation,
    first: FirstFrame | None,
    prior: ScanPrior | None = None,
) -> tuple[Predict, Predict | None, ScanPrior | None]:
    """The scan's predictor, the recovery's re-find predictor (None: the scan's own) and the prior the
    tracker mixes into each search crop itself (None: the predictor mixes it in).

    What the fine-tune's frame and labels (`first`) tell, when the settings ask for it: the prior's
    weight scaled by its IoU with the labels in the first search crop (`saliency_evidence`,
    `lsevos.video.saliency.evidence_weight`), and the appearance template the recovery looks for
    (`redetect_appearance`, `lsevos.video.inference.appearance_finder`). With a `prior` (scan 1's maps
    kept for scan 2, `prior_reuse_iou`) and a weight > 0, the predictor is the network alone, the prior
    gets the weight, and the recovery keeps the plain mixture. Without a `model` (settings that never
    run the network, `runs_network`: the prior alone), the network's map is zeros that nothing reads."""
    settings, head = adaptation.settings, adaptation.chosen.head
    check_model_given(model, settings)
    device = torch_device(settings)
    evidence = first is not None and settings.saliency_weight > 0 and settings.saliency_evidence
    appearance = first is not None and settings.redetect_appearance
    weight, refind = settings.saliency_weight, None
    if evidence or appearance:
        shape = input_shape(frames.size, settings, whole_frame=not adaptation.chosen.zoom)
        crop = crop_and_resize(frames.read(first.index), first.search, shape)
        labels = crop_and_resize(first.labels, first.search, shape, nearest=True)
        if evidence:
            from lsevos.video.saliency import evidence_weight

            weight = evidence_weight(settings.saliency_weight, crop, labels, size=settings.saliency_size)
            if adaptation.progress is not None:
                adaptation.progress(
                    f"scan: salient-object prior weight {weight:.2f} (its IoU with the first-frame labels "
                    f"x {settings.saliency_weight})"
                )
        if appearance:
            refind = appearance_finder(model, appearance_template(model, crop, labels, device), device)
    network = unread_network if model is None else make_predictor(model, head, device, settings.test_flip)
    predict = mix(network, weight, size=settings.saliency_size, **blend_options(settings))
    if prior is None or weight <= 0.0:
        return predict, refind, None
    prior.weight = weight
    return network, refind or predict, prior


def unread_network(crop: np.ndarray) -> np.ndarray:
    """The network's map of a scan without a model: zeros, which a blend of the prior alone (weight 1,
    no veto) multiplies by 0."""
    return np.zeros(crop.shape[:2], dtype=np.float32)


def track_frames(
    model: torch.nn.Module | None,
    frames: Frames,
    prompt: Prompt | None,
    adaptation: Adaptation,
    mode: str | None = None,
    gt_boxes: dict[str, Box | None] | None = None,
    first: FirstFrame | None = None,
    prior: ScanPrior | None = None,
) -> Iterator[tuple[int, FrameResult]]:
    """The tracker over `frames` with `model`'s predictor: yields (frame index, result) one frame at a
    time, in the prompt frame's order (module docstring), nothing kept. `mode`: the family's by default;
    `first`: what the fine-tune trained on, `prior`: the saliency kept between scans (`scan_predictors`)."""
    mode = adaptation.mode() if mode is None else mode
    predict, refind, prior = scan_predictors(model, frames, adaptation, first, prior)
    settings = adaptation.settings
    if prompt is None or prompt.frame == 0:
        box = None if prompt is None else clip_box(prompt.box, frames.size)
        yield from enumerate(track(frames, predict, box, settings, mode, gt_boxes, refind, prior))
        return
    prompt = prompt.clipped(frames)
    for direction in (range(prompt.frame, len(frames)), range(prompt.frame, -1, -1)):
        pairs = ((frames.names[index], frames.read(index)) for index in direction)
        results = track(pairs, predict, prompt.box, settings, mode, gt_boxes, refind, prior)
        for index, result in zip(direction, results, strict=True):
            if direction.step > 0 or index != prompt.frame:
                yield index, result


def scan(
    model: torch.nn.Module | None,
    frames: Frames,
    prompt: Prompt | None,
    adaptation: Adaptation,
    folder: Path,
    stage: str = "scan",
    first: FirstFrame | None = None,
    prior: ScanPrior | None = None,
) -> Scan:
    """Segment every frame with `model` into a `Scan` whose maps live in `folder` (`first`: what the
    fine-tune trained on, `prior`: the saliency kept between scans, `scan_predictors`)."""
    from lsevos.video.scan_folder import scan_metadata

    mode = adaptation.mode()
    if mode == "zoom" and prompt is None:
        raise ConfigError("a scan needs the object's box (a prompt)")
    metadata = {**scan_metadata(adaptation.settings, mode), "family": adaptation.family}
    result = Scan(frames.names, frames.size, folder, metadata)
    progress = adaptation.progress
    meter = None if progress is None else Meter(len(frames), stage, "frame", progress)
    started = time.perf_counter()
    tracked = track_frames(model, frames, prompt, adaptation, mode, first=first, prior=prior)
    for index, frame_result in tracked:
        result.put(index, frame_result)
        if meter is not None:
            box = None if frame_result.object_box is None else list(frame_result.object_box)
            meter.update(1, f"box {box}")
    if len(result.object_boxes) != len(frames):
        raise DataError(f"{stage}: {len(result.object_boxes)} of {len(frames)} frames were segmented")
    if meter is not None:
        meter.close(summary=False)
        seconds = time.perf_counter() - started
        rate = len(frames) / max(seconds, 1e-9)
        reused = "" if prior is None else prior.summary()
        progress(f"{stage}: {len(frames)} frames in {seconds:.1f} s ({rate:.1f} frames/s{reused})")
    return result


def retrain(
    model: torch.nn.Module,
    crops: CropSampler,
    first: FirstFrame | Callable[[], FirstFrame] | None,
    frames: Frames,
    adaptation: Adaptation,
) -> int:
    """Retrain `model` in place on the pseudo-labelled `crops` (`Scan.crops`, or a label folder's
    `ScanLabelCrops`); with `retrain_first_frame_share` > 0 that share of the samples is the fine-tune's
    frame with its labels (`first`, or a function giving it). Returns the number of steps."""
    settings = adaptation.settings
    if settings.retrain_first_frame_share > 0:
        first = first() if callable(first) else first
        if first is None:
            raise ConfigError("retraining with retrain_first_frame_share > 0 needs the fine-tune's labels")
        if first.labels.shape != tuple(frames.size):
            raise DataError(
                f"the fine-tune's labels are {first.labels.shape}, the frames are {tuple(frames.size)}; "
                "fine-tune on these frames"
            )
        anchor = FirstFrameCrops(
            frames.read(first.index), first.labels, first.search, settings, not adaptation.chosen.zoom
        )
        crops = AnchoredCrops(crops, anchor, settings.retrain_first_frame_share)
    return train_on_crops(
        model,
        crops,
        epochs=settings.retrain_epochs,
        lr=settings.retrain_lr,
        head=adaptation.chosen.head,
        settings=settings,
        progress=adaptation.progress,
        stage="retrain",
    )


def two_scan(
    model: torch.nn.Module | None,
    frames: Frames,
    prompt: Prompt,
    adaptation: Adaptation,
    scratch: Path,
    static: bool = False,
) -> Scan:
    """Fine-tune, scan 1, pseudo-labels, retrain once, scan 2 (static: stop after scan 1); `model` is
    adapted in place, the scans' maps live under `scratch`. Returns the last scan. Settings whose scans
    never run the network (`runs_network`) give scan 1 alone, without a fine-tune: training a network that
    nothing reads would change no mask (`model` may then be None, `check_model_given`)."""
    check_model_given(model, adaptation.settings)
    if not runs_network(adaptation.settings):
        if adaptation.progress is not None:
            adaptation.progress("the prior alone segments every crop: one scan, no fine-tune, no retraining")
        return scan(model, frames, prompt, adaptation, scratch / "scan1", "scan 1")
    first = finetune(model, frames, prompt, adaptation)
    prior = None if static else kept_prior(frames, adaptation.settings, scratch / "prior")
    scan1 = scan(model, frames, prompt, adaptation, scratch / "scan1", "scan 1", first, prior)
    if static:
        return scan1
    retrain(model, scan1.crops(frames, adaptation.settings), first, frames, adaptation)
    if prior is None:
        return scan(model, frames, prompt, adaptation, scratch / "scan2", "scan 2", first)
    prior.reuse(scan1.search)
    try:
        return scan(model, frames, prompt, adaptation, scratch / "scan2", "scan 2", first, prior)
    finally:
        prior.discard()


def reuses_prior(settings: VideoSettings) -> bool:
    """Whether scan 2 takes scan 1's prior maps: `prior_reuse_iou` > 0 with the prior on."""
    return settings.prior_reuse_iou > 0.0 and settings.saliency_weight > 0.0


def kept_prior(frames: Frames, settings: VideoSettings, folder: Path) -> ScanPrior | None:
    """The `ScanPrior` that keeps scan 1's saliency for scan 2 when the settings ask for it
    (`reuses_prior`), else None."""
    if not reuses_prior(settings):
        return None
    return ScanPrior(
        settings.saliency_weight,
        frames.names,
        folder,
        settings.prior_reuse_iou,
        size=settings.saliency_size,
        **blend_options(settings),
    )
