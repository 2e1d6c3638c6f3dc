"""Segment your own video from Python: `Segmenter` (exported as `lsevos.Segmenter`).

    from lsevos import Segmenter
    seg = Segmenter.load("models/lsevos-cpu.pt")                 # read once; device="auto" by default
    result = seg.segment("clip.mp4", boxes={1: (120, 80, 260, 300)})
    for frame in result:                                          # index, name, {id: mask}, {id: box}
        print(frame.index, frame.name, {i: int(m.sum()) for i, m in frame.masks.items()}, frame.boxes)
    result.save("out/", overlay="out.mp4", alpha="cutout/")       # what `lsevos segment` writes

Frames (`lsevos.video.frames.open_frames`): a frame folder, a video file, a list (or array) of RGB
uint8 [H,W,3] frames, or any iterable of them (a generator): no folder on disk is needed; a generator is
read once and kept losslessly in the result's scratch folder, because retraining reads the frames again.

Objects: `boxes={id: (x0, y0, x1, y1)}` on the first frame, `{id: (k, (x0, y0, x1, y1))}` for a box on
frame k (an object that appears later: fine-tuned on frame k, tracked forward and backward from it), or
`masks=` a first-frame mask of ids uint8 [H,W] (0 background, 255 void; 0 and 255 only: one object), {id:
bool [H,W]} or the path of a PNG. Ids are 1..254; boxes are checked before a video is read, everything
against the frames before any object is adapted (`box_prompts`, `mask_prompts`, `clipped_prompts`).
Each object is adapted on its own (`lsevos.video.adaptation.two_scan`, its own copy of the model, no
checkpoint read) and the objects are merged per pixel as `lsevos segment` merges them
(`lsevos.video.objects`).

`segment` runs the whole adaptation (fine-tune, scan 1, retraining, scan 2) and returns a
`Segmentation` whose frames are read one at a time from its scratch folder: memory stays flat in the number
of frames. `stream` is the one-pass form for a live source: fine-tune on the first frame, then one scan
whose frames are yielded as they come (the static variant; nothing is stored).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import torch

from lsevos.errors import ConfigError
from lsevos.progress import Progress
from lsevos.video.adaptation import Adaptation, Prompt, Scan, finetune, track_frames, two_scan
from lsevos.video.boxes import Box, box_from_mask, clip_box
from lsevos.video.frames import ArrayFrames, Frames, checked_frame, open_frames
from lsevos.video.objects import checked_object_id, merge_probabilities, small_box_warning
from lsevos.video.saliency import runs_network
from lsevos.video.settings import VideoSettings
from lsevos.video.variants import family as family_of


@dataclass(frozen=True)
class SegmentedFrame:
    """One frame of a result: its index and name, each object's mask (bool [H,W]) and box (None: empty)."""

    index: int
    name: str
    masks: dict[int, np.ndarray]
    boxes: dict[int, Box | None]

    @property
    def ids(self) -> np.ndarray:
        """The objects as one map of ids uint8 [H,W] (0: background), as `masks/<frame>.png`."""
        first = next(iter(self.masks.values()))
        ids = np.zeros(first.shape, dtype=np.uint8)
        for object_id, mask in self.masks.items():
            ids[mask] = object_id
        return ids


def _settings(settings, defaults: Mapping[str, object]) -> VideoSettings:
    """Video settings from None, a mapping, JSON/YAML text or a file, or a `VideoSettings`, over
    `defaults` (the model's)."""
    from lsevos.video.settings import load_settings

    if isinstance(settings, VideoSettings):
        return settings
    if isinstance(settings, Mapping):
        return VideoSettings.from_dict({**defaults, **settings})
    return load_settings(settings, defaults=dict(defaults))


class Segmenter:
    """A pretrained model, read once, that segments videos (module docstring)."""

    def __init__(
        self,
        payload: dict | None,
        checkpoint: str | os.PathLike | None,
        settings: VideoSettings,
        family: str = "ours",
        progress: Progress | None = None,
    ):
        """`payload` None (no model): only settings that never run the network (`prior_alone`)."""
        self.payload, self.checkpoint = payload, None if checkpoint is None else Path(checkpoint)
        self.settings, self.family, self.progress = settings, family, progress
        family_of(family)  # an unknown family is refused here
        if payload is None and runs_network(settings):
            raise ConfigError(
                "these video settings run the network (saliency_weight below 1.0, network_veto, "
                "saliency_evidence or redetect_appearance), so a model is needed; only the prior alone "
                "(lsevos.video.variants.PRIOR_ALONE) segments without one"
            )
        if settings.saliency_weight > 0:  # settings that need the prior find it here, before any work
            from lsevos.video.saliency import check_available

            check_available()

    @classmethod
    def load(
        cls,
        checkpoint: str | os.PathLike | None = None,
        device: str | None = None,
        settings=None,
        family: str = "ours",
        progress: Progress | None = None,
    ) -> Segmenter:
        """Read `checkpoint` (default: `$LSEVOS_CHECKPOINT`, then `models/lsevos-cpu.pt`, then the newest
        pretrained stage-3 checkpoint under the current folder; `lsevos.video.model_file`) once. Video
        settings: the model's own (a model file's, else its pretraining crop and the CPU adaptation),
        overridden by `settings` (mapping, JSON/YAML text or file) and `device` ("auto", "cpu", "cuda")."""
        from lsevos.train.checkpoint import require_fp_head
        from lsevos.video.model_file import choose_checkpoint

        given = None if checkpoint is None else Path(checkpoint)
        path, _ = choose_checkpoint(given, Path.cwd(), "Segmenter.load: checkpoint")
        payload = require_fp_head(path)
        return cls.from_payload(payload, path, settings, device, family, progress)

    @classmethod
    def from_payload(
        cls,
        payload: dict,
        checkpoint: str | os.PathLike,
        settings=None,
        device: str | None = None,
        family: str = "ours",
        progress: Progress | None = None,
    ) -> Segmenter:
        """A `Segmenter` of a checkpoint already read (`lsevos.train.checkpoint.require_fp_head`)."""
        from lsevos.video.model_file import refuse_stored_settings
        from lsevos.video.steps import pretraining_defaults

        try:
            chosen = _settings(settings, pretraining_defaults(checkpoint, payload))
        except ConfigError:
            refuse_stored_settings(checkpoint, payload)
            raise
        if device is not None:
            chosen = VideoSettings.from_dict({**chosen.to_dict(), "device": device})
        return cls(payload, checkpoint, chosen, family, progress)

    @classmethod
    def prior_alone(
        cls,
        settings=None,
        device: str | None = None,
        family: str = "ours",
        progress: Progress | None = None,
        defaults: dict | None = None,
    ) -> Segmenter:
        """The baseline the method must beat, without a model: the zoom tracker with every crop segmented
        by the salient-object prior alone, `lsevos.video.variants.PRIOR_ALONE` over `settings` over
        `defaults` (None: the checkout's config/cpu.yaml video settings,
        `lsevos.video.model_file.modelless_defaults`)."""
        from lsevos.video.model_file import modelless_defaults
        from lsevos.video.variants import PRIOR_ALONE

        if defaults is None:
            defaults = modelless_defaults()[0]
        chosen = _settings(settings, defaults).to_dict()
        chosen.update(PRIOR_ALONE)
        if device is not None:
            chosen["device"] = device
        return cls(None, None, VideoSettings.from_dict(chosen), family, progress)

    @property
    def adaptation(self) -> Adaptation:
        return Adaptation(self.family, self.settings, self.progress)

    def model(self) -> torch.nn.Module:
        """A fresh copy of the pretrained model on the settings' device (no file is read)."""
        from lsevos.train.checkpoint import model_from_checkpoint
        from lsevos.video.inference import on_device

        if self.payload is None or self.checkpoint is None:  # __init__ allows this for the prior alone only
            raise ConfigError("no model: this Segmenter runs the prior alone (Segmenter.prior_alone)")
        return on_device(model_from_checkpoint(self.payload, self.checkpoint).eval(), self.settings)

    def with_settings(self, settings: Mapping[str, object]) -> Segmenter:
        """The same model with `settings` (video settings) over this one's, e.g.
        `lsevos.video.variants.PRIOR_ALONE`; nothing is read again."""
        merged = VideoSettings.from_dict({**self.settings.to_dict(), **dict(settings)})
        return Segmenter(self.payload, self.checkpoint, merged, self.family, self.progress)

    def segment(
        self,
        frames,
        boxes: Mapping[int, object] | Iterable | None = None,
        masks=None,
        *,
        static: bool = False,
        settings: Mapping[str, object] | None = None,
        scratch: str | os.PathLike | None = None,
    ) -> Segmentation:
        """Segment every object through `frames` (module docstring). `static`: no retraining (one scan).
        `settings`: video settings for this call only. `scratch`: a folder for the result's maps (and a
        generator's frames); by default a temporary folder removed with the result."""
        if (boxes is None) == (masks is None):
            raise ConfigError("give the objects either as boxes= or as masks= (one of the two)")
        given = None if boxes is None else box_prompts(boxes)  # before a video is decoded
        runner = self if settings is None else self.with_settings(settings)
        adaptation = runner.adaptation
        network = runs_network(adaptation.settings)
        model = runner.model() if network else None  # weights and device refused before a video is decoded
        owned = None
        if scratch is None:
            owned = tempfile.TemporaryDirectory(prefix="lsevos-")
            scratch = owned.name
        scratch = Path(scratch)
        source = open_frames(frames, scratch, adaptation.progress)
        prompts = clipped_prompts(mask_prompts(masks, source.size) if given is None else given, source)
        for object_id, prompt in prompts.items():
            warning = small_box_warning(prompt.box)
            if warning is not None and adaptation.progress is not None:
                adaptation.progress(f"segment: warning: object {object_id}: {warning}")
        scans: dict[int, Scan] = {}
        for position, (object_id, prompt) in enumerate(prompts.items(), start=1):
            if len(prompts) > 1 and adaptation.progress is not None:
                adaptation.progress(
                    f"segment: object {object_id} ({position} of {len(prompts)}), "
                    f"first box {list(prompt.box)}"
                )
            folder = scratch / f"object{object_id}"
            if model is None and network:  # each object adapts its own copy
                model = runner.model()
            scans[object_id] = two_scan(model, source, prompt, adaptation, folder, static)
            model = None
        return Segmentation(source, scans, adaptation, owned, frames)

    def stream(
        self, frames: Iterable[np.ndarray], box: Box, labels: np.ndarray | None = None
    ) -> Iterator[SegmentedFrame]:
        """One object through a live source in one pass: fine-tune on the first frame (in `box`, or on its
        mask `labels`), then yield each frame's result as the frame comes (object id 1; no retraining;
        settings that never run the network, `runs_network`, skip the fine-tune)."""
        adaptation = self.adaptation
        frames = iter(frames)
        try:
            first = checked_frame(next(frames), 0, None)
        except StopIteration:
            raise ConfigError("stream: the frame source yielded nothing") from None
        box = _api_box(box, "stream: box")
        try:
            box = clip_box(box, first.shape[:2])
        except ConfigError as error:
            raise ConfigError(f"stream: {error}") from None
        model = None
        if runs_network(adaptation.settings):  # the prior alone: no fine-tune that nothing reads
            model = self.model()
            finetune(model, ArrayFrames([first]), Prompt(box, 0, labels), adaptation)
        names = (f"{index:05d}" for index in range(1 << 62))
        live = _LiveFrames(chain([first], frames), first.shape[:2], names)
        for index, result in track_frames(model, live, Prompt(box), adaptation):  # type: ignore[arg-type]
            yield SegmentedFrame(index, result.name, {1: result.mask.astype(bool)}, {1: result.object_box})


class _LiveFrames:
    """An iterator of frames seen as `Frames` for one forward pass (no length, no random access)."""

    def __init__(self, frames: Iterator, size: tuple[int, int], names: Iterator[str]):
        self._frames, self.size, self._names = frames, size, names

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for index, frame in enumerate(self._frames):
            yield next(self._names), checked_frame(frame, index, self.size)


def _api_box(value, what: str) -> Box:
    """(x0, y0, x1, y1) of four finite numbers with x0 <= x1 and y0 <= y1; `ConfigError` naming `what`."""
    numbers: list[float] = []
    if not isinstance(value, str | bytes) and isinstance(value, Iterable):
        items = list(value)
        if not any(isinstance(v, str | bytes) for v in items):
            try:
                numbers = [float(v) for v in items]
            except (TypeError, ValueError):
                numbers = []
    if (
        len(numbers) != 4
        or not all(np.isfinite(numbers))
        or numbers[0] > numbers[2]
        or numbers[1] > numbers[3]
    ):
        raise ConfigError(
            f"{what}: a box is four numbers (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1 (left, top, right, "
            f"bottom pixel, inclusive), got {value!r}"
        )
    x0, y0, x1, y1 = (int(v) for v in numbers)
    return x0, y0, x1, y1


def _box_prompt(object_id: int, value) -> Prompt:
    """Prompt of `(x0, y0, x1, y1)` or `(frame, (x0, y0, x1, y1))`."""
    what = f"boxes[{object_id}]"
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError(f"{what}: a box is (x0, y0, x1, y1) or (frame, (x0, y0, x1, y1)), got {value!r}")
    value = tuple(value)
    if len(value) == 2 and isinstance(value[1], Iterable):
        frame = value[0]
        if isinstance(frame, bool) or not isinstance(frame, int | np.integer) or frame < 0:
            raise ConfigError(f"{what}: the frame of (frame, box) is an index 0, 1, ..., got {frame!r}")
        return Prompt(_api_box(value[1], what), int(frame))
    return Prompt(_api_box(value, what), 0)


def box_prompts(boxes) -> dict[int, Prompt]:
    """{id: Prompt} of `boxes=` (module docstring), checked without the frames: ids, box shapes and frame
    indices are refused before a video is read (`clipped_prompts` checks them against the frames)."""
    if isinstance(boxes, str | bytes) or not isinstance(boxes, Mapping | Iterable):
        raise ConfigError(f"boxes: give {{id: (x0, y0, x1, y1)}} or a list of boxes, got {boxes!r}")
    if isinstance(boxes, Mapping):
        items = list(boxes.items())
    else:
        items = list(enumerate(boxes, start=1))
        if items and all(isinstance(v, int | float | np.number) for _, v in items):
            raise ConfigError(
                f"boxes={tuple(v for _, v in items)!r} is one box, not a collection of objects: write "
                "boxes={1: (x0, y0, x1, y1)} (or a list of boxes)"
            )
    prompts = {}
    for key, value in items:
        object_id = checked_object_id(key, "boxes")
        prompts[object_id] = _box_prompt(object_id, value)
    if not prompts:
        raise ConfigError("no objects given: boxes= holds none")
    return prompts


def mask_prompts(masks, size: tuple[int, int]) -> dict[int, Prompt]:
    """{id: Prompt} of `masks=` for frames of `size` (H, W): a PNG path (read as `lsevos segment --mask`
    reads it; its refusals are `objects_of_mask`'s `DataError`), a map of ids (0 background, 255 void; a
    map of 0 and 255 only is one object, as a 0/255 PNG is) or {id: mask [H,W]}; `ConfigError` naming
    `masks` otherwise."""
    from lsevos.video.objects import objects_of_mask

    if isinstance(masks, str | os.PathLike):
        objects = dict(objects_of_mask(masks, size, "masks="))
    elif isinstance(masks, Mapping):
        objects = {checked_object_id(k, "masks"): np.asarray(v) for k, v in masks.items()}
    else:
        ids = np.asarray(masks)
        if ids.dtype == bool:
            ids = ids.astype(np.uint8)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ConfigError(
                f"masks: a first-frame mask is a map of object ids, integers [H, W], got {ids.dtype} "
                f"{ids.shape}; or give {{id: bool mask [H, W]}} or the path of a PNG"
            )
        values = [int(v) for v in np.unique(ids) if v != 0]
        if values == [255]:  # 0 and 255 only: one object
            objects = {1: ids == 255}
        else:
            objects = {checked_object_id(v, "masks"): ids == v for v in values if v != 255}
    prompts: dict[int, Prompt] = {}
    for object_id, mask in objects.items():
        if mask.shape != tuple(size):
            raise ConfigError(f"masks: object {object_id}'s mask is {mask.shape}, the frames are {size}")
        box = box_from_mask(mask)
        if box is None:
            raise ConfigError(f"masks: object {object_id}'s mask is empty")
        prompts[object_id] = Prompt(box, 0, mask.astype(bool).astype(np.uint8))
    if not prompts:
        raise ConfigError("no objects given: the mask holds none (0 is the background, 255 void)")
    return prompts


def clipped_prompts(prompts: Mapping[int, Prompt], frames: Frames) -> dict[int, Prompt]:
    """Every prompt clipped to `frames` with its frame checked (`Prompt.clipped`), before any object is
    adapted (a second object's box would otherwise be refused after the first object's work), in id
    order; the `ConfigError` names the object."""
    clipped = {}
    for object_id in sorted(prompts):
        try:
            clipped[object_id] = prompts[object_id].clipped(frames)
        except ConfigError as error:
            raise ConfigError(f"object {object_id}: {error}") from None
    return clipped


def claim_outputs(
    out: str | os.PathLike,
    overlay: str | os.PathLike | None,
    alpha: str | os.PathLike | None,
    inputs: list,
    names: tuple[str, str, str],
    clean: bool = True,
) -> Path:
    """Check and claim what `Segmentation.save` writes, before any of it is written: `out` (a scan folder),
    `overlay` (an mp4 video) and `alpha` (a folder of cut-outs), none of them an input, neither of the last
    two `out`, inside it or holding it. `names` are what messages call the three (`lsevos segment`'s
    options, or `save`'s arguments); `clean`: `prepare_output_folder`'s. Returns `out`."""
    from lsevos.data.io import prepare_output_file, prepare_output_folder
    from lsevos.video.overlay import check_overlay_name

    out_name, overlay_name, alpha_name = names
    out = prepare_output_folder(out, "scan", inputs, out_name, clean=clean)
    where = out.resolve()
    for path, name in ((overlay, overlay_name), (alpha, alpha_name)):
        if path is None:
            continue
        resolved = Path(path).resolve()
        if resolved == where or where in resolved.parents:
            raise ConfigError(
                f"{name} {path}: is the {out_name} folder or inside it (replaced on each run); "
                f"write it outside the {out_name} folder"
            )
        if resolved in where.parents:
            raise ConfigError(
                f"{name} {path}: holds the {out_name} folder {out}; give it a folder of its own"
            )
    if overlay is not None:
        check_overlay_name(overlay, overlay_name)
        prepare_output_file(overlay, inputs, overlay_name)
    if alpha is not None:
        prepare_output_folder(alpha, "alpha", inputs, alpha_name)
    return out


class Segmentation:
    """The result of `Segmenter.segment`: iterate it for the frames (`SegmentedFrame`), `save` it as
    `lsevos segment` does. Its maps live in a scratch folder until `close` (or garbage collection)."""

    def __init__(self, frames: Frames, scans: dict[int, Scan], adaptation: Adaptation, owned, source):
        self.frames, self.scans, self.adaptation = frames, scans, adaptation
        self._owned, self._source = owned, source
        self._closed = False  # a scratch folder of the caller's stays readable after `close`
        self.names = list(frames.names)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def object_ids(self) -> list[int]:
        return list(self.scans)

    def frame(self, index: int) -> SegmentedFrame:
        self._readable()
        name = self.names[index]
        boxes = {i: scan.object_boxes[name] for i, scan in self.scans.items()}
        if len(self.scans) == 1:
            ((object_id, scan),) = self.scans.items()
            return SegmentedFrame(index, name, {object_id: scan.masks.read(index) > 0}, boxes)
        ids = self.object_ids
        merged = merge_probabilities(
            [self.scans[i].probability(index) for i in ids], self.adaptation.settings.threshold
        )
        return SegmentedFrame(index, name, {i: merged == k + 1 for k, i in enumerate(ids)}, boxes)

    def __iter__(self) -> Iterator[SegmentedFrame]:
        for index in range(len(self)):
            yield self.frame(index)

    def save(
        self,
        out: str | os.PathLike,
        overlay: str | os.PathLike | None = None,
        alpha: str | os.PathLike | None = None,
        fps: float | None = None,
    ) -> Path:
        """Write `out` as `lsevos segment` does: the one object of id 1: the scan folder (masks/ with ids
        0/1, probs/, boxes.json); otherwise: masks/ (the objects' ids), boxes.json and objects/<id>/ (each
        object's own scan);
        `overlay`: an mp4 of the masks and boxes over the frames (`fps`: the video's, else 24); `alpha`: a
        folder of RGBA PNGs of the objects cut out (`lsevos.video.overlay.write_alpha`). Every output is
        claimed before any is written (a file or folder lsevos did not write is refused), and released
        when the call returns."""
        from lsevos.outputs import released_at_exit

        self._readable()
        with released_at_exit():  # what this call locks is free again when it returns
            return self._write(Path(out), overlay, alpha, fps)

    def _write(self, out: Path, overlay, alpha, fps) -> Path:
        from lsevos.data.io import atomic_output, retire_output
        from lsevos.video.objects import write_merged
        from lsevos.video.overlay import video_fps, write_alpha, write_overlay
        from lsevos.video.scan_folder import write_scan

        inputs = [self._source] if isinstance(self._source, str | os.PathLike) else []
        # every output claimed before any is written (again, where `lsevos segment` claimed them before
        # its work: a no-op then); the temporaries beside `out` are left to `lsevos segment`, whose
        # scratch folder (this result's maps) is one of them
        claim_outputs(out, overlay, alpha, inputs, ("out", "overlay", "alpha"), clean=False)
        if overlay is not None:  # written after `out`, which is replaced whole
            retire_output(overlay, None, "overlay")
        if alpha is not None:
            retire_output(alpha, "alpha", "alpha")
        progress = self.adaptation.progress
        if list(self.scans) == [1]:  # one object of id 1: its scan folder; other ids: the merged layout
            (scan,) = self.scans.values()
            write_scan(scan.results(), out, scan.metadata, total=len(self))  # the scan's speed: its own line
        else:
            with atomic_output(out, owner="scan") as temporary:
                folders = {}
                for object_id, scan in self.scans.items():
                    folders[object_id] = temporary / "objects" / str(object_id)
                    write_scan(scan.results(), folders[object_id], scan.metadata, total=len(self))
                write_merged(folders, temporary, self.adaptation.settings.threshold, progress)
        if overlay is not None:
            if fps is None:
                is_path = isinstance(self._source, str | os.PathLike)
                fps = video_fps(self._source) if is_path else 24.0
            count = write_overlay(self.frames, out, overlay, fps)
            if progress is not None:
                progress(f"segment: overlay of {count} frames written to {overlay}")
        if alpha is not None:
            count = write_alpha(self.frames, out, alpha)
            if progress is not None:
                progress(f"segment: cut-outs of {count} frames written to {alpha}")
        return out

    def _readable(self) -> None:
        if self._closed:
            raise ConfigError("this Segmentation is closed: its frames were removed with its scratch folder")

    def close(self) -> None:
        """Remove the scratch folder (the frames of a result can no longer be read)."""
        if self._owned is not None:
            self._owned.cleanup()
            self._owned, self._closed = None, True

    def __enter__(self) -> Segmentation:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
