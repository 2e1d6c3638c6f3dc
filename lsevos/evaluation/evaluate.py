"""Evaluate a results folder against DAVIS-layout ground truth: per-frame J and F per object, in parallel.

Work is split into chunks of frames and spread over a process pool, so a long sequence keeps both cores
busy. Objects are the ids found in any GT frame of the sequence; a single-object sequence (id 1) keeps
its name, object k of a multi-object sequence is reported as `<seq>_<k>`. Nothing is cached: every call
reads and scores every file again.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from lsevos.errors import DataError
from lsevos.evaluation.davis_metrics import (
    Statistics,
    frame_measures,
    sequence_statistics,
    tolerance_radius,
)
from lsevos.evaluation.results import SequenceFiles, collect_sequences, read_ids

CHUNK_FRAMES = 12


@dataclass(frozen=True)
class ObjectScores:
    """Per-frame J and F `float64 [L]` of one object over frames `frames` (`int64 [L]`, positions 1..N-2
    in the sorted frame list); `frame_names[i]` is the name (file stem) of frame `frames[i]`, which keys
    the per-frame CSV, so a gap in the numbering (00001, 00003) is reported as it is."""

    name: str
    frames: np.ndarray
    j: np.ndarray
    f: np.ndarray
    frame_names: tuple[str, ...] = ()

    @property
    def j_statistics(self) -> Statistics:
        return sequence_statistics(self.j)

    @property
    def f_statistics(self) -> Statistics:
        return sequence_statistics(self.f)


@dataclass(frozen=True)
class _Chunk:
    """Consecutive frames of one sequence from `start`; `evaluated[i]`: is frame `start + i` scored."""

    sequence: int
    start: int
    gt_paths: tuple[Path, ...]
    pred_paths: tuple[Path, ...]
    evaluated: tuple[bool, ...]


@dataclass(frozen=True)
class _FrameResult:
    """GT ids of a frame, and for a scored frame {id: (J, F)} for every id in GT or prediction."""

    gt_ids: frozenset[int]
    scores: dict[int, tuple[float, float]] | None
    pred_path: Path


def _score_chunk(chunk: _Chunk) -> list[_FrameResult]:
    results = []
    for gt_path, pred_path, evaluated in zip(chunk.gt_paths, chunk.pred_paths, chunk.evaluated, strict=True):
        gt, gt_ids = read_ids(gt_path)
        if not evaluated:
            results.append(_FrameResult(gt_ids, None, pred_path))
            continue
        pred, pred_ids = read_ids(pred_path)
        if pred.shape != gt.shape:
            raise DataError(
                f"{pred_path}: prediction size {pred.shape} (H, W) differs from the ground truth {gt_path} "
                f"{gt.shape}; write masks at the original frame resolution"
            )
        radius = tolerance_radius(*gt.shape)
        scores = {}
        for object_id in sorted(gt_ids | pred_ids):
            scores[object_id] = frame_measures(gt == object_id, pred == object_id, radius)
        results.append(_FrameResult(gt_ids, scores, pred_path))
    return results


def _chunks(sequences: list[SequenceFiles]) -> Iterator[_Chunk]:
    for index, files in enumerate(sequences):
        count = len(files.gt_paths)
        for start in range(0, count, CHUNK_FRAMES):
            stop = min(start + CHUNK_FRAMES, count)
            yield _Chunk(
                sequence=index,
                start=start,
                gt_paths=files.gt_paths[start:stop],
                pred_paths=files.pred_paths[start:stop],
                evaluated=tuple(0 < frame < count - 1 for frame in range(start, stop)),
            )


def _object_scores(files: SequenceFiles, frames: list[_FrameResult]) -> list[ObjectScores]:
    objects = sorted(set().union(*(frame.gt_ids for frame in frames)))
    if not objects:
        raise DataError(
            f"{files.gt_paths[0].parent}: the ground truth has no object in any frame; nothing to evaluate"
        )
    indices = np.arange(1, len(frames) - 1, dtype=np.int64)
    j = np.ones((len(objects), indices.size))
    f = np.ones((len(objects), indices.size))
    for column, frame_index in enumerate(indices):
        frame = frames[frame_index]
        unknown = sorted(set(frame.scores) - set(objects))
        if unknown:
            raise DataError(
                f"{frame.pred_path}: object id {unknown[0]} is not in the ground truth of {files.name} "
                f"(objects {objects}); predict only the annotated ids (a 0/255 mask is object 1)"
            )
        for row, object_id in enumerate(objects):
            j[row, column], f[row, column] = frame.scores.get(object_id, (1.0, 1.0))
    if objects == [1]:
        names = [files.name]
    else:
        names = [f"{files.name}_{object_id}" for object_id in objects]
    frame_names = tuple(files.gt_paths[index].stem for index in indices)
    return [
        ObjectScores(name=name, frames=indices, j=j[row], f=f[row], frame_names=frame_names)
        for row, name in enumerate(names)
    ]


def worker_pool(processes: int):
    """A pool of `processes` workers started from a fresh server process ("forkserver"), not forked from
    this one: a process whose OpenCV has started its thread pool (any cv2 call before) deadlocks its forked
    children in their first cv2 call. The server preloads numpy, OpenCV and this module once."""
    context = get_context("forkserver")
    context.set_forkserver_preload(["numpy", "cv2", "lsevos.evaluation.evaluate"])
    return context.Pool(processes, ignore_interrupt)


def ignore_interrupt() -> None:
    """Pool worker initialiser: Ctrl-C reaches the whole process group, but only the parent handles it
    (one line, exit 130, see `lsevos.cli`), so the workers print no tracebacks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _report(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def evaluate(
    gt_root: str | os.PathLike,
    pred_root: str | os.PathLike,
    sequences: list[str] | None = None,
    jobs: int = 2,
    progress: Callable[[str], None] | None = _report,
    flat: bool = False,
) -> list[ObjectScores]:
    """Score `PRED_ROOT/<seq>/<frame>.png` against `GT_ROOT/Annotations/480p/<seq>` for every object.

    `sequences` defaults to the dataset's val list; `flat=True` reads the one selected sequence's
    predictions from `PRED_ROOT/<frame>.png`; `jobs` processes share the frames (1: no pool);
    `progress` receives one line per finished sequence. Returns one `ObjectScores` per object, in
    sequence order.
    """
    paired = collect_sequences(gt_root, pred_root, sequences, flat)
    chunks = list(_chunks(paired))
    per_sequence: list[list[_FrameResult]] = [[] for _ in paired]
    remaining = [len(files.gt_paths) for files in paired]
    results: list[ObjectScores] = []
    finished = 0

    def collect(chunk: _Chunk, frames: list[_FrameResult]) -> None:
        nonlocal finished
        per_sequence[chunk.sequence].extend(frames)
        remaining[chunk.sequence] -= len(frames)
        if remaining[chunk.sequence] == 0:
            files = paired[chunk.sequence]
            scores = _object_scores(files, per_sequence[chunk.sequence])
            results.extend(scores)
            finished += 1
            if progress is not None:
                summary = ", ".join(f"{s.name} J {s.j.mean():.3f} F {s.f.mean():.3f}" for s in scores)
                progress(f"evaluate [{finished}/{len(paired)}] {summary}")

    if jobs <= 1 or len(chunks) == 1:
        for chunk in chunks:
            collect(chunk, _score_chunk(chunk))
    else:
        with worker_pool(min(jobs, len(chunks))) as pool:
            for chunk, frames in zip(chunks, pool.imap(_score_chunk, chunks), strict=True):
                collect(chunk, frames)
    return results
