"""A sequence-and-family chain in one process: fine-tune -> scan 1 -> pseudo-labels -> retrain -> scan 2.

Why one process (`lsevos adapt`, the workflow's rule `adapt`): as five jobs, every step paid a process
start, a torch import (~2 s on a CPU), CUDA's start on a GPU and a checkpoint read, for 20 fine-tune steps
or one 50-frame scan; on a cluster each was a queued job. The steps and their outputs are the same as the
single-step commands (`lsevos finetune`, `scan`, `pseudo-labels`, `retrain`), which stay for users.

Resume where it was killed: each step writes its output atomically into a resume folder beside a record
of the chain's inputs (`chain.json`: frames, first box, pretrained checkpoint's size and mtime, family,
video settings). A workflow manager deletes the declared outputs of an unfinished job before rerunning
it, but not this folder: the rerun reuses every finished step (if the record matches; otherwise the
folder is discarded) and runs the rest. When all five are done, each output is renamed onto its final
path and the resume folder is removed. A folder at the resume path that has no record is not ours and is
refused, never deleted.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lsevos.data.io import atomic_output
from lsevos.errors import DataError
from lsevos.video.boxes import Box
from lsevos.video.pipeline import finetune, retrain, scan
from lsevos.video.pseudo_labels import write_scan_labels
from lsevos.video.settings import VideoSettings
from lsevos.video.tracker import Progress

RECORD = "chain.json"


@dataclass(frozen=True)
class ChainOutputs:
    """The five outputs of a chain: two checkpoints and three folders."""

    finetune: Path
    scan1: Path
    labels: Path
    retrain: Path
    scan2: Path


# step -> (the staged name in the resume folder, the output owner marker of a folder; None for a file)
STEPS = {
    "finetune": ("finetune.pt", None),
    "scan1": ("scan1", "scan"),
    "labels": ("pseudo_labels", "pseudo-labels"),
    "retrain": ("retrain.pt", None),
    "scan2": ("scan2", "scan"),
}


def _record(
    frames: Path, first_box: Box, checkpoint: Path, family: str, settings: VideoSettings
) -> dict[str, object]:
    stat = checkpoint.stat()
    return {
        "frames": str(frames.resolve()),
        "first_box": [int(v) for v in first_box],
        "checkpoint": {
            "path": str(checkpoint.resolve()),
            "bytes": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        },
        "family": family,
        "settings": settings.to_dict(),
    }


def open_resume_folder(folder: Path, record: dict[str, object], progress: Progress | None) -> list[str]:
    """Create the resume folder or reuse it when its record matches `record`; returns the finished
    steps found. A folder without a record is refused (`DataError`): it is not a chain's."""
    record_path = folder / RECORD
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
            done = [step for step, (name, _) in STEPS.items() if (folder / name).exists()]
            if done and progress is not None:
                progress(f"adapt: resuming after {', '.join(done)} (finished by an earlier run)")
            return done
        if progress is not None:
            progress(f"adapt: {folder} was left by a run with other inputs; starting over")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    temporary = folder / f".{RECORD}.tmp"
    temporary.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(temporary, record_path)
    return []


def _publish(staged: Path, final: Path, owner: str | None) -> None:
    """Rename a finished step's output onto its final path (an owned earlier output is replaced)."""
    with atomic_output(final, owner) as temporary:
        os.replace(staged, temporary)


def run_chain(
    frames: str | os.PathLike,
    first_box: Box,
    checkpoint: str | os.PathLike,
    family_name: str,
    settings: VideoSettings,
    outputs: ChainOutputs,
    resume_folder: str | os.PathLike,
    progress: Progress | None = None,
) -> None:
    """Run the chain's missing steps into `resume_folder`, then move all five outputs into place."""
    frames, checkpoint, folder = Path(frames), Path(checkpoint), Path(resume_folder)
    done = open_resume_folder(folder, _record(frames, first_box, checkpoint, family_name, settings), progress)
    staged = {step: folder / name for step, (name, _) in STEPS.items()}
    if "finetune" not in done:
        finetune(frames, first_box, checkpoint, family_name, settings, staged["finetune"], progress)
    if "scan1" not in done:
        scan(frames, staged["finetune"], family_name, settings, staged["scan1"], first_box, progress=progress)
    if "labels" not in done:
        write_scan_labels(
            staged["scan1"], staged["labels"], settings.threshold, settings.pseudo_ignore_margin, progress
        )
    if "retrain" not in done:
        retrain(
            frames, staged["labels"], staged["finetune"], family_name, settings, staged["retrain"], progress
        )
    if "scan2" not in done:
        scan(frames, staged["retrain"], family_name, settings, staged["scan2"], first_box, progress=progress)
    for step, (_, owner) in STEPS.items():
        _publish(staged[step], getattr(outputs, step), owner)
    shutil.rmtree(folder)
