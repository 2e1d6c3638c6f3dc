"""Video commands: adapt (the workflow's chain), scan (its GT-box scans), crf; finetune, scan, pseudo-labels
and retrain one step at a time; segment (users) and package-model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lsevos.cli_args import add_command, add_paths
from lsevos.errors import ConfigError
from lsevos.video.model_file import CHECKPOINT_PATTERN, DEFAULT_MODEL

FAMILY_HELP = "fp_nozoom, fp, fplse or ours (see lsevos.video.variants)"
SETTINGS_HELP = "video settings: inline JSON or a .json/.yaml file (defaults for every missing key)"
FRAMES_HELP = "frame folder or video file"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_progress.to_stderr = True  # type: ignore[attr-defined]  # long steps may draw a bar (lsevos.progress)


def _add_settings_and_out(
    parser: argparse.ArgumentParser, out_help: str, settings_help: str = SETTINGS_HELP
) -> None:
    """The last options of a workflow step: `--settings` (video settings) and the required `--out PATH`."""
    parser.add_argument("--settings", help=settings_help)
    add_paths(parser, out=out_help)


def _add_box_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--box", help="the object's box on the first frame: x0,y0,x1,y1 (inclusive pixels)")
    group.add_argument("--first-mask", type=Path, help="first-frame mask PNG; its object's box is used")


def _warn_small_box(box, command: str) -> None:
    from lsevos.video.objects import small_box_warning

    warning = small_box_warning(box)
    if warning is not None:
        _progress(f"{command}: warning: {warning}")


def _first_box(args: argparse.Namespace, frame_size: tuple[int, int] | None = None, frames=None):
    """The first box from --box or --first-mask; with `frame_size` (H, W) the mask must have that size,
    the box is clipped to the frame and a box too small to label anything gets a warning."""
    from lsevos.video.boxes import clip_box, parse_box
    from lsevos.video.steps import first_box_from_mask

    if args.box is not None:
        box = parse_box(args.box)
    elif args.first_mask is not None:
        box = first_box_from_mask(args.first_mask, frame_size, frames)
    else:
        return None
    if frame_size is not None:
        box = clip_box(box, frame_size)
    _warn_small_box(box, args.command)
    return box


def _frames_size(frames: Path) -> tuple[int, int]:
    """(H, W) of the frames, after every frame is checked (`FrameSource.check`) before any long work."""
    from lsevos.data.io import FrameSource

    source = FrameSource(frames)
    for warning in source.check():
        _progress(f"warning: {warning}")
    return source.size


def _output_file(path: Path, inputs: tuple = (), what: str = "--out") -> None:
    """Check and claim a file output before any work (one it did not write is refused) and remove the
    temporaries of a killed earlier run."""
    from lsevos.data.io import prepare_output_file

    prepare_output_file(path, inputs, what)


def _settings(args: argparse.Namespace):
    from lsevos.video.settings import load_settings

    return load_settings(args.settings)


def _adaptation(args: argparse.Namespace):
    """The parameter object of the video steps: --family, --settings, progress to stderr."""
    from lsevos.video.adaptation import Adaptation

    return Adaptation(args.family, _settings(args), _progress)


def _prompt(box, labels=None):
    from lsevos.video.adaptation import Prompt

    return None if box is None else Prompt(box, 0, labels)


def _finetune(args: argparse.Namespace) -> int:
    from lsevos.video.steps import finetune

    _output_file(args.out, (args.frames, args.checkpoint))
    box = _first_box(args, _frames_size(args.frames), args.frames)
    finetune(args.frames, _prompt(box), args.checkpoint, _adaptation(args), args.out)
    return 0


def _scan(args: argparse.Namespace) -> int:
    from lsevos.data.io import prepare_output_folder
    from lsevos.video.adaptation import check_model_given
    from lsevos.video.steps import scan

    adaptation = _adaptation(args)
    check_model_given(args.checkpoint, adaptation.settings)
    extra = [path for path in (args.checkpoint, args.gt_masks, args.prior_from) if path is not None]
    prepare_output_folder(args.out, "scan", [args.frames, *extra])
    box = _first_box(args, _frames_size(args.frames), args.frames)
    scan(args.frames, args.checkpoint, adaptation, args.out, _prompt(box), args.gt_masks, args.prior_from)
    return 0


def _pseudo_labels(args: argparse.Namespace) -> int:
    from lsevos.data.io import prepare_output_folder
    from lsevos.video.scan_folder import write_scan_labels

    prepare_output_folder(args.out, "pseudo-labels", [args.scan])
    settings = _settings(args)
    write_scan_labels(args.scan, args.out, settings.threshold, settings.pseudo_ignore_margin, _progress)
    return 0


def _retrain(args: argparse.Namespace) -> int:
    from lsevos.video.steps import retrain

    _output_file(args.out, (args.frames, args.labels, args.checkpoint))
    retrain(args.frames, args.labels, args.checkpoint, _adaptation(args), args.out)
    return 0


def _adapt(args: argparse.Namespace) -> int:
    from lsevos.data.io import check_not_overlapping, check_writable, prepare_output_folder
    from lsevos.video.chain import ChainOutputs, check_adaptable, run_chain

    adaptation = _adaptation(args)
    check_adaptable(adaptation.settings)
    inputs = (args.frames, args.checkpoint)
    outputs = ChainOutputs(
        args.finetune_out, args.scan1_out, args.labels_out, args.retrain_out, args.scan2_out
    )
    paths = [outputs.finetune, outputs.scan1, outputs.labels, outputs.retrain, outputs.scan2]
    if len({path.resolve() for path in [*paths, args.resume_dir]}) < len(paths) + 1:
        raise ConfigError("adapt: the five outputs and --resume-dir must be six different paths")
    if not args.frames.exists():
        raise ConfigError(f"--frames {args.frames}: no such frame folder or video file")
    if not args.checkpoint.is_file():  # its stage is checked by the fine-tune's first step (one read)
        raise ConfigError(f"--checkpoint {args.checkpoint}: no such file; give a pretrained checkpoint (.pt)")
    # The resume folder is removed at the end: it may neither hold nor sit inside an input or an output.
    check_not_overlapping(args.resume_dir, inputs, "--resume-dir")
    resume = args.resume_dir.resolve()
    for path in paths:
        if path.resolve() in resume.parents or resume in path.resolve().parents:
            raise ConfigError(
                f"--resume-dir {args.resume_dir}: holds or sits inside the output {path}; give it a folder "
                "of its own (the workflow uses a hidden sibling of the outputs)"
            )
    check_writable(args.resume_dir, "--resume-dir", "folder")
    _output_file(outputs.finetune, inputs, "--finetune-out")
    _output_file(outputs.retrain, inputs, "--retrain-out")
    for option, folder, owner in (
        ("--scan1-out", outputs.scan1, "scan"),
        ("--labels-out", outputs.labels, "pseudo-labels"),
        ("--scan2-out", outputs.scan2, "scan"),
    ):
        prepare_output_folder(folder, owner, inputs, option)
    box = _first_box(args, _frames_size(args.frames), args.frames)
    run_chain(args.frames, _prompt(box), args.checkpoint, adaptation, outputs, args.resume_dir)
    _progress(f"adapt: finished; scan 2 in {outputs.scan2}")
    return 0


def _crf(args: argparse.Namespace) -> int:
    from lsevos.data.io import prepare_output_folder
    from lsevos.video.crf import crf_scan

    prepare_output_folder(args.out, "crf", [args.frames, args.scan])
    crf_scan(args.frames, args.scan, args.out, _settings(args), _progress)
    return 0


def _figure_lse(args: argparse.Namespace) -> int:
    from lsevos.data.io import check_suffix, image_size
    from lsevos.video.lse_figure import lse_figure

    check_suffix(args.out, ".png", "--out", "the figure is written as a PNG")
    _output_file(args.out, (args.frame, args.checkpoint))
    settings = _settings(args)
    box = _first_box(args, image_size(args.frame), args.frame)
    out = lse_figure(args.checkpoint, args.frame, box, args.out, settings.crop_size, settings.enlarge)
    _progress(f"figure-lse: wrote {out}")
    return 0


def _segment_objects(args: argparse.Namespace, frame_size: tuple[int, int]) -> list:
    """[(id, first box, first-frame labels or None, frame of the box)] from --box/--boxes or --mask."""
    from lsevos.video.boxes import clip_box
    from lsevos.video.objects import first_box, objects_of_mask, parse_object_prompts

    if args.mask is not None:
        if args.box or args.boxes:
            raise ConfigError("give the objects either as boxes (--box/--boxes) or as --mask, not both")
        return [
            (object_id, clip_box(first_box(mask), frame_size), mask.astype("uint8"), 0)
            for object_id, mask in objects_of_mask(args.mask, frame_size)
        ]
    prompts = parse_object_prompts(args.box, args.boxes)  # the user's ids
    if not prompts:
        prompts = [(object_id, box, 0) for object_id, box in enumerate(_drawn_boxes(args.input), start=1)]
    return [(object_id, clip_box(box, frame_size), None, frame) for object_id, box, frame in prompts]


def _drawn_boxes(video: Path) -> list:
    """The boxes the user draws on the first frame (`lsevos.video.draw_boxes`), printed in the --box form;
    refused with the usual message where no window can be opened."""
    from lsevos.data.io import FrameSource
    from lsevos.video.draw_boxes import box_options, draw_boxes, gui_unavailable

    missing = (
        "segment: give the first frame's object: --box x0,y0,x1,y1 (repeatable), --boxes FILE or --mask PNG"
    )
    reason = gui_unavailable()
    if reason is not None:
        raise ConfigError(f"{missing} (drawing the boxes needs a window: {reason})")
    boxes = draw_boxes(FrameSource(video).read(0))
    if not boxes:
        raise ConfigError(f"{missing} (no box was drawn)")
    _progress(f"segment: drawn boxes, to repeat this run without drawing: {box_options(boxes)}")
    return boxes


def _segment(args: argparse.Namespace) -> int:
    """Every input and output is checked before the first computation (see docs/design.md, "Outputs")."""
    import shutil
    import tempfile
    import time

    started = time.perf_counter()  # the whole command, the model's read and the outputs included
    from lsevos.data.io import FrameSource, frame_name_gaps
    from lsevos.train.checkpoint import require_fp_head
    from lsevos.video.model_file import (
        find_checkpoint,
        modelless_defaults,
        no_model,
        refuse_builtin_model,
        trained_on_builtin_only,
    )
    from lsevos.video.overlay import check_overlay_name, video_fps
    from lsevos.video.segmenter import Segmenter, claim_outputs
    from lsevos.video.variants import PRIOR_ALONE, family

    family(args.family)  # an unknown family is refused before anything is read
    if args.overlay is not None:
        check_overlay_name(args.overlay)
    found = find_checkpoint(args.checkpoint, Path.cwd())
    payload, none = None, "none found"
    if found is not None:
        payload = require_fp_head(found[0])  # the one read of the model
        if args.prior_alone and found[1] != "--checkpoint" and trained_on_builtin_only(payload):
            # found by the search, it knows only `make demo`'s shapes and its settings are the demo's
            _progress(f"segment: {found[0]} ({found[1]}) knows only the built-in benchmark; not used")
            found, payload, none = None, None, "none used"
    if found is None and args.prior_alone:  # the baseline needs no model
        over = "--settings over " if args.settings else ""
        defaults, described = modelless_defaults()
        checkpoint, how = None, f"{none}: the prior alone on {over}{described}"
        segmenter = Segmenter.prior_alone(
            args.settings, family=args.family, progress=_progress, defaults=defaults
        )
    else:
        if found is None or payload is None:  # the search above is the whole search: refuse at once
            raise no_model(Path.cwd())
        checkpoint, how = found
        refuse_builtin_model(payload, checkpoint, how)
        segmenter = Segmenter.from_payload(payload, checkpoint, args.settings, None, args.family, _progress)
        if args.prior_alone:  # the `prior` variant's settings over the others (one scan: `two_scan`)
            segmenter = segmenter.with_settings(PRIOR_ALONE)
    if not args.input.exists():
        raise ConfigError(f"{args.input}: no such video file or frame folder")
    source = FrameSource(args.input)
    objects = _segment_objects(args, source.size)
    _check_box_frames(objects, source)
    for warning in source.check():  # every frame before the long work
        _progress(f"segment: warning: {warning}")
    inputs = [args.input, *(path for path in (checkpoint, args.mask, args.boxes) if path is not None)]
    options = ("--out", "--overlay", "--alpha")
    out = claim_outputs(args.out, args.overlay, args.alpha, inputs, options).resolve()
    if args.input.is_dir():
        gaps = frame_name_gaps(source.names)
        if gaps:
            _progress(
                f"segment: warning: {args.input}: frame names jump from {gaps[0][0]} to {gaps[0][1]} "
                f"({len(gaps)} gap(s)): frames are missing; every frame present is segmented and its mask "
                "keeps the frame's name"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.work-", dir=out.parent))
    try:
        model = "no model" if checkpoint is None else f"model {checkpoint}"
        _progress(f"segment: {model} ({how}), family {args.family}, {len(objects)} object(s)")
        frames = source if args.input.is_dir() else args.input  # a folder checked above is not read again
        if args.mask is not None:
            masks = {object_id: labels for object_id, _, labels, _ in objects}
            result = segmenter.segment(frames, masks=masks, static=args.static, scratch=work)
        else:
            boxes = {object_id: (frame, box) for object_id, box, _, frame in objects}
            result = segmenter.segment(frames, boxes=boxes, static=args.static, scratch=work)
        result.save(out, overlay=args.overlay, alpha=args.alpha, fps=video_fps(args.input))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    count = sum(1 for _ in (out / "masks").glob("*.png"))  # a video is not decoded again to count
    _progress(
        f"segment: {count} frames x {len(objects)} object(s) in {seconds:.0f} s "
        f"({count / max(seconds, 1e-9):.2f} frames/s, adaptation and outputs included); masks in "
        f"{out / 'masks'}, boxes in {out / 'boxes.json'}"
    )
    return 0


def _check_box_frames(objects: list, source) -> None:
    """A box on a later frame (`--box K:x0,y0,x1,y1`, or [K, box] in `--boxes`) must name a frame of the
    video."""
    past = [(object_id, frame) for object_id, *_, frame in objects if frame >= len(source)]
    if past:
        object_id, frame = past[0]
        raise ConfigError(
            f"the box of object {object_id} is on frame {frame} (--box {frame}:... or [{frame}, box] in "
            f"--boxes): the video has frames 0..{len(source) - 1}; give the frame index of the box "
            "(0 = first frame)"
        )


def _package_model(args: argparse.Namespace) -> int:
    from lsevos.settings_text import read_mapping
    from lsevos.video.model_file import card_path, package_model

    _output_file(args.out, (args.checkpoint,))
    _output_file(card_path(args.out), (args.checkpoint,))
    settings = read_mapping(args.settings, "--settings")
    card = read_mapping(args.card, "--card")
    out = package_model(args.checkpoint, settings, card, args.out)
    _progress(f"package-model: wrote {out} and {card_path(out)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "finetune", _finetune, "fine-tune a pretrained model on a video's first frame"
    )
    add_paths(parser, frames=FRAMES_HELP)
    _add_box_arguments(parser, required=True)
    add_paths(parser, checkpoint="pretrained checkpoint (.pt)")
    parser.add_argument("--family", required=True, help=FAMILY_HELP)
    _add_settings_and_out(parser, "fine-tuned checkpoint to write (.pt)")

    parser = add_command(
        subparsers,
        "figure-lse",
        _figure_lse,
        "a frame's zoomed-in crop, FP and LSE as RGB (Fig. 4 style figure)",
    )
    add_paths(parser, frame="frame image (jpg/png)")
    _add_box_arguments(parser, required=True)
    add_paths(parser, checkpoint="model checkpoint (.pt)")
    _add_settings_and_out(parser, "PNG file to write", SETTINGS_HELP + " (crop_size and enlarge are used)")

    parser = add_command(
        subparsers, "scan", _scan, "segment every frame with a checkpoint, or the prior alone (one scan)"
    )
    add_paths(parser, frames=FRAMES_HELP)
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="fine-tuned or retrained checkpoint; not needed by settings that never run the network "
        "(the prior alone: the workflow's `prior` variant)",
    )
    parser.add_argument("--family", required=True, help=FAMILY_HELP)
    _add_box_arguments(parser, required=False)
    parser.add_argument("--gt-masks", type=Path, help="ground-truth mask folder: GT-box mode (Table 1)")
    parser.add_argument(
        "--prior-from",
        type=Path,
        metavar="SCAN1",
        help="scan 1's folder, for scan 2 with prior_reuse_iou > 0: the prior of its search crops is "
        "reused as `lsevos adapt` reuses it",
    )
    _add_settings_and_out(parser, "scan folder to write (masks/, probs/, boxes.json)")

    parser = add_command(
        subparsers, "pseudo-labels", _pseudo_labels, "turn a scan into pseudo-labels for retraining"
    )
    add_paths(parser, scan="scan folder")
    _add_settings_and_out(parser, "label folder to write")

    parser = add_command(
        subparsers, "retrain", _retrain, "retrain a fine-tuned model on scan-1 pseudo-labels"
    )
    add_paths(parser, frames=FRAMES_HELP, labels="label folder from `lsevos pseudo-labels`")
    add_paths(parser, checkpoint="fine-tuned checkpoint")
    parser.add_argument("--family", required=True, help=FAMILY_HELP)
    _add_settings_and_out(parser, "retrained checkpoint to write (.pt)")

    parser = add_command(
        subparsers,
        "adapt",
        _adapt,
        "fine-tune, scan 1, pseudo-labels, retrain and scan 2 in one process (the workflow's chain)",
        "Each step's output is kept in --resume-dir as soon as it is written; a rerun after a kill with the "
        "same inputs skips the finished steps. At the end the five outputs are moved into place.",
    )
    add_paths(parser, frames=FRAMES_HELP)
    _add_box_arguments(parser, required=True)
    add_paths(parser, checkpoint="pretrained checkpoint (.pt)")
    parser.add_argument("--family", required=True, help=FAMILY_HELP)
    parser.add_argument("--settings", help=SETTINGS_HELP)
    add_paths(
        parser,
        finetune_out="fine-tuned checkpoint to write (.pt)",
        scan1_out="scan-1 folder to write",
        labels_out="pseudo-label folder to write",
        retrain_out="retrained checkpoint to write (.pt)",
        scan2_out="scan-2 folder to write",
        resume_dir="folder for the finished steps until the chain ends (removed then)",
    )

    parser = add_command(subparsers, "crf", _crf, "refine a scan with a dense CRF (needs lsevos[crf])")
    add_paths(parser, frames=FRAMES_HELP, scan="scan folder to refine")
    _add_settings_and_out(parser, "refined scan folder to write")

    parser = add_command(
        subparsers,
        "segment",
        _segment,
        "segment an object through your video from a box on its first frame",
        "Fine-tunes on the first frame, scans the video, retrains on its own masks and scans again, for each "
        "object. Writes DIR/masks/<frame>.png (indexed: 0 and the objects' ids, 1..K unless --boxes or "
        "--mask names them), DIR/boxes.json and, with one object of id 1, DIR/probs/; otherwise each "
        "object's scan in DIR/objects/<id>/. Without --box/--boxes/--mask, draw the boxes on the first "
        "frame (needs a display and an OpenCV with GUI).",
    )
    parser.add_argument("input", type=Path, help="video file (mp4, avi, ...) or folder of jpg/png frames")
    parser.add_argument(
        "--box",
        action="append",
        help="an object on the first frame: x0,y0,x1,y1 (inclusive), or on frame N (0 = first): "
        "N:x0,y0,x1,y1 (tracked forward and backward from N); repeat for several objects (ids 1..K)",
    )
    parser.add_argument(
        "--boxes",
        help="JSON/YAML file: a list of [x0, y0, x1, y1] boxes (ids 1, 2, ... after the --box ones), or a "
        'mapping id -> box such as {"5": [x0, y0, x1, y1]}: its ids (1..254) are kept as the mask values; an '
        "id given twice is refused. A box on frame K instead of the first: [K, [x0, y0, x1, y1]]",
    )
    parser.add_argument(
        "--mask",
        type=Path,
        help="first-frame mask PNG instead of boxes (indexed ids 1..K or 0/255); fine-tunes on the mask",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help=f"model; default: $LSEVOS_CHECKPOINT, then {DEFAULT_MODEL} (`make model`), then the newest "
        f"{CHECKPOINT_PATTERN}",
    )
    parser.add_argument("--overlay", type=Path, help="also write an mp4 with the mask and box drawn")
    parser.add_argument(
        "--alpha",
        type=Path,
        help="also write a folder of RGBA PNGs, the objects cut out (with several objects, one subfolder "
        "per id as well)",
    )
    parser.add_argument("--family", default="ours", help=f"{FAMILY_HELP}; default ours")
    parser.add_argument("--static", action="store_true", help="skip the retraining (one scan only)")
    parser.add_argument(
        "--prior-alone",
        action="store_true",
        help="the baseline the method must beat (the workflow's `prior` variant): one scan of the same "
        "zoom tracker with every crop segmented by the salient-object prior alone (over --settings), no "
        "fine-tune, the network never run; a --mask gives its box only. Needs no model: with none named or "
        "found, --settings over config/cpu.yaml's video settings (those of the shipped model)",
    )
    parser.add_argument("--settings", help=SETTINGS_HELP)
    _register_package_model(subparsers)


def _register_package_model(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "package-model",
        _package_model,
        "pack a pretrained checkpoint with its video settings and a model card (the `model` target)",
    )
    add_paths(parser, checkpoint="pretrained stage-3 checkpoint")
    parser.add_argument("--settings", required=True, help="video settings the model runs with (JSON/YAML)")
    parser.add_argument("--card", required=True, help="model card fields (JSON/YAML mapping)")
    add_paths(parser, out="model file to write (.pt; the card is written beside it as .md)")
