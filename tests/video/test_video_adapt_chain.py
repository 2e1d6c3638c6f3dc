"""`lsevos adapt`: the five workflow steps in one process, equal to the steps run one by one, and a chain
killed after a step resumes there (the finished steps are not run again)."""

from __future__ import annotations

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from lsevos import cli
from lsevos.data.io import read_mask
from lsevos.errors import DataError
from lsevos.video import chain
from lsevos.video.adaptation import Adaptation, Prompt
from lsevos.video.boxes import box_from_mask
from lsevos.video.scan_folder import read_boxes
from lsevos.video.settings import load_settings

FAST = '{"crop_size": 33, "finetune_epochs": 1, "retrain_epochs": 1, "batch": 2, "finetune_lr": 0.001}'


@pytest.fixture(autouse=True)
def video_commands_only(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("lsevos.video.commands",))


def lsevos(command: str, **options) -> int:
    argv = [command]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return cli.main(argv)


def outputs(root):
    return chain.ChainOutputs(*(root / name for name in ("ft.pt", "scan1", "labels", "rt.pt", "scan2")))


def adapt_options(root, folder, first_mask, checkpoint):
    out = outputs(root)
    return {
        "frames": folder, "first_mask": first_mask, "checkpoint": checkpoint, "family": "ours",
        "settings": FAST, "finetune_out": out.finetune, "scan1_out": out.scan1, "labels_out": out.labels,
        "retrain_out": out.retrain, "scan2_out": out.scan2, "resume_dir": root / ".resume",
    }  # fmt: skip


def masks_of(scan_dir, kind="masks"):
    return {path.name: read_mask(path) for path in sorted((scan_dir / kind).glob("*.png"))}


def chain_inputs(tmp_path, disk_video):
    """(frames, first box, fast settings, the five outputs, the resume folder) on the disk video."""
    folder, masks = disk_video
    return folder, box_from_mask(masks[0]), load_settings(FAST), outputs(tmp_path), tmp_path / ".resume"


@pytest.fixture
def first_mask(tmp_path, disk_video):
    path = tmp_path / "first.png"
    cv2.imwrite(str(path), disk_video[1][0] * 255)
    return path


@pytest.mark.slow
def test_adapt_equals_the_steps_one_by_one(tmp_path, disk_video, tiny_checkpoint, first_mask):
    folder, masks = disk_video
    chained = tmp_path / "chained"
    assert lsevos("adapt", **adapt_options(chained, folder, first_mask, tiny_checkpoint)) == 0
    out = outputs(chained)
    assert not (chained / ".resume").exists()
    assert out.finetune.is_file() and out.retrain.is_file() and len(list(out.labels.glob("*.png"))) == 6
    steps = tmp_path / "steps"
    steps.mkdir()
    one = outputs(steps)
    common = {"family": "ours", "settings": FAST}
    box = ",".join(str(v) for v in box_from_mask(masks[0]))
    assert lsevos("finetune", frames=folder, first_mask=first_mask, checkpoint=tiny_checkpoint,
                  out=one.finetune, **common) == 0  # fmt: skip
    assert lsevos("scan", frames=folder, checkpoint=one.finetune, box=box, out=one.scan1, **common) == 0
    assert lsevos("pseudo-labels", scan=one.scan1, settings=FAST, out=one.labels) == 0
    assert lsevos("retrain", frames=folder, labels=one.labels, checkpoint=one.finetune, out=one.retrain,
                  **common) == 0  # fmt: skip
    assert lsevos("scan", frames=folder, checkpoint=one.retrain, box=box, out=one.scan2, **common) == 0
    for name in ("scan1", "scan2"):
        ours, theirs = masks_of(getattr(out, name)), masks_of(getattr(one, name))
        assert len(ours) == 6 and ours.keys() == theirs.keys()
        assert all(np.array_equal(ours[key], theirs[key]) for key in ours), name
    assert json.loads((out.scan2 / "boxes.json").read_text()) == json.loads(
        (one.scan2 / "boxes.json").read_text()
    )


@pytest.mark.slow
def test_a_chain_killed_after_scan_1_resumes_there(
    tmp_path, disk_video, tiny_checkpoint, first_mask, monkeypatch
):
    folder, box, settings, out, resume = chain_inputs(tmp_path, disk_video)
    real_retrain = chain.retrain

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(chain, "retrain", killed)
    with pytest.raises(KeyboardInterrupt):
        chain.run_chain(folder, Prompt(box), tiny_checkpoint, Adaptation("ours", settings), out, resume)
    assert {p.name for p in resume.iterdir()} == {"chain.json", "finetune.pt", "scan1", "pseudo_labels"}
    assert not out.scan1.exists()  # nothing is published before the chain ends
    first_scan = masks_of(resume / "scan1")

    calls = []
    for step in ("finetune", "scan", "write_scan_labels", "track_frames"):
        real = getattr(chain, step)
        monkeypatch.setattr(
            chain, step, lambda *a, _real=real, _step=step, **k: calls.append(_step) or _real(*a, **k)
        )
    monkeypatch.setattr(chain, "retrain", real_retrain)
    chain.run_chain(folder, Prompt(box), tiny_checkpoint, Adaptation("ours", settings), out, resume)
    assert calls == ["track_frames"]  # only scan 2: fine-tune, scan 1 and the labels were kept
    assert not resume.exists()
    published = masks_of(out.scan1)
    assert published.keys() == first_scan.keys()
    assert all(np.array_equal(published[key], first_scan[key]) for key in published)
    assert len(masks_of(out.scan2)) == 6 and out.retrain.is_file()


def test_a_resume_folder_left_by_other_inputs_is_started_over(tmp_path):
    folder = tmp_path / ".resume"
    assert chain.open_resume_folder(folder, {"settings": 1}, None) == []
    (folder / "finetune.pt").write_bytes(b"finished")
    assert chain.open_resume_folder(folder, {"settings": 1}, None) == ["finetune"]
    assert chain.open_resume_folder(folder, {"settings": 2}, None) == []
    assert not (folder / "finetune.pt").exists()


def test_a_folder_that_is_not_a_chains_is_refused_and_kept(tmp_path):
    folder = tmp_path / ".resume"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"not a chain's resume folder"):
        chain.open_resume_folder(folder, {"settings": 1}, None)
    assert (folder / "notes.txt").read_text() == "mine"


def test_adapt_refuses_an_output_equal_to_the_resume_folder(
    tmp_path, disk_video, tiny_checkpoint, first_mask, capsys
):
    options = adapt_options(tmp_path, disk_video[0], first_mask, tiny_checkpoint)
    options["resume_dir"] = options["scan2_out"]
    assert lsevos("adapt", **options) != 0
    assert "six different paths" in capsys.readouterr().err


def test_leftovers_of_a_killed_creation_or_removal_are_removed_and_nothing_else(tmp_path):
    folder = tmp_path / ".resume"
    created = tmp_path / ".resume.new-17"  # killed between mkdir and the rename
    created.mkdir()
    removed = tmp_path / ".resume.old-18"  # killed during the final removal
    (removed / "scan1" / "masks").mkdir(parents=True)
    (removed / ".retrain.tmp-1a2b3c4d.pt").write_bytes(b"")
    foreign = tmp_path / ".resume.old-mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    scratch = tmp_path / ".resume.scratch-x1"  # a killed run's scan 1 and kept prior maps
    (scratch / "scan1").mkdir(parents=True)
    (scratch / "prior").mkdir()
    (scratch / "prior" / "prior.f32").write_bytes(b"\0" * 16)
    kept = tmp_path / ".resume.scratch-x2"  # holds something a chain never writes: not ours
    (kept / "prior").mkdir(parents=True)
    (kept / "notes.txt").write_text("mine")
    assert chain.open_resume_folder(folder, {"settings": 1}, None) == []
    assert not created.exists() and not removed.exists() and not scratch.exists()
    assert (foreign / "notes.txt").read_text() == "mine" and (kept / "notes.txt").exists()


def test_a_later_step_without_its_predecessors_is_not_trusted(tmp_path):
    """Only the unbroken run of finished steps from the first counts: a retrained checkpoint whose scan 1
    is gone was made from outputs that no longer exist, so it is deleted."""
    folder = tmp_path / ".resume"
    chain.open_resume_folder(folder, {"settings": 1}, None)
    (folder / "finetune.pt").write_bytes(b"1")
    (folder / "retrain.pt").write_bytes(b"2")
    assert chain.open_resume_folder(folder, {"settings": 1}, None) == ["finetune"]
    assert not (folder / "retrain.pt").exists()


@pytest.mark.slow
def test_a_kill_while_publishing_reruns_only_what_was_published(
    tmp_path, disk_video, tiny_checkpoint, monkeypatch
):
    """Outputs are moved out last step first: killed after scan 2 was moved (and deleted by the workflow
    manager, as Snakemake does with an unfinished job's outputs), the rerun redoes scan 2 only."""
    folder, box, settings, out, resume = chain_inputs(tmp_path, disk_video)
    real_publish = chain._publish
    published = []

    def publish_then_die(staged, final, owner):
        if published:
            raise KeyboardInterrupt
        real_publish(staged, final, owner)
        published.append(final)

    monkeypatch.setattr(chain, "_publish", publish_then_die)
    with pytest.raises(KeyboardInterrupt):
        chain.run_chain(folder, Prompt(box), tiny_checkpoint, Adaptation("ours", settings), out, resume)
    assert published == [out.scan2]
    shutil.rmtree(out.scan2)  # the workflow manager removes the outputs of the unfinished job
    monkeypatch.setattr(chain, "_publish", real_publish)
    calls = []
    real_write = chain.write_scan
    monkeypatch.setattr(chain, "write_scan", lambda *a, **k: calls.append(a[1]) or real_write(*a, **k))
    chain.run_chain(folder, Prompt(box), tiny_checkpoint, Adaptation("ours", settings), out, resume)
    assert calls == [resume / "scan2"]
    assert all(path.exists() for path in (out.finetune, out.scan1, out.labels, out.retrain, out.scan2))


def test_regenerated_frames_start_the_chain_over(tmp_path, disk_video, tiny_checkpoint):
    """The record holds a digest of the frames' names, sizes and mtimes: new frames at the same path
    make a different record."""
    folder, _ = disk_video
    settings = load_settings(FAST)
    before = chain._record(folder, (1, 2, 3, 4), tiny_checkpoint, "ours", settings)
    frame = sorted(folder.iterdir())[0]
    stat = frame.stat()
    os.utime(frame, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    after = chain._record(folder, (1, 2, 3, 4), tiny_checkpoint, "ours", settings)
    assert before["frames"]["path"] == after["frames"]["path"] and before != after


def test_adapt_refuses_a_resume_folder_holding_an_output_before_any_work(
    tmp_path, disk_video, tiny_checkpoint, first_mask, capsys
):
    options = adapt_options(tmp_path / "out", disk_video[0], first_mask, tiny_checkpoint)
    options["resume_dir"] = tmp_path / "out"  # would hold (and finally remove) the outputs
    assert lsevos("adapt", **options) != 0
    error = capsys.readouterr().err
    assert "--resume-dir" in error and "holds or sits inside the output" in error
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_scan_2_reusing_scan_1s_prior_is_the_same_in_the_chain_resumed_and_as_a_step(
    tmp_path, disk_video, tiny_checkpoint, monkeypatch, capsys
):
    """With `prior_reuse_iou`, scan 2 takes the prior where its crops overlap scan 1's: the chain keeps
    scan 1's maps; a chain resumed after scan 1 and `lsevos scan --prior-from` compute them again on scan
    1's crops, and all three write the same scan 2."""
    from lsevos.video import saliency

    folder, box, _, out, resume = chain_inputs(tmp_path, disk_video)
    text = FAST[:-1] + ', "saliency_weight": 0.7, "saliency_size": 64, "prior_reuse_iou": 0.5}'
    settings = load_settings(text)
    runs = []
    real_map = saliency.Saliency.map
    monkeypatch.setattr(saliency.Saliency, "map", lambda self, crop: runs.append(1) or real_map(self, crop))
    chain.run_chain(folder, Prompt(box), tiny_checkpoint, Adaptation("ours", settings), out, resume)
    assert len(runs) < 1 + 6 + 6  # first-frame labels, scan 1, and scan 2 only where it did not reuse
    whole = {kind: masks_of(out.scan2, kind) for kind in ("masks", "probs")}

    again, resume_again = outputs(tmp_path / "again"), tmp_path / "again" / ".resume"
    real_retrain = chain.retrain
    monkeypatch.setattr(chain, "retrain", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    job = Adaptation("ours", settings)
    with pytest.raises(KeyboardInterrupt):
        chain.run_chain(folder, Prompt(box), tiny_checkpoint, job, again, resume_again)
    monkeypatch.setattr(chain, "retrain", real_retrain)
    chain.run_chain(folder, Prompt(box), tiny_checkpoint, job, again, resume_again)

    elsewhere = tmp_path / "chained-elsewhere"
    shutil.copytree(out.scan1, elsewhere)
    document = read_boxes(elsewhere)
    document["search"] = {f"x{name}": box for name, box in document["search"].items()}
    (elsewhere / "boxes.json").write_text(json.dumps(document))
    step = tmp_path / "step-scan2"
    options = {"frames": folder, "checkpoint": out.retrain, "box": ",".join(map(str, box)), "family": "ours"}
    assert lsevos("scan", **options, prior_from=out.scan1, settings=text, out=step) == 0
    capsys.readouterr()
    # without reuse --prior-from would do nothing; another video's scan 1 does not fit: both refused
    assert lsevos("scan", **options, prior_from=out.scan1, settings=FAST, out=tmp_path / "refused") != 0
    assert "--prior-from needs the video settings prior_reuse_iou > 0" in capsys.readouterr().err
    assert lsevos("scan", **options, prior_from=elsewhere, settings=text, out=tmp_path / "refused") != 0
    assert "frames are not those of the video" in capsys.readouterr().err
    # scan 1's crops 2 px to the right (within the IoU): scan 2's prior comes from there, moved back
    shifted = tmp_path / "shifted-scan1"
    shutil.copytree(out.scan1, shifted)
    document = read_boxes(shifted)
    document["search"] = {name: [b[0] + 2, b[1], b[2] + 2, b[3]] for name, b in document["search"].items()}
    (shifted / "boxes.json").write_text(json.dumps(document))
    moved = tmp_path / "moved-scan2"
    assert lsevos("scan", **options, prior_from=shifted, settings=text, out=moved) == 0
    assert any(not np.array_equal(p, whole["probs"][k]) for k, p in masks_of(moved, "probs").items())
    for scan2 in (again.scan2, step):
        for kind, maps in whole.items():
            ours = masks_of(scan2, kind)
            assert ours.keys() == maps.keys()
            assert all(np.array_equal(ours[key], maps[key]) for key in ours), (scan2, kind)
        assert read_boxes(scan2) == read_boxes(out.scan2)


def test_adapt_refuses_the_prior_alone_before_any_work(
    tmp_path, disk_video, tiny_checkpoint, first_mask, capsys
):
    """Settings whose scans never run the network (the `prior` variant's) leave nothing to fine-tune or
    retrain: `lsevos adapt` and `run_chain` refuse them in one line naming `lsevos scan`, writing nothing."""
    from lsevos.errors import ConfigError
    from lsevos.video.variants import PRIOR_ALONE

    options = adapt_options(tmp_path / "out", disk_video[0], first_mask, tiny_checkpoint)
    options["settings"] = json.dumps({**json.loads(FAST), **PRIOR_ALONE})
    assert lsevos("adapt", **options) == 2
    error = capsys.readouterr().err.strip()
    assert "never run the network" in error and "`lsevos scan`" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    settings = load_settings(options["settings"])
    with pytest.raises(ConfigError, match="lsevos scan"):
        chain.run_chain(
            disk_video[0],
            Prompt((0, 0, 9, 9)),
            tiny_checkpoint,
            Adaptation("ours", settings),
            outputs(tmp_path / "api"),
            tmp_path / "api" / ".resume",
        )
    assert not (tmp_path / "api").exists()
    # with the prior's weight scaled by evidence the network is read: not refused here
    chain.check_adaptable(load_settings(json.dumps({**PRIOR_ALONE, "saliency_evidence": True})))
