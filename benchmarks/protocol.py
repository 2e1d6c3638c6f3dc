"""The development protocol on whole videos (docs/design.md, "Development protocol"): `lsevos segment` from
the first mask's box on each sequence of a DAVIS-layout folder, two at a time with one thread each, then
`lsevos evaluate`; per-sequence J and F, their means and, against an earlier run, what moved.

    python benchmarks/protocol.py --root ../shared/data/davis2016-train --sequences surf,hockey \\
        --checkpoint stage3.pt --out runs/dev-s1 [--settings '{"seed": 1}'] [--prior-alone] \\
        [--baseline runs/dev-s0] [--jobs 2]

`--settings` (inline JSON or a .json/.yaml file) goes over config/cpu.yaml's `video` block, the recipe the
README's development, check and unseen rows measure (Ours); `--prior-alone` runs the baseline the method
must beat (`lsevos segment --prior-alone`: the same tracker, every crop segmented by the prior alone; no
model needed). OUT receives `masks/<seq>/<frame>.png`, `boxes/<seq>.json` (the search boxes),
`logs/<seq>.log`, `settings.json`, `metrics.csv` (`lsevos evaluate`) and `run.json` (command, commit,
machine, seconds per sequence). Every input is checked before the first video starts, and OUT must be
new or an earlier run of this command; an earlier run's metrics are removed before any video starts. Each
sequence's masks are published by a rename once its run has finished, so a killed run leaves no partial
folder. A failing video stops the run: no other starts (the one running beside it finishes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import yaml

from lsevos.data.io import OUTPUT_MARKER, atomic_output, prepare_output_folder, read_mask
from lsevos.errors import LsevosError
from lsevos.evaluation.metric_files import Row, read_per_sequence
from lsevos.evaluation.readme_tables import machine_description
from lsevos.outputs import release_outputs
from lsevos.settings_text import read_mapping
from lsevos.train.checkpoint import require_fp_head
from lsevos.video.boxes import box_from_mask
from lsevos.video.settings import VideoSettings

REPO = Path(__file__).resolve().parents[1]
MOVED = 0.01  # a sequence whose J moved by more than this is listed against the baseline
OWNER = "benchmarks/protocol.py"  # the marker of OUT: a rerun may replace only a folder this wrote


class ProtocolError(Exception):
    """A bad input, named with its fix (printed as one line, exit status 2)."""


def first_box(root: Path, seq: str) -> str:
    """The box of the sequence's first mask (that of its first frame) as `x0,y0,x1,y1`."""
    annotations = sorted((root / "Annotations" / "480p" / seq).glob("*.png"))
    if not annotations:
        raise ProtocolError(f"{root}/Annotations/480p/{seq}: no masks; the first mask gives the box")
    images = sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))
    if not images or images[0].stem != annotations[0].stem:
        first = images[0].name if images else "none"
        raise ProtocolError(
            f"{annotations[0]}: the first mask is not of the first frame ({first}); the protocol starts "
            "from the first frame's mask"
        )
    try:
        box = box_from_mask(read_mask(annotations[0]) > 0)
    except LsevosError as error:
        raise ProtocolError(str(error)) from None
    if box is None:
        raise ProtocolError(f"{annotations[0]}: the first mask is empty; the box comes from it")
    return ",".join(str(value) for value in box)


def video_settings(text: str | None) -> dict:
    """config/cpu.yaml's `video` block with `--settings` over it, validated as `VideoSettings`."""
    values = yaml.safe_load((REPO / "config" / "cpu.yaml").read_text())["video"]
    try:
        merged = {**values, **(read_mapping(text, "--settings") if text else {})}
    except LsevosError as error:  # names the option or the file, and the fix
        raise ProtocolError(str(error)) from None
    try:
        VideoSettings.from_dict(merged)
    except LsevosError as error:  # the settings model names the key and the fix
        raise ProtocolError(f"--settings: {error}") from None
    return merged


def compare(baseline: dict[str, Row], current: dict[str, Row]) -> list[str]:
    """Lines: each sequence whose J moved by more than `MOVED`, then the means of J and F over the
    sequences of both runs, baseline -> current (%). The arguments are `read_per_sequence` rows."""
    shared = [seq for seq in current if seq in baseline]
    lines = [
        f"  {seq:24s} J {100 * baseline[seq]['J_M']:5.1f} -> {100 * current[seq]['J_M']:5.1f}"
        for seq in shared
        if abs(current[seq]["J_M"] - baseline[seq]["J_M"]) > MOVED
    ]
    if not shared:
        return ["  no sequence is in both runs"]
    mean = [
        sum(rows[seq][column] for seq in shared) / len(shared)
        for rows in (baseline, current)
        for column in ("J_M", "F_M")
    ]
    before, after = f"{100 * mean[0]:.1f} / {100 * mean[1]:.1f}", f"{100 * mean[2]:.1f} / {100 * mean[3]:.1f}"
    lines.append(f"  mean over the {len(shared)} sequences of both runs: J / F {before} -> {after}")
    return lines


def check_inputs(args) -> tuple[Path, dict[str, str], dict, dict | None]:
    """Every input checked before any video starts: (root, {sequence: its first box}, settings, the
    baseline's metrics or None)."""
    root = Path(args.root).resolve()  # the commands run in OUT (`run_one`)
    for part in ("JPEGImages/480p", "Annotations/480p"):
        if not (root / part).is_dir():
            raise ProtocolError(f"--root {root}: no {part} folder; give a DAVIS-layout folder")
    sequences = [seq for seq in args.sequences.split(",") if seq]
    missing = [seq for seq in sequences if not (root / "JPEGImages/480p" / seq).is_dir()]
    if missing or not sequences:
        raise ProtocolError(
            f"--sequences: not in {root}/JPEGImages/480p: {', '.join(missing) or '(none given)'}"
        )
    if args.checkpoint is None and not args.prior_alone:
        raise ProtocolError("--checkpoint: needed for Ours (only --prior-alone runs without a model)")
    if args.checkpoint is not None:
        try:  # a file that is no model is refused before any video starts, not in every video's log
            require_fp_head(Path(args.checkpoint))
        except LsevosError as error:
            raise ProtocolError(f"--checkpoint: {error}") from None
    baseline = None
    if args.baseline is not None:
        path = Path(args.baseline) / "metrics.csv"
        if not path.is_file():
            raise ProtocolError(f"--baseline {args.baseline}: no metrics.csv there; give an earlier OUT")
        baseline = read_per_sequence(path)
    boxes = {seq: first_box(root, seq) for seq in sequences}
    settings = video_settings(args.settings)
    inputs = [root] + ([Path(args.baseline)] if args.baseline is not None else [])
    try:  # claimed last, once every input is known to be good
        prepare_output_folder(args.out, OWNER, inputs)
    except LsevosError as error:
        raise ProtocolError(str(error)) from None
    return root, boxes, settings, baseline


def run_one(args, root: Path, seq: str, box: str, out: Path, settings_file: Path) -> float:
    """`lsevos segment` on one sequence from `box`; its masks and boxes published under OUT. Returns its
    seconds."""
    work = out / ".work" / seq
    shutil.rmtree(work, ignore_errors=True)
    command = [
        sys.executable, "-m", "lsevos.cli", "segment", str(root / "JPEGImages/480p" / seq), "--box", box,
        "--out", str(work), "--settings", str(settings_file),
    ]  # fmt: skip
    if args.checkpoint is not None:
        command += ["--checkpoint", str(Path(args.checkpoint).resolve())]
    if args.prior_alone:
        command.append("--prior-alone")
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    if args.checkpoint is None:  # the prior alone: no model from the environment's search either
        environment.pop("LSEVOS_CHECKPOINT", None)
    started = time.perf_counter()
    log = out / "logs" / f"{seq}.log"
    with log.open("w") as handle:
        # run in OUT: the model search of `segment` finds no results*/ there, and `python -m lsevos.cli`
        # imports the installed package (or $PYTHONPATH's), not one in the caller's folder
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=environment, cwd=out)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise ProtocolError(f"{seq}: lsevos segment failed (exit {result.returncode}); see {log}")
    with atomic_output(out / "masks" / seq) as temporary:
        os.replace(work / "masks", temporary)
    with atomic_output(out / "boxes" / f"{seq}.json") as temporary:
        os.replace(work / "boxes.json", temporary)
    shutil.rmtree(work, ignore_errors=True)
    return seconds


def evaluate_command(root: Path, masks: Path, sequences, metrics: Path, jobs: int) -> list[str]:
    """`lsevos evaluate` of the masks of `sequences` against the ground truth of `root`, into `metrics`."""
    return [
        sys.executable, "-m", "lsevos.cli", "evaluate", "--gt", str(root), "--pred", str(masks),
        "--sequences", ",".join(sequences), "--out", str(metrics), "--jobs", str(jobs),
    ]  # fmt: skip


def commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", required=True, help="DAVIS-layout folder (JPEGImages/480p, Annotations/480p)"
    )
    parser.add_argument("--sequences", required=True, help="comma-separated sequence names")
    parser.add_argument("--out", required=True, help="the run's folder")
    parser.add_argument("--checkpoint", help="the model (not needed with --prior-alone)")
    parser.add_argument("--settings", help="video settings over config/cpu.yaml's: inline JSON or a file")
    parser.add_argument("--prior-alone", action="store_true", help="the baseline: the prior alone, one scan")
    parser.add_argument("--baseline", help="an earlier run's OUT: list what moved against it")
    parser.add_argument("--jobs", type=int, default=2, help="videos at a time (default 2, one thread each)")
    args = parser.parse_args(argv)
    try:
        root, boxes, settings, baseline = check_inputs(args)
        sequences = list(boxes)
        out, jobs = Path(args.out).resolve(), max(1, args.jobs)
        for folder in ("logs", "masks", "boxes"):
            (out / folder).mkdir(parents=True, exist_ok=True)
        (out / OUTPUT_MARKER).write_text(f"{OWNER}\n")
        for stale in ("metrics.csv", "run.json"):  # an earlier run's: never beside this run's settings
            (out / stale).unlink(missing_ok=True)
        settings_file = out / "settings.json"
        with atomic_output(settings_file) as temporary:
            temporary.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
        print(f"{len(sequences)} sequences, {jobs} at a time", flush=True)
        started, seconds = time.perf_counter(), {}
        with ThreadPoolExecutor(jobs) as pool:
            futures = {
                pool.submit(run_one, args, root, seq, box, out, settings_file): seq
                for seq, box in boxes.items()
            }
            for future in as_completed(futures):
                seq = futures[future]
                try:
                    seconds[seq] = round(future.result(), 1)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)  # start no other video
                    raise
                done = len(seconds)
                projected = sum(seconds.values()) / done * len(sequences) / jobs
                eta = max(0.0, projected - (time.perf_counter() - started))
                print(
                    f"[{done}/{len(sequences)}] {seq}: {seconds[seq]:.0f} s; about {eta:.0f} s left",
                    flush=True,
                )
        shutil.rmtree(out / ".work", ignore_errors=True)
        evaluate = evaluate_command(root, out / "masks", sequences, out / "metrics.csv", jobs)
        result = subprocess.run(evaluate, capture_output=True, text=True, cwd=out)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
            raise ProtocolError(f"lsevos evaluate failed: {last}")
        print(result.stdout, end="")
        record = {
            "command": ["benchmarks/protocol.py", *(sys.argv[1:] if argv is None else argv)],
            "commit": commit(),
            "machine": machine_description(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "seconds": {"total": round(time.perf_counter() - started, 1), **seconds},
        }
        with atomic_output(out / "run.json") as temporary:
            temporary.write_text(json.dumps(record, indent=1) + "\n")
        if baseline is not None:
            print(f"against {args.baseline}:")
            print("\n".join(compare(baseline, read_per_sequence(out / "metrics.csv"))))
    except (ProtocolError, LsevosError, OSError) as error:
        print(f"protocol: {error}", file=sys.stderr)
        return 2
    finally:
        release_outputs()  # the lock of OUT (a refused run leaves no lock file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
