"""The cpu recipe's generalisation figures (`metrics/cpu-recipe.json`, the README's first results table) by
one command: three models pretrained as config/cpu.yaml pretrains, each on copy-paste objects from the 20
DAVIS 2016 train sequences it does not evaluate; each set of videos run by `benchmarks/protocol.py` (Ours,
and the same tracker driven by the prior alone) and by `lsevos scan --gt-masks` (the prior alone given the
true box on every frame); the stress suite by `benchmarks/recipe_check.py`; then the metrics file.

    python benchmarks/cpu_recipe.py --train ../shared/data/davis2016-train \\
        --val ../shared/data/davis2016 [--work results/cpu-recipe] [--out metrics/cpu-recipe.json]

About 70 minutes on 2 CPU cores. WORK holds only what this command writes. Each step writes its own
folder there; a rerun skips a video step whose last file is newer than its model (the pretraining is
Snakemake's to redo or skip), so a killed run goes on where it stopped; `--again` reruns every video step.
The metrics file is written last, by a rename; `lsevos readme-tables --write README.md` then puts it into
the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml
from protocol import (  # benchmarks/protocol.py, beside this file
    ProtocolError,
    evaluate_command,
    first_box,
    video_settings,
)

from lsevos.data.io import OUTPUT_MARKER, atomic_output, check_writable, prepare_output_folder
from lsevos.data.stress import read_suite
from lsevos.errors import LsevosError
from lsevos.evaluation.metric_files import read_per_sequence, summary
from lsevos.evaluation.readme_tables import read_metrics, run_record
from lsevos.outputs import release_outputs
from lsevos.video.variants import PRIOR_ALONE
from lsevos.workflow_plan import checkpoint as workflow_checkpoint

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "cpu.yaml"
OWNER = "benchmarks/cpu_recipe.py"  # the marker of WORK: a rerun may write only into a folder this wrote
STRESS_FRAMES, STRESS_SEED = 30, 0  # the stress suite's videos: frames each, the seed that builds them

# The 30 DAVIS 2016 train sequences in three sets of ten. Development: the videos looked at while deciding
# (docs/design.md, "Development protocol"); unseen and third: every second of the other 20 in alphabetical
# order, and the rest, each evaluated only after the decisions.
DEVELOPMENT = [
    *("bmx-bumps", "drift-turn", "dog-agility", "hockey", "horsejump-low", "kite-walk", "motocross-bumps"),
    *("paragliding", "soccerball", "surf"),
]
UNSEEN = [
    *("bear", "breakdance-flare", "car-turn", "elephant", "hike", "mallard-fly", "motorbike", "rollerblade"),
    *("stroller", "tennis"),
]
THIRD = [
    "boat",
    "bus",
    "dance-jump",
    "flamingo",
    "lucia",
    "mallard-water",
    "rhino",
    "scooter-gray",
    "swing",
    "train",
]


@dataclass(frozen=True)
class VideoSet:
    name: str  # its folder under WORK/runs
    key: str  # the metrics file's dataset key (the README's "data" column)
    root: str  # "train" or "val"
    sequences: tuple[str, ...]
    model: str  # the name of the model that runs it (`MODELS`)


# Each model: the train sequences whose objects it pastes (never one of the videos it runs).
MODELS = {
    "dev": tuple(sorted(UNSEEN + THIRD)),
    "unseen": tuple(sorted(DEVELOPMENT + THIRD)),
    "third": tuple(sorted(DEVELOPMENT + UNSEEN)),
}
STRESS_KEY = "stress suite: {mode}"
STRESS_VARIANT = "ours_static"
TRUE_BOX_VARIANT = "prior alone, true box (x1.5) every frame"
CONFIG_NAME = "cpu-recipe"
"""The run record's `config` of the metrics file this command writes."""
TITLE = "`cpu` recipe on videos its pretraining never saw: development, check, unseen and stress suite"
NOTE = (
    "All by `python benchmarks/cpu_recipe.py --train <DAVIS 2016 train> --val <DAVIS 2016 val>`. "
    "Development: 10 DAVIS 2016 train sequences, looked at while deciding; check: the 10 shared val "
    "sequences; unseen "
    f"(second fold): {', '.join(UNSEEN)}; third fold: {', '.join(THIRD)}; the last three sets run after "
    "the decisions. Each set is run by a model pretrained as config/cpu.yaml pretrains, with copy-paste "
    "objects from the 20 train sequences outside the set (the check by the development model). Whole "
    "videos from the first mask's box by `benchmarks/protocol.py`: Ours is `lsevos segment` with "
    "config/cpu.yaml's video settings (fine-tune, two scans, retraining, `test_flip`, `follow_appearance`), "
    "prior is `lsevos segment --prior-alone` (the same tracker, every crop segmented by the salient-object "
    "prior alone, one scan); the true-box rows give the prior alone the ground truth's box enlarged 1.5x "
    "on every frame (`lsevos scan --gt-masks`). Stress suite: `lsevos stress-suite` from the check "
    f"sequences ({STRESS_FRAMES} frames, seed {STRESS_SEED}), fine-tune and scan 1 (Ours (static)) by "
    "`benchmarks/recipe_check.py` with the development model."
)


class RecipeError(Exception):
    """A bad input or a failed step, named with its fix (printed as one line, exit status 2)."""


def video_sets(check: list[str]) -> list[VideoSet]:
    return [
        VideoSet(
            "development",
            "DAVIS 2016 train, 10 (development), whole videos",
            "train",
            tuple(DEVELOPMENT),
            "dev",
        ),
        VideoSet("check", "DAVIS 2016 val, 10 shared (check), whole videos", "val", tuple(check), "dev"),
        VideoSet(
            "unseen",
            "DAVIS 2016 train, 10 unseen (second fold), whole videos",
            "train",
            tuple(UNSEEN),
            "unseen",
        ),
        VideoSet(
            "third", "DAVIS 2016 train, 10 unseen (third fold), whole videos", "train", tuple(THIRD), "third"
        ),
    ]


def check_sequences() -> list[str]:
    """The check videos: config/cpu.yaml's DAVIS sequences (the 10 shared val sequences)."""
    return list(yaml.safe_load(CONFIG.read_text())["sequences"]["davis"])


def model_overlay(name: str, train: Path, work: Path) -> dict:
    """The configuration over config/cpu.yaml that pretrains model `name` under WORK/models/<name>."""
    return {
        "results_dir": str(work / "models" / name),
        "pretrain": {
            "copy_paste": {"davis_root": str(train), "sequences": list(MODELS[name])},
            "folds": None,
        },
    }


def checkpoint(name: str, work: Path) -> Path:
    """Model `name`'s stage-3 checkpoint, where the workflow writes it."""
    return Path(workflow_checkpoint({"results_dir": str(work / "models" / name)}, "all", "3"))


def check_inputs(train: Path, val: Path, check: list[str], work: Path, out: Path) -> None:
    """Every sequence each step reads (its first mask gives the box), WORK and the metrics file, before the
    first step starts; WORK is claimed last."""
    for video_set in video_sets(check):  # a model never pastes objects of a video it runs (guards an edit)
        overlap = set(MODELS[video_set.model]) & set(video_set.sequences)
        if overlap:
            raise RecipeError(f"the {video_set.model} model pastes {sorted(overlap)}, which it evaluates")
    for root, names, option in ((train, DEVELOPMENT + UNSEEN + THIRD, "--train"), (val, check, "--val")):
        for part in ("JPEGImages/480p", "Annotations/480p"):
            missing = [seq for seq in names if not (root / part / seq).is_dir()]
            if missing:
                raise RecipeError(
                    f"{option} {root}: no {part}/{missing[0]} ({len(missing)} sequence(s) missing); give the "
                    f"DAVIS 2016 {'train' if option == '--train' else 'val'} folder"
                )
        for seq in names:
            try:
                first_box(root, seq)
            except ProtocolError as error:
                raise RecipeError(f"{option}: {error}") from None
    check_writable(out, "--out", "file")
    if out.is_file():  # replaced only when it is an earlier metrics file of this command
        try:
            run = read_metrics(out).get("run")
        except LsevosError:
            run = None
        if not isinstance(run, dict) or run.get("config") != CONFIG_NAME:
            raise RecipeError(
                f"--out {out}: an existing file that is not a metrics file of this command (run config "
                f"{CONFIG_NAME!r}); give a new file name, or move or delete this file yourself"
            )
    prepare_output_folder(work, OWNER, [train, val], "--work")
    work.mkdir(parents=True, exist_ok=True)
    (work / OUTPUT_MARKER).write_text(f"{OWNER}\n")


def run(command: list[str], log: Path) -> None:
    """One step's command, its output to `log`; `RecipeError` naming the log when it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    name = " ".join(command[2:4]) if command[1] == "-m" else Path(command[1]).name  # e.g. "lsevos.cli scan"
    print(f"    {name}: its progress in {log}", flush=True)
    # the workflow's rules call `lsevos` by name: this interpreter's, one torch thread per process
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    environment = {**os.environ, "PATH": path, "OMP_NUM_THREADS": "1"}
    with log.open("w") as handle:
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO, env=environment)
    if result.returncode != 0:
        tail = (log.read_text().strip().splitlines() or ["(no output)"])[-1]
        raise RecipeError(f"{name} failed (exit {result.returncode}): {tail}; see {log}")


def pretrain(name: str, train: Path, work: Path) -> None:
    overlay = work / "models" / f"{name}.yaml"
    overlay.parent.mkdir(parents=True, exist_ok=True)
    overlay.write_text(yaml.safe_dump(model_overlay(name, train, work), sort_keys=False))
    command = [
        sys.executable, "-m", "snakemake", str(checkpoint(name, work)), "--cores", "2",
        "--rerun-incomplete", "--configfile", str(CONFIG), str(overlay),
    ]  # fmt: skip
    run(command, work / "logs" / f"pretrain-{name}.log")


def protocol(video_set: VideoSet, root: Path, work: Path, variant: str) -> Path:
    """`benchmarks/protocol.py` on the set: Ours (`variant` "ours") or the prior alone ("prior")."""
    out = work / "runs" / video_set.name / variant
    command = [
        sys.executable, str(REPO / "benchmarks" / "protocol.py"), "--root", str(root),
        "--sequences", ",".join(video_set.sequences), "--out", str(out),
    ]  # fmt: skip
    if variant == "prior":
        command.append("--prior-alone")
    else:
        command += ["--checkpoint", str(checkpoint(video_set.model, work))]
    run(command, work / "logs" / f"{video_set.name}-{variant}.log")
    return out / "metrics.csv"


def true_box(video_set: VideoSet, root: Path, work: Path) -> Path:
    """The prior alone given the true box (x1.5) on every frame: `lsevos scan --gt-masks` per sequence."""
    out = work / "runs" / video_set.name / "true-box"
    # config/cpu.yaml's video block as protocol.py reads and validates it, the prior alone's settings over it
    settings = {**video_settings(None), **PRIOR_ALONE}
    (out / "scans").mkdir(parents=True, exist_ok=True)
    settings_file = out / "settings.json"
    settings_file.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")

    def scan(seq: str) -> None:
        annotations = root / "Annotations/480p" / seq
        command = [
            sys.executable, "-m", "lsevos.cli", "scan", "--frames", str(root / "JPEGImages/480p" / seq),
            "--family", "ours", "--first-mask", str(sorted(annotations.glob("*.png"))[0]),
            "--gt-masks", str(annotations), "--settings", str(settings_file),
            "--out", str(out / "scans" / seq),
        ]  # fmt: skip
        run(command, out / "logs" / f"{seq}.log")

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(scan, seq) for seq in video_set.sequences]
        for future in as_completed(futures):
            if future.exception() is not None:
                pool.shutdown(wait=False, cancel_futures=True)  # start no other scan
                future.result()
    masks = out / "masks"
    shutil.rmtree(masks, ignore_errors=True)
    masks.mkdir()
    for seq in video_set.sequences:
        (masks / seq).symlink_to(out / "scans" / seq / "masks")
    return evaluate(root, masks, video_set.sequences, out)


def evaluate(root: Path, masks: Path, sequences, out: Path) -> Path:
    metrics = out / "metrics.csv"
    run(evaluate_command(root, masks, sequences, metrics, 2), out / "logs" / "evaluate.log")
    return metrics


def stress(val: Path, check: list[str], work: Path) -> tuple[Path, Path]:
    """The stress suite built from the check sequences, run by the development model: (suite, metrics)."""
    suite, out = work / "stress" / "suite", work / "stress"
    if not (suite / "stress.json").is_file():
        shutil.rmtree(suite, ignore_errors=True)
        command = [
            sys.executable, "-m", "lsevos.cli", "stress-suite", "--davis-root", str(val), "--out", str(suite),
            "--sequences", ",".join(check), "--frames", str(STRESS_FRAMES), "--seed", str(STRESS_SEED),
        ]  # fmt: skip
        run(command, out / "logs" / "stress-suite.log")
    names = sorted(read_suite(suite))
    masks = out / "masks"
    shutil.rmtree(masks, ignore_errors=True)
    command = [
        sys.executable, str(REPO / "benchmarks" / "recipe_check.py"), "--checkpoint",
        str(checkpoint("dev", work)), "--root", str(suite), "--sequences", ",".join(names),
        "--masks", str(masks), "--frames", str(STRESS_FRAMES),
    ]  # fmt: skip
    run(command, out / "logs" / "recipe-check.log")
    return suite, evaluate(suite, masks, names, out)


def assemble(rows: dict[str, dict[str, Path]], suite: Path, stress_csv: Path) -> dict:
    """The metrics file: {dataset: {variant: `summary` of its per-sequence CSV}}, the stress suite's modes
    as datasets of their own, and the run record."""
    content: dict = {
        key: {variant: summary(read_per_sequence(path)) for variant, path in variants.items()}
        for key, variants in rows.items()
    }
    per_sequence, modes = read_per_sequence(stress_csv), read_suite(suite)
    for mode in dict.fromkeys(modes.values()):
        chosen = {name: per_sequence[name] for name, of in modes.items() if of == mode}
        content[STRESS_KEY.format(mode=mode)] = {STRESS_VARIANT: summary(chosen)}
    content["run"] = {**run_record(CONFIG_NAME), "title": TITLE, "note": NOTE}
    measured = sorted({json.loads(path.read_text())["commit"] for path in run_files(rows)})
    if measured:  # a resumed run names every commit its protocol runs were measured at
        content["run"]["commit"] = ", ".join(measured)
    return content


def run_files(rows: dict[str, dict[str, Path]]) -> list[Path]:
    """The `run.json` of each protocol run among `rows` (the true-box runs have none)."""
    found = [path.parent / "run.json" for variants in rows.values() for path in variants.values()]
    return [path for path in found if path.is_file()]


@dataclass
class Step:
    what: str
    minutes: float  # on the 2-core reference machine: the ETA is projected from them
    run: Callable[[], object]
    done: Path | None = None  # the file the step writes last; None: the step is Snakemake's to skip
    model: Path | None = None  # the model it runs: a `done` older than it is stale

    def finished(self) -> bool:
        if self.done is None or not self.done.is_file():
            return False
        return self.model is None or self.done.stat().st_mtime > self.model.stat().st_mtime


def plan(
    train: Path, val: Path, work: Path, check: list[str]
) -> tuple[list[Step], dict[str, dict[str, Step]]]:
    """The steps in order, and the video steps by dataset key and variant."""
    steps = [Step(f"pretrain the {name} model", 5.0, partial(pretrain, name, train, work)) for name in MODELS]
    by_set: dict[str, dict[str, Step]] = {}
    for video_set in video_sets(check):
        root = train if video_set.root == "train" else val
        folder, model = work / "runs" / video_set.name, checkpoint(video_set.model, work)
        by_set[video_set.key] = {
            "ours": Step(
                f"Ours on {video_set.key}", 7.5, partial(protocol, video_set, root, work, "ours"),
                folder / "ours" / "run.json", model,
            ),
            "prior": Step(
                f"the prior alone on {video_set.key}", 2.3, partial(protocol, video_set, root, work, "prior"),
                folder / "prior" / "run.json",
            ),
            TRUE_BOX_VARIANT: Step(
                f"the prior alone, true box, on {video_set.key}", 2.0,
                partial(true_box, video_set, root, work), folder / "true-box" / "metrics.csv",
            ),
        }  # fmt: skip
        steps += by_set[video_set.key].values()
    stress_step = Step(
        "the stress suite", 5.0, partial(stress, val, check, work), work / "stress" / "metrics.csv",
        checkpoint("dev", work),
    )  # fmt: skip
    return [*steps, stress_step], by_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, help="the DAVIS 2016 train folder (DAVIS layout)")
    parser.add_argument("--val", required=True, help="the DAVIS 2016 val folder holding the check sequences")
    parser.add_argument("--work", default=str(REPO / "results/cpu-recipe"), help="models and runs")
    parser.add_argument("--out", default=str(REPO / "metrics/cpu-recipe.json"), help="the metrics file")
    parser.add_argument("--again", action="store_true", help="rerun every video step (not the pretraining)")
    args = parser.parse_args(argv)
    try:
        train, val, work, out = (
            Path(value).resolve() for value in (args.train, args.val, args.work, args.out)
        )
        check = check_sequences()
        check_inputs(train, val, check, work, out)
        steps, by_set = plan(train, val, work, check)
        to_run = [step for step in steps if args.again or not step.finished()]
        remaining = sum(step.minutes for step in to_run)
        print(f"{len(to_run)} of {len(steps)} steps to run, about {remaining:.0f} min on 2 cores", flush=True)
        measured, estimated, started = 0.0, 0.0, time.perf_counter()
        for number, step in enumerate(steps, 1):
            remaining -= step.minutes if step in to_run else 0.0
            if step.finished() and not args.again:
                print(f"[{number}/{len(steps)}] {step.what}: done by an earlier run", flush=True)
                continue
            print(f"[{number}/{len(steps)}] {step.what}", flush=True)
            if step.done is not None:  # never trusted again until the step has finished
                step.done.unlink(missing_ok=True)
            begun = time.perf_counter()
            step.run()
            if step.done is not None:  # a video step: the pace of this machine against the estimates
                measured, estimated = measured + time.perf_counter() - begun, estimated + step.minutes * 60
            pace = measured / estimated if estimated else 1.0
            so_far = (time.perf_counter() - started) / 60
            print(f"    {so_far:.1f} min so far, about {remaining * pace:.0f} min left", flush=True)
        rows = {
            key: {variant: Path(str(step.done)).parent / "metrics.csv" for variant, step in variants.items()}
            for key, variants in by_set.items()
        }
        content = assemble(rows, work / "stress" / "suite", work / "stress" / "metrics.csv")
        with atomic_output(out) as temporary:
            temporary.write_text(json.dumps(content, indent=1) + "\n")
        print(f"wrote {out}; `lsevos readme-tables --write README.md` puts it into the README")
    except (RecipeError, LsevosError, OSError) as error:
        print(f"cpu_recipe: {error}", file=sys.stderr)
        return 2
    finally:
        release_outputs()  # the lock of --work
    return 0


if __name__ == "__main__":
    sys.exit(main())
