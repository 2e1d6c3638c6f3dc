"""A sequence-and-family chain in one process: fine-tune -> scan 1 -> pseudo-labels -> retrain -> scan 2.

Why one process (`lsevos adapt`, the workflow's rule `adapt`): as five jobs, every step paid a process
start, a torch import (~2 s on a CPU) and CUDA's start on a GPU, for 20 fine-tune steps or one 50-frame
scan; on a cluster each was a queued job. The steps and their outputs are those of the single-step
commands (`lsevos finetune`, `scan`, `pseudo-labels`, `retrain`, which stay for users) and equal theirs
bit for bit (with `prior_reuse_iou`, when scan 2's `lsevos scan` is given `--prior-from` scan 1), but the
chain passes the model and scan 1 from step to step in memory (`lsevos.video.adaptation`): the pretrained
checkpoint is read once, the fine-tuned model is not read back, and the pseudo-labels are made from scan
1's probabilities in a scratch folder beside the resume folder (`.<resume>.scratch-*`, removed at the end),
not from its PNGs. Only a resumed run reads a finished step's output back (the fine-tuned or retrained
checkpoint, the scan-1 or label folder).

Resume where it was killed: each step writes its output atomically into a resume folder beside a record
of the chain's inputs (`chain.json`: the frames' and the pretrained checkpoint's paths with a digest of
their files' names, sizes and mtimes, the first box, family, video settings, lsevos version). A workflow
manager deletes the declared outputs of an unfinished job before rerunning it, but not this folder: the
rerun reuses the finished steps (if the record matches; otherwise the folder is discarded) and runs the
rest. When all five are done, the outputs are moved onto their final paths, scan 2 first and the fine-tuned
checkpoint last, so that a kill while moving leaves an unbroken run of finished steps from the first;
then the resume folder is removed (renamed aside first). A folder at the resume path that has no record is
not ours and is refused, never deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lsevos import __version__
from lsevos.data.io import FrameSource, atomic_output
from lsevos.errors import ConfigError, DataError
from lsevos.progress import Progress
from lsevos.video.adaptation import (
    Adaptation,
    FirstFrame,
    Prompt,
    finetune,
    kept_prior,
    retrain,
    scan,
    scan_uses_first_frame,
    track_frames,
)
from lsevos.video.boxes import Box
from lsevos.video.saliency import runs_network
from lsevos.video.scan_folder import scan_crops, scan_metadata, write_scan, write_scan_labels
from lsevos.video.settings import VideoSettings
from lsevos.video.steps import _load, first_frame_of, save_finetuned, save_retrained
from lsevos.video.training import ScanLabelCrops

RECORD = "chain.json"
CHAIN_STEPS = ("finetune", "scan1", "labels", "retrain", "scan2")
"""The two-scan adaptation's steps in order (§5.2): first-frame fine-tune, scan 1, its pseudo-labels,
retraining once, scan 2."""
SCRATCH = "scratch"
SCRATCH_PARTS = ("scan1", "prior")
"""What a chain's scratch folder holds: scan 1's maps and the prior's kept maps (`prior_reuse_iou`)."""


@dataclass(frozen=True)
class ChainOutputs:
    """The five outputs of a chain: two checkpoints and three folders."""

    finetune: Path
    scan1: Path
    labels: Path
    retrain: Path
    scan2: Path


# step (in the order of `CHAIN_STEPS`) -> (the staged name in the resume folder, the output owner marker
# of a folder; None for a file)
STEPS = dict(
    zip(
        CHAIN_STEPS,
        [
            ("finetune.pt", None),
            ("scan1", "scan"),
            ("pseudo_labels", "pseudo-labels"),
            ("retrain.pt", None),
            ("scan2", "scan"),
        ],
        strict=True,
    )
)


def _fingerprint(path: Path) -> dict[str, object]:
    """Path, and a digest of the names, sizes and modification times of a file or a folder's files: a
    regenerated input gets a new fingerprint even at the same path."""
    files = sorted(entry for entry in path.iterdir() if entry.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for entry in files:
        stat = entry.stat()
        digest.update(f"{entry.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return {"path": str(path.resolve()), "files": len(files), "sha256": digest.hexdigest()}


def _record(
    frames: Path, first_box: Box, checkpoint: Path, family: str, settings: VideoSettings
) -> dict[str, object]:
    return {
        "lsevos": __version__,
        "frames": _fingerprint(frames),
        "first_box": [int(v) for v in first_box],
        "checkpoint": _fingerprint(checkpoint),
        "family": family,
        "settings": settings.to_dict(),
    }


def _discard(folder: Path) -> None:
    """Remove a resume folder: renamed aside first, so a kill midway never leaves a folder without its
    record at the resume path (leftovers of such a kill are removed by the next run)."""
    aside = folder.with_name(f"{folder.name}.old-{os.getpid()}")
    os.replace(folder, aside)
    shutil.rmtree(aside)


def _is_ours(entry: Path) -> bool:
    """A folder holding nothing but a chain's record, staged step outputs and their atomic temporaries
    (`.<name>.tmp-*`): what `open_resume_folder` and `_discard` leave when killed midway."""
    names = {RECORD, *(name for name, _ in STEPS.values())}
    stems = {RECORD.split(".")[0], *(name.split(".")[0] for name, _ in STEPS.values())}
    return entry.is_dir() and all(
        child.name in names or any(child.name.startswith(f".{stem}.") for stem in stems)
        for child in entry.iterdir()
    )


def _remove_leftovers(folder: Path) -> None:
    """Remove what a killed creation (`.new-*`) or removal (`.old-*`) of this resume folder left, and the
    scratch folders of killed runs (`.scratch-*`, holding scan 1's maps and its prior's, `SCRATCH_PARTS`); a
    sibling with those names that holds anything else is not ours and is kept."""
    for pattern in (f"{folder.name}.old-*", f"{folder.name}.new-*"):
        for entry in folder.parent.glob(pattern):
            if _is_ours(entry):
                shutil.rmtree(entry, ignore_errors=True)
    for entry in folder.parent.glob(f"{folder.name}.{SCRATCH}-*"):
        if entry.is_dir() and all(child.name in SCRATCH_PARTS for child in entry.iterdir()):
            shutil.rmtree(entry, ignore_errors=True)


def open_resume_folder(folder: Path, record: dict[str, object], progress: Progress | None) -> list[str]:
    """Create the resume folder or reuse it when its record matches `record`; returns the finished
    steps found: the unbroken run of them from the first step (a later step without all of its
    predecessors was made from outputs that are gone, so it is deleted). A folder without a record is
    refused (`DataError`): it is not a chain's."""
    record_path = folder / RECORD
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder)
    if folder.exists():
        if not record_path.is_file():
            raise DataError(
                f"{folder}: exists but holds no {RECORD}, so it is not a chain's resume folder; move it away "
                "(the chain keeps its finished steps there)"
            )
        try:
            previous = json.loads(record_path.read_text())
        except (OSError, ValueError):
            previous = None
        if previous == record:
            done: list[str] = []
            for step, (name, _) in STEPS.items():
                finished = (folder / name).exists()
                if finished and len(done) == CHAIN_STEPS.index(step):
                    done.append(step)
                elif finished:  # made from a predecessor that is gone
                    _remove(folder / name)
            if done and progress is not None:
                progress(f"adapt: resuming after {', '.join(done)} (finished by an earlier run)")
            return done
        if progress is not None:
            progress(f"adapt: {folder} was left by a run with other inputs; starting over")
        _discard(folder)
    fresh = folder.with_name(f"{folder.name}.new-{os.getpid()}")
    fresh.mkdir()
    (fresh / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(fresh, folder)
    return []


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _publish(staged: Path, final: Path, owner: str | None) -> None:
    """Move a finished step's output onto its final path (an owned earlier output is replaced); the last
    rename is atomic even when the resume folder is on another filesystem (`shutil.move` copies then)."""
    with atomic_output(final, owner) as temporary:
        shutil.move(staged, temporary)


def _first(first, settings: VideoSettings) -> FirstFrame | None:
    """The fine-tune's frame and labels when the scans use them (`scan_uses_first_frame`), else None;
    `first` may be a function that reads them from the fine-tuned checkpoint (a resumed chain)."""
    if not scan_uses_first_frame(settings):
        return None
    return first() if callable(first) else first


def check_adaptable(settings: VideoSettings) -> None:
    """Refuse settings whose scans never run the network (`runs_network`: the prior alone): the chain
    would fine-tune and retrain a network that no mask reads."""
    if not runs_network(settings):
        raise ConfigError(
            "these video settings never run the network (the prior alone), so there is nothing to fine-tune "
            "or retrain; scan once with `lsevos scan` without --checkpoint (the `prior` variant)"
        )


def run_chain(
    frames: str | os.PathLike,
    prompt: Prompt,
    checkpoint: str | os.PathLike,
    adaptation: Adaptation,
    outputs: ChainOutputs,
    resume_folder: str | os.PathLike,
) -> None:
    """Run the chain's missing steps into `resume_folder`, then move all five outputs into place, the
    last step's first: a kill while moving leaves the resume folder with an unbroken run of steps."""
    import tempfile

    check_adaptable(adaptation.settings)
    frames, checkpoint, folder = Path(frames), Path(checkpoint), Path(resume_folder)
    record = _record(frames, prompt.box, checkpoint, adaptation.family, adaptation.settings)
    done = open_resume_folder(folder, record, adaptation.progress)
    staged = {step: folder / name for step, (name, _) in STEPS.items()}
    with tempfile.TemporaryDirectory(prefix=f"{folder.name}.{SCRATCH}-", dir=folder.parent) as scratch:
        run_steps(frames, prompt, checkpoint, adaptation, staged, set(done), Path(scratch))
    for step, (_, owner) in reversed(STEPS.items()):
        _publish(staged[step], getattr(outputs, step), owner)
    _discard(folder)


def run_steps(
    frames: Path,
    prompt: Prompt,
    checkpoint: Path,
    adaptation: Adaptation,
    staged: dict[str, Path],
    done: set[str],
    scratch: Path,
) -> None:
    """The steps of `CHAIN_STEPS` not in `done`, each writing `staged[step]`; the model and scan 1 go from
    step to step in memory, a finished step's output is read back only when a later step needs it."""
    settings, progress = adaptation.settings, adaptation.progress
    source = FrameSource(frames)
    prompt = prompt.clipped(source)
    first: FirstFrame | Callable[[], FirstFrame] | None = None
    if "retrain" in done:
        model = _load(staged["retrain"], settings)
    elif "finetune" in done:
        from lsevos.train.checkpoint import require_fp_head

        payload = require_fp_head(staged["finetune"])
        model = _load(staged["finetune"], settings, payload)
        first = lambda: first_frame_of(payload, staged["finetune"], source)  # noqa: E731
    else:
        model = _load(checkpoint, settings)  # the one read of the pretrained checkpoint
        tuned = finetune(model, source, prompt, adaptation)
        save_finetuned(staged["finetune"], model, tuned, prompt, adaptation)
        first = tuned
    scan1 = None
    prior = None if "scan2" in done else kept_prior(source, settings, scratch / SCRATCH_PARTS[1])
    if "scan1" not in done:
        folder = scratch / SCRATCH_PARTS[0]
        scan1 = scan(model, source, prompt, adaptation, folder, "scan 1", _first(first, settings), prior)
        write_scan(scan1.results(), staged["scan1"], scan1.metadata, total=len(source), progress=progress)
    if "labels" not in done:
        labels = None
        if scan1 is not None:
            labels = ((name, scan1.labels(index, settings)) for index, name in enumerate(scan1.names))
        margin = settings.pseudo_ignore_margin
        write_scan_labels(staged["scan1"], staged["labels"], settings.threshold, margin, progress, labels)
    if "retrain" not in done:
        if scan1 is not None:
            crops = scan1.crops(source, settings)
        else:
            crops = ScanLabelCrops(frames, staged["labels"], settings)
        steps = retrain(model, crops, first, source, adaptation)
        save_retrained(staged["retrain"], model, steps, adaptation)
    if "scan2" not in done:
        if prior is not None:  # a resumed chain computes scan 1's maps again where scan 2 reuses them
            prior.reuse(scan1.search if scan1 is not None else scan_crops(staged["scan1"], source.names))
        tracked = track_frames(model, source, prompt, adaptation, first=_first(first, settings), prior=prior)
        results = (result for _, result in tracked)
        metadata = {**scan_metadata(settings, adaptation.mode()), "family": adaptation.family}
        write_scan(results, staged["scan2"], metadata, total=len(source), progress=progress)
