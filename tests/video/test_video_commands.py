"""The video commands end to end: the workflow's steps, `lsevos segment` on an mp4 and on DAVIS frames."""

from __future__ import annotations

import json
import shutil
import sys

import cv2
import numpy as np
import pytest

from lsevos import cli
from lsevos.data.io import read_mask, write_video
from lsevos.data.synthetic import SyntheticSettings, render_video
from lsevos.errors import ConfigError
from lsevos.video.boxes import box_from_mask, enlarge_box
from lsevos.video.crf import dense_crf
from lsevos.video.settings import VideoSettings

FAST = '{"crop_size": 33, "finetune_epochs": 1, "retrain_epochs": 1, "batch": 2, "finetune_lr": 0.001}'


@pytest.fixture(autouse=True)
def video_commands_only(monkeypatch):
    """The real `lsevos` entry point with only the video commands (independent of other areas' modules)."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("lsevos.video.commands",))


def main(argv: list[str]) -> int:
    return cli.main(argv)


def lsevos(command: str, *positional, **options) -> int:
    """`lsevos COMMAND POSITIONAL... --OPTION VALUE...` in process (`gt_masks=` gives `--gt-masks`)."""
    argv = [command, *map(str, positional)]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return main(argv)


def box_text(box) -> str:
    return ",".join(str(value) for value in box)


@pytest.mark.slow
def test_workflow_steps_chain_through_files(tmp_path, disk_video, tiny_checkpoint):
    folder, masks = disk_video
    first_mask = tmp_path / "first.png"
    cv2.imwrite(str(first_mask), masks[0] * 255)
    common = {"family": "fplse", "settings": FAST}
    ft, scan1, labels, rt = (tmp_path / name for name in ("ft.pt", "scan1", "labels", "rt.pt"))
    assert (
        lsevos("finetune", frames=folder, first_mask=first_mask, checkpoint=tiny_checkpoint, out=ft, **common)
        == 0
    )
    box = box_text(box_from_mask(masks[0]))
    assert lsevos("scan", frames=folder, checkpoint=ft, box=box, out=scan1, **common) == 0
    assert lsevos("pseudo-labels", scan=scan1, out=labels) == 0
    assert lsevos("retrain", frames=folder, labels=labels, checkpoint=ft, out=rt, **common) == 0
    assert lsevos("crf", frames=folder, scan=scan1, out=tmp_path / "scan1_crf", settings=FAST) == 0
    gt = tmp_path / "gt"
    gt.mkdir()
    for index, mask in enumerate(masks):
        cv2.imwrite(str(gt / f"{index:05d}.png"), mask * 255)
    assert lsevos("scan", frames=folder, checkpoint=rt, gt_masks=gt, out=tmp_path / "gtbox", **common) == 0
    for scan in ("scan1", "scan1_crf", "gtbox"):
        assert len(list((tmp_path / scan / "masks").glob("*.png"))) == 6
        assert len(list((tmp_path / scan / "probs").glob("*.png"))) == 6
    boxes = json.loads((tmp_path / "gtbox" / "boxes.json").read_text())
    assert boxes["mode"] == "gtbox" and boxes["family"] == "fplse"
    # GT-box mode searches each frame's true box enlarged by `enlarge` (1.5x), whatever was predicted
    for index in (1, 2, 5):
        expected = enlarge_box(box_from_mask(masks[index]), VideoSettings().enlarge, masks[index].shape)
        assert tuple(boxes["search"][f"{index:05d}"]) == expected, index
    label_files = sorted((tmp_path / "labels").glob("*.png"))
    assert len(label_files) == 6
    for path in label_files:  # background, object, or no label (the scan's unsure pixels)
        assert set(np.unique(read_mask(path)).tolist()) <= {0, 1, 255}, path.name
    # the retraining changed the fine-tuned weights it started from
    import torch

    before = torch.load(ft, map_location="cpu", weights_only=False)["model_state"]
    after = torch.load(rt, map_location="cpu", weights_only=False)["model_state"]
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[name], after[name]) for name in before)


def test_command_errors_are_clear(tmp_path, disk_video, tiny_checkpoint, capsys):
    folder, _ = disk_video
    args = ["scan", "--frames", str(folder), "--checkpoint", str(tiny_checkpoint), "--family", "ours"]
    assert main([*args, "--out", str(tmp_path / "s")]) == 2
    assert "--box" in capsys.readouterr().err
    assert main([*args, "--box", "1,2,3", "--out", str(tmp_path / "s")]) == 2
    assert "x0,y0,x1,y1" in capsys.readouterr().err
    assert main([*args, "--box", "1,1,9,9", "--settings", '{"crop": 3}', "--out", str(tmp_path / "s")]) == 2
    assert "'crop'" in capsys.readouterr().err
    assert main([*args[:-1], "nope", "--box", "1,1,9,9", "--out", str(tmp_path / "s")]) == 2
    assert "unknown family 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_crf_without_the_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydensecrf", None)
    monkeypatch.setitem(sys.modules, "pydensecrf.densecrf", None)
    with pytest.raises(ConfigError, match=r"pip install 'lsevos\[crf\]'"):
        dense_crf(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32), VideoSettings())


def test_dense_crf_snaps_a_blurred_probability_to_the_colour_edge():
    frame = np.full((40, 40, 3), 20, dtype=np.uint8)
    frame[:, 20:] = 230
    truth = np.zeros((40, 40), dtype=bool)
    truth[:, 20:] = True
    ramp = np.clip((np.arange(40) - 13) / 14.0, 0.0, 1.0)  # 0 up to column 13, 1 from column 27
    prob = np.tile(ramp, (40, 1)).astype(np.float32) * 0.8 + 0.1
    settings = VideoSettings(crf_bilateral_sxy=10.0, crf_bilateral_srgb=20.0, crf_bilateral_weight=10.0)
    refined = dense_crf(frame, prob, settings)
    before = ((prob > 0.5) != truth).sum()
    after = ((refined > 0.5) != truth).sum()
    assert before > 0 and after < before


@pytest.mark.slow
def test_segment_an_mp4_writes_one_mask_per_frame_and_a_playable_overlay(tmp_path, tiny_checkpoint):
    video = render_video("lookalike-pass", 0, SyntheticSettings(video_frames=8))
    mp4 = tmp_path / "clip.mp4"
    assert write_video(mp4, iter(video.frames), fps=10) == 8
    box = box_from_mask(video.labels[0] == 1)
    out, overlay = tmp_path / "segmented", tmp_path / "overlay.mp4"
    code = lsevos(
        "segment", mp4, box=box_text(box), out=out, checkpoint=tiny_checkpoint, overlay=overlay, settings=FAST
    )
    assert code == 0
    masks = sorted((out / "masks").glob("*.png"))
    assert [path.stem for path in masks] == [f"{index:05d}" for index in range(8)]
    assert read_mask(masks[0]).shape == (128, 192)
    assert list(json.loads((out / "boxes.json").read_text())["frames"]) == [p.stem for p in masks]
    capture = cv2.VideoCapture(str(overlay))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == 8 and frames[0].shape == (128, 192, 3)
    hidden = [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]
    assert hidden == [".overlay.mp4.lsevos-output"]  # work dir removed; the overlay's ownership record kept


@pytest.mark.slow
def test_segment_a_davis_sequence_from_the_box_of_its_first_mask(tmp_path, tiny_checkpoint, davis_root):
    davis = davis_root
    frames = tmp_path / "blackswan"
    frames.mkdir()
    for path in sorted((davis / "JPEGImages" / "480p" / "blackswan").glob("*.jpg"))[:8]:
        shutil.copy(path, frames / path.name)
    box = box_from_mask(read_mask(davis / "Annotations" / "480p" / "blackswan" / "00000.png"))
    out = tmp_path / "out"
    assert (
        lsevos("segment", frames, box=box_text(box), out=out, checkpoint=tiny_checkpoint, settings=FAST) == 0
    )
    names = sorted(path.name for path in (out / "masks").glob("*.png"))
    assert names == sorted(path.name.replace(".jpg", ".png") for path in frames.iterdir())
    mask = read_mask(out / "masks" / names[-1])
    assert mask.shape == (480, 854) and set(np.unique(mask)) <= {0, 1}
    assert json.loads((out / "boxes.json").read_text())["search"]["00000"][0] <= box[0]


def test_segment_defaults_the_crop_to_the_pretraining_crop(tmp_path, tiny_checkpoint):
    from lsevos.model.lse_net import LSENet
    from lsevos.train.checkpoint import save_checkpoint
    from lsevos.video.settings import load_settings
    from lsevos.video.steps import pretraining_defaults

    pretrained = tmp_path / "stage3.pt"
    save_checkpoint(pretrained, LSENet("tiny", embed_dim=8), step=1, config={"settings": {"crop": 41}})
    defaults = pretraining_defaults(pretrained)
    # A model other than the paper's ResNet-101 adapts with the CPU configurations' switches.
    cpu = {"optimizer": "adam", "epoch_definition": "full_batches", "pseudo_ignore_margin": 0.2}
    assert defaults == {"crop_size": 41, **cpu}
    assert pretraining_defaults(tiny_checkpoint) == cpu
    assert load_settings('{"batch": 2}', defaults).crop_size == 41
    assert load_settings('{"crop_size": 33, "optimizer": "sgd"}', defaults).optimizer == "sgd"
    assert load_settings(None, defaults) == VideoSettings(crop_size=41, **cpu)
    resnet = {"settings": {"crop": 321}}
    payload = {"config": resnet, "model_config": {"backbone": "resnet101", "embed_dim": 64}}
    assert pretraining_defaults(pretrained, payload) == {"crop_size": 321}  # the paper's own adaptation


def test_figure_lse_writes_a_three_panel_png(tmp_path, capsys):
    import torch
    from PIL import Image

    from lsevos.cli import main
    from lsevos.model.lse_net import LSENet
    from lsevos.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, LSENet("tiny", embed_dim=8), step=0, config={"stage": "test"})
    frame = tmp_path / "00000.png"
    Image.fromarray(np.full((40, 60, 3), 90, dtype=np.uint8)).save(frame)
    out = tmp_path / "lse.png"
    code = main(
        [
            "figure-lse",
            "--frame",
            str(frame),
            "--box",
            "10,10,30,25",
            "--checkpoint",
            str(checkpoint),
            "--settings",
            '{"crop_size": 32}',
            "--out",
            str(out),
        ]
    )
    assert code == 0
    width, height = Image.open(out).size
    assert width > 2 * height  # three panels side by side
    text = tmp_path / "lse.txt"
    argv = ["figure-lse", "--frame", str(frame), "--box", "10,10,30,25", "--checkpoint", str(checkpoint)]
    assert main([*argv, "--out", str(text)]) == 2 and not text.exists()
    assert f"--out {text}: the figure is written as a PNG" in capsys.readouterr().err


def test_lse_panels_are_the_enlarged_box_crop_its_fp_probability_and_lse(tmp_path):
    import torch

    from lsevos.model.lse_net import LSENet
    from lsevos.model.projection import embedding_to_rgb
    from lsevos.train.checkpoint import save_checkpoint
    from lsevos.video.boxes import crop_and_resize
    from lsevos.video.lse_figure import lse_panels

    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8).eval()
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, model, step=0, config={"stage": "test"})
    rows, cols = np.mgrid[0:40, 0:60]
    frame = np.stack([cols * 4, rows * 6, (rows + cols) * 2], axis=-1).astype(np.uint8)  # no two places alike
    crop, probability, rgb = lse_panels(checkpoint, frame, (10, 10, 30, 25), 32, 1.5)
    # box 21x16 enlarged 1.5x around its centre (20.5, 18): 31.5 x 24, x 4.75..36.25 -> 4..36, y 6..29
    assert np.array_equal(crop, crop_and_resize(frame, (4, 6, 36, 29), 32))
    with torch.no_grad():
        output = model(torch.from_numpy(crop.copy()).permute(2, 0, 1)[None].float() / 255)
    assert np.allclose(probability, torch.sigmoid(output.fg_logit)[0, 0].numpy(), atol=1e-6)
    assert probability.shape == (32, 32) and rgb.shape == (32, 32, 3)
    assert np.allclose(rgb, embedding_to_rgb(output.lse[0].numpy()), atol=1e-5)


def test_segment_prior_alone_is_the_workflows_prior_scan_without_a_model(
    tmp_path, disk_video, tiny_checkpoint, capsys
):
    """`lsevos segment --prior-alone` and the workflow's `prior` step (`lsevos scan` without a model, with
    the settings of `workflow_plan.prior_settings_values`) write the same masks from the same first box; no
    fine-tune runs, and the real U^2-Net-p finds the red disk the random network could not."""
    from lsevos.video.variants import PRIOR_ALONE

    folder, masks = disk_video
    box = box_text(box_from_mask(masks[0]))
    settings = json.loads(FAST)
    alone = tmp_path / "alone"
    options = ["--box", box, "--checkpoint", str(tiny_checkpoint), "--settings", FAST, "--out", str(alone)]
    assert main(["segment", str(folder), *options, "--prior-alone"]) == 0
    assert "the prior alone segments every crop: one scan, no fine-tune" in capsys.readouterr().err
    scanned = tmp_path / "scan"
    step = json.dumps({**settings, **PRIOR_ALONE, "device": "cpu"})
    assert lsevos("scan", frames=folder, out=scanned, box=box, family="ours", settings=step) == 0
    for index, truth in enumerate(masks):
        name = f"{index:05d}.png"
        segmented, scan = read_mask(alone / "masks" / name), read_mask(scanned / "masks" / name)
        assert np.array_equal(segmented > 0, scan > 0), name
        found = scan > 0
        assert (found & (truth > 0)).sum() / (found | (truth > 0)).sum() > 0.7, name


def test_segment_prior_alone_needs_no_model(tmp_path, disk_video, tiny_checkpoint, capsys, monkeypatch):
    """With no model named or found, `segment --prior-alone` runs on --settings over config/cpu.yaml's video
    settings, in the family asked for, and writes the masks a model with those settings gives (whose
    network it never runs), finding the disk; a missing model that is named is still refused, and so is
    the plain `segment` without a model, each in one line before the output folder is made."""
    import yaml

    from lsevos.video import model_file

    folder, masks = disk_video
    box = box_text(box_from_mask(masks[0]))
    cpu_yaml = model_file.checkout() / model_file.CPU_CONFIG
    cpu_video = yaml.safe_load(cpu_yaml.read_text())["video"]
    as_cpu = json.dumps({**cpu_video, **json.loads(FAST)})
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)  # no models/, no results*/ here, none in the checkout, no $LSEVOS_CHECKPOINT
    monkeypatch.delenv("LSEVOS_CHECKPOINT", raising=False)
    monkeypatch.setattr(model_file, "default_model_paths", lambda root: [root / model_file.DEFAULT_MODEL])
    for family in ("ours", "fp_nozoom"):
        with_model, without = tmp_path / f"with_model_{family}", tmp_path / f"without_{family}"
        argv = ["segment", str(folder), "--box", box, "--prior-alone", "--family", family, "--out"]
        model = ["--checkpoint", str(tiny_checkpoint), "--settings", as_cpu]
        assert main([*argv, str(with_model), *model]) == 0
        capsys.readouterr()
        assert main([*argv, str(without), "--settings", FAST]) == 0
        said = capsys.readouterr().err
        assert "the prior alone segments every crop: one scan, no fine-tune" in said
        how = f"none found: the prior alone on --settings over the video settings of {cpu_yaml}"
        assert f"segment: no model ({how}), family {family}" in said
        names = sorted(path.name for path in (with_model / "masks").glob("*.png"))
        assert len(names) == len(masks)
        for name, truth in zip(names, masks, strict=True):
            found = read_mask(without / "masks" / name) > 0
            assert np.array_equal(found, read_mask(with_model / "masks" / name) > 0), (family, name)
            assert (found & (truth > 0)).sum() / (found | (truth > 0)).sum() > 0.7, (family, name)
    for named in (["--checkpoint", str(tmp_path / "missing.pt")], []):
        refused = tmp_path / "refused"
        argv = ["segment", str(folder), "--box", box, "--settings", FAST, "--out", str(refused), *named]
        assert main([*argv, "--prior-alone"] if named else argv) == 2
        error = capsys.readouterr().err.strip()
        assert error.count("\n") == 0 and "make model" in error, error
        assert ("missing.pt does not exist" in error) if named else ("no model:" in error)
        assert not refused.exists()


def test_scan_without_a_model_is_refused_for_settings_that_run_the_network(tmp_path, disk_video, capsys):
    """Only the prior alone scans without a checkpoint: the plain settings, or the prior alone with its
    weight scaled by evidence, are refused in one line before the output folder is made."""
    from lsevos.video.variants import PRIOR_ALONE

    folder, masks = disk_video
    box = box_text(box_from_mask(masks[0]))
    network_settings = [FAST, json.dumps({**json.loads(FAST), **PRIOR_ALONE, "saliency_evidence": True})]
    for settings in network_settings:
        out = tmp_path / "scan"
        assert lsevos("scan", frames=folder, out=out, box=box, family="ours", settings=settings) == 2
        error = capsys.readouterr().err.strip()
        assert "a checkpoint (--checkpoint) is needed" in error and len(error.splitlines()) == 1
        assert not out.exists()
