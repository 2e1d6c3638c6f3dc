"""Adaptation: first-frame fine-tune, streamed retraining and the two-scan chain."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lsevos.data.io import FrameSource, write_mask
from lsevos.errors import ConfigError
from lsevos.model.lse_net import LSENet
from lsevos.video import adaptation, steps, training
from lsevos.video.adaptation import Adaptation, Prompt
from lsevos.video.boxes import box_from_mask, crop_and_resize, enlarge_box
from lsevos.video.frames import ArrayFrames
from lsevos.video.inference import make_predictor
from lsevos.video.settings import VideoSettings
from lsevos.video.training import (
    AnchoredCrops,
    FirstFrameCrops,
    ScanLabelCrops,
    finetune_first_frame,
    make_optimizer,
    train_on_crops,
)


def counting(monkeypatch, module, name: str) -> list:
    """Replace `module.name` by a wrapper that records each call and runs the original."""
    calls = []
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_predictor_returns_a_probability_map_for_both_heads():
    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8)
    crop = np.random.default_rng(0).integers(0, 255, (33, 33, 3), dtype=np.uint8)
    for head in ("fp", "fused"):
        prob = make_predictor(model, head, torch.device("cpu"))(crop)
        assert prob.shape == (33, 33) and prob.dtype == np.float32
        assert 0.0 <= prob.min() and prob.max() <= 1.0
    with pytest.raises(ConfigError, match="head"):
        make_predictor(model, "fpp", torch.device("cpu"))(crop)


class ColumnsAndRed(torch.nn.Module):
    """A model whose FP logit is `ramp` x (the column index minus the middle column's) + `red` x (the red
    channel - 0.5)."""

    def __init__(self, ramp: float = 1.0, red: float = 0.0):
        super().__init__()
        self.ramp, self.red = ramp, red

    def forward(self, x, heads=("fp",)):
        from types import SimpleNamespace

        columns = torch.arange(x.shape[-1], dtype=torch.float32) - (x.shape[-1] - 1) / 2
        return SimpleNamespace(fg_logit=self.ramp * columns + self.red * (x[:, :1] - 0.5))


def test_test_flip_averages_the_crop_and_its_mirror_image_mirrored_back():
    """A column ramp reads 1 - p in the mirror image (sigmoid(-a) = 1 - sigmoid(a)), mirrored back: the
    mean is 0.5 everywhere; a model that reads only the colours gives the same map with or without."""
    cpu = torch.device("cpu")
    crop = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    plain = make_predictor(ColumnsAndRed(), "fp", cpu)(crop)
    np.testing.assert_allclose(plain[3], 1 / (1 + np.exp(-np.arange(-2.0, 3.0))), rtol=1e-6)
    flipped = make_predictor(ColumnsAndRed(), "fp", cpu, flip=True)(crop)
    assert flipped.shape == (6, 5) and flipped.dtype == np.float32
    np.testing.assert_allclose(flipped, 0.5, atol=1e-6)
    colour = ColumnsAndRed(ramp=0.0, red=8.0)
    expected = 1 / (1 + np.exp(-8.0 * (crop[..., 0] / 255.0 - 0.5)))
    np.testing.assert_allclose(make_predictor(colour, "fp", cpu, flip=True)(crop), expected, rtol=1e-5)


def test_test_flip_reaches_the_first_frame_labels_and_the_scans():
    from types import SimpleNamespace

    from lsevos.video.inference import video_predictor

    crop = np.zeros((4, 7, 3), np.uint8)
    on, off = VideoSettings(device="cpu", test_flip=True), VideoSettings(device="cpu")
    np.testing.assert_allclose(video_predictor(ColumnsAndRed(), "fp", on)(crop), 0.5, atol=1e-6)
    for settings in (on, off):
        run = SimpleNamespace(settings=settings, chosen=SimpleNamespace(head="fp", zoom=True))
        predict = adaptation.scan_predictors(ColumnsAndRed(), None, run, first=None)[0]
        if settings.test_flip:
            np.testing.assert_allclose(predict(crop), 0.5, atol=1e-6)
        else:
            assert predict(crop)[0, 0] < 0.05 and predict(crop)[0, -1] > 0.95


@pytest.mark.slow
def test_training_on_one_labelled_frame_learns_the_object(disk_video):
    folder, masks = disk_video
    frame = FrameSource(folder).read(0)
    settings = VideoSettings(
        crop_size=33,
        batch=2,
        aug_scale=0.1,
        aug_shift=0.05,
        optimizer="adam",
        epoch_definition="full_batches",
    )
    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8)
    box = (0, 0, 63, 47)
    crops = FirstFrameCrops(frame, masks[0], box, settings)
    steps = train_on_crops(model, crops, epochs=20, lr=3e-3, head="fp", settings=settings)
    assert steps == 20  # one frame, full batches: one step of `batch` augmented crops per epoch
    prob = make_predictor(model, "fp", torch.device("cpu"))(crop_and_resize(frame, box, 33))
    truth = crop_and_resize(masks[0], box, 33, nearest=True) == 1
    assert prob[truth].mean() > 0.4 and prob[~truth].mean() < 0.1


def test_the_box_tightness_loss_teaches_the_part_of_the_box_the_labels_leave_out():
    """A red-over-blue disk (a rider on a bike) whose first-frame labels cover its red top half, the rest
    of the box ignored (the 0.6 rule when the network is sure of a part): every row of the box must cross
    the object, so with `box_tightness` the fine-tuned network calls the blue half foreground too."""
    import cv2

    disk = cv2.circle(np.zeros((48, 64), np.uint8), (24, 24), 8, 1, thickness=-1).astype(bool)
    frame = np.full((48, 64, 3), 30, dtype=np.uint8)
    frame[disk] = (220, 20, 20)
    bottom = disk.copy()
    bottom[:25] = False
    frame[bottom] = (20, 20, 220)
    labels = np.zeros((48, 64), dtype=np.uint8)
    labels[16:33, 16:33] = 255  # the user's box (16, 16, 32, 32)
    labels[disk & ~bottom] = 1
    search = enlarge_box((16, 16, 32, 32), 1.5, (48, 64))
    settings = VideoSettings(crop_size=33, batch=2, optimizer="adam", epoch_definition="full_batches")
    blue = crop_and_resize(bottom.astype(np.uint8), search, 33, nearest=True).astype(bool)
    outside = ~crop_and_resize(disk.astype(np.uint8), search, 33, nearest=True).astype(bool)
    means = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = LSENet("tiny", embed_dim=8)
        crops = FirstFrameCrops(frame, labels, search, settings)
        train_on_crops(model, crops, epochs=20, lr=3e-3, head="fp", settings=settings, tightness=weight)
        prob = make_predictor(model, "fp", torch.device("cpu"))(crop_and_resize(frame, search, 33))
        means[weight] = (prob[blue].mean(), prob[outside].mean())
    assert means[1.0][0] > 0.8 and means[1.0][0] > means[0.0][0] + 0.15, means
    assert means[1.0][1] < 0.1  # the background outside the object stays background


def test_head_loss_adds_the_weighted_tightness_loss_of_each_output():
    from lsevos.losses import tightness_loss
    from lsevos.model.fusion import foreground_probability, outputs_needed

    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8).eval()
    with torch.no_grad():
        output = model(torch.rand(2, 3, 33, 33), heads=outputs_needed("fused"))
    labels = torch.zeros(2, 33, 33, dtype=torch.long)
    labels[:, 8:25, 10:20] = 255
    labels[:, 8:16, 12:18] = 1
    fp_term = tightness_loss(output.fg_logit, labels).item()
    fused_term = tightness_loss(foreground_probability(output, "fused"), labels, from_logits=False).item()
    assert fp_term > 0 and fused_term > 0
    for head, added in (("fp", fp_term), ("fused", fp_term + fused_term)):
        plain = training.head_loss(output, labels, head).item()
        weighted = training.head_loss(output, labels, head, 0.5).item()
        assert weighted == pytest.approx(plain + 0.5 * added, rel=1e-5)


def test_the_fine_tune_trains_with_the_settings_box_tightness(monkeypatch, disk_video, fast_settings):
    folder, masks = disk_video
    seen = []
    monkeypatch.setattr(training, "train_on_crops", lambda *args, **kwargs: seen.append(kwargs))
    settings = fast_settings.model_copy(update={"box_tightness": 0.5})
    frame = FrameSource(folder).read(0)
    finetune_first_frame(LSENet("tiny", embed_dim=8), frame, box_from_mask(masks[0]), settings, "fp", True)
    assert seen[0]["tightness"] == 0.5 and seen[0]["stage"] == "fine-tune"


def test_first_frame_finetune_labels_only_inside_the_box(disk_video, fast_settings):
    folder, masks = disk_video
    frame = FrameSource(folder).read(0)
    box = box_from_mask(masks[0])
    torch.manual_seed(0)
    labels, search = finetune_first_frame(
        LSENet("tiny", embed_dim=8), frame, box, fast_settings, "fused", zoom=True
    )
    assert search == enlarge_box(box, fast_settings.enlarge, frame.shape[:2])
    x0, y0, x1, y1 = box
    outside = np.ones(labels.shape, dtype=bool)
    outside[y0 : y1 + 1, x0 : x1 + 1] = False
    assert (labels[outside] == 0).all()
    assert set(np.unique(labels[~outside])) <= {1, 255}


def test_a_frame_the_tracker_refound_is_cropped_around_its_object_not_the_whole_image(
    tmp_path, disk_video, fast_settings
):
    """A re-found frame's search box is the whole image (lsevos.video.tracker, "recovery"); retraining
    crops it like a zoom frame, around its object box enlarged, and every other frame at its search box."""
    folder, masks = disk_video
    labels = tmp_path / "labels"
    labels.mkdir()
    for index, mask in enumerate(masks):
        write_mask(labels / f"{index:05d}.png", mask)
    names = [f"{index:05d}" for index in range(6)]
    document = {
        "image_size": [48, 64],
        "frames": {name: [8 + 3 * i, 16, 24 + 3 * i, 32] for i, name in enumerate(names)},
        "search": {name: [4, 12, 28, 36] for name in names},
        "recovery": {"00002": "redetected", "00003": "held"},
    }
    document["search"]["00002"] = [0, 0, 63, 47]
    (labels / "boxes.json").write_text(json.dumps(document))
    crops = ScanLabelCrops(folder, labels, fast_settings)
    assert crops.boxes[2] == enlarge_box((14, 16, 30, 32), fast_settings.enlarge, (48, 64))
    assert crops.boxes[2] != (0, 0, 63, 47)
    assert [crops.boxes[i] for i in (0, 1, 3, 4, 5)] == [[4, 12, 28, 36]] * 5  # held: its search box


def test_retraining_reads_one_frame_per_sample_and_never_the_whole_video(
    tmp_path, disk_video, fast_settings, monkeypatch
):
    folder, masks = disk_video
    labels = tmp_path / "labels"
    labels.mkdir()
    for index, mask in enumerate(masks):
        write_mask(labels / f"{index:05d}.png", mask)
    (labels / "boxes.json").write_text(json.dumps({"frames": {}, "search": {"00000": [0, 0, 40, 40]}}))

    def no_full_pass(self):
        raise AssertionError("retraining must not iterate over the whole video")

    monkeypatch.setattr(FrameSource, "__iter__", no_full_pass)
    reads = counting(monkeypatch, FrameSource, "read")
    crops = ScanLabelCrops(folder, labels, fast_settings)
    image, label = crops.sample(0, np.random.default_rng(0))
    assert image.shape == (33, 33, 3) and label.shape == (33, 33) and set(np.unique(label)) <= {0, 1}
    for definition, samples in (("frames", 2 * 6), ("full_batches", 2 * 2 * 4)):
        reads.clear()
        settings = VideoSettings(crop_size=33, batch=4, epoch_definition=definition)
        steps = train_on_crops(
            LSENet("tiny", embed_dim=8), crops, epochs=2, lr=1e-3, head="fp", settings=settings
        )
        assert steps == 2 * 2  # 6 frames, batch 4 -> 2 steps per epoch
        # frames: each frame once per epoch (4 + 2); full batches: 2 x 4, two frames seen twice
        assert len(reads) == samples


class _Counting:
    """A sampler of `count` frames that records the indices it is asked for."""

    def __init__(self, count: int):
        self.count, self.asked = count, []

    def __len__(self) -> int:
        return self.count

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        self.asked.append(index)
        return np.zeros((9, 9, 3), np.uint8), np.zeros((9, 9), np.uint8)


def test_an_epoch_shows_each_frame_once_or_fills_full_batches():
    batch_sizes = []
    original = LSENet.forward

    def recording(self, image, heads=("fp", "ae", "le", "lse")):
        batch_sizes.append(image.shape[0])
        return original(self, image, heads)

    model = LSENet("tiny", embed_dim=8)
    model.forward = recording.__get__(model)
    first = _Counting(1)
    steps = train_on_crops(model, first, epochs=20, lr=2.5e-5, head="fp", settings=VideoSettings(crop_size=9))
    # the paper's 20 epochs on the one first frame: 20 steps of one crop
    assert (steps, batch_sizes, first.asked) == (20, [1] * 20, [0] * 20)
    batch_sizes.clear()
    settings = VideoSettings(crop_size=9, epoch_definition="full_batches")
    assert train_on_crops(model, _Counting(1), epochs=20, lr=1e-4, head="fp", settings=settings) == 20
    assert batch_sizes == [4] * 20  # the CPU configurations: 4 augmentations of the frame per step
    batch_sizes.clear()
    video = _Counting(10)
    assert (
        train_on_crops(model, video, epochs=1, lr=1e-4, head="fp", settings=VideoSettings(crop_size=9)) == 3
    )
    assert batch_sizes == [4, 4, 2] and sorted(video.asked) == list(range(10))


def test_optimizer_switch_sgd_with_momentum_or_adam(monkeypatch):
    parameters = list(LSENet("tiny", embed_dim=8).parameters())
    sgd = make_optimizer(parameters, 2.5e-5, VideoSettings())
    assert type(sgd) is torch.optim.SGD
    assert (sgd.defaults["lr"], sgd.defaults["momentum"], sgd.defaults["weight_decay"]) == (2.5e-5, 0.9, 0.0)
    adam = make_optimizer(parameters, 1e-3, VideoSettings(optimizer="adam"))
    assert type(adam) is torch.optim.Adam and adam.defaults["lr"] == 1e-3
    assert adam.defaults == torch.optim.Adam(parameters, lr=1e-3).defaults  # the Adam before the switch
    made = counting(monkeypatch, training, "make_optimizer")
    train_on_crops(
        LSENet("tiny", embed_dim=8),
        _Counting(1),
        epochs=1,
        lr=0.1,
        head="fp",
        settings=VideoSettings(crop_size=9),
    )
    assert len(made) == 1 and made[0][1:] == (0.1, VideoSettings(crop_size=9))
    for key, value in (("optimizer", "rmsprop"), ("epoch_definition", "steps"), ("momentum", 1.0)):
        with pytest.raises(ConfigError, match=key):
            VideoSettings.from_dict({key: value})


def test_paper_defaults_and_the_cpu_configurations_keep_their_behaviour():
    from pathlib import Path

    import yaml

    paper = VideoSettings()
    assert (paper.optimizer, paper.momentum, paper.weight_decay) == ("sgd", 0.9, 0.0)
    assert (paper.epoch_definition, paper.pseudo_ignore_margin) == ("frames", 0.0)
    assert (paper.finetune_epochs, paper.finetune_lr, paper.retrain_lr) == (20, 2.5e-5, 2.5e-5)
    config = Path(__file__).resolve().parents[2] / "config"
    for name in ("demo", "cpu"):
        settings = VideoSettings.from_dict(yaml.safe_load((config / f"{name}.yaml").read_text())["video"])
        assert (settings.optimizer, settings.weight_decay) == ("adam", 0.0), name
        assert (settings.epoch_definition, settings.pseudo_ignore_margin) == ("full_batches", 0.2), name
    block = yaml.safe_load((config / "config.yaml").read_text())["video"]
    assert VideoSettings.from_dict(block) == VideoSettings(**{**paper.to_dict(), "crop_size": 321})


def test_no_zoom_fine_tune_shows_the_network_the_whole_frame_at_its_aspect_ratio(disk_video):
    folder, masks = disk_video
    frame = FrameSource(folder).read(0)  # 48 x 64: 3:4
    shapes = []
    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8)
    model.register_forward_pre_hook(lambda module, args: shapes.append(tuple(args[0].shape[-2:])))
    settings = VideoSettings(crop_size=33, finetune_epochs=2, batch=2, device="cpu")
    labels, search = finetune_first_frame(model, frame, box_from_mask(masks[0]), settings, "fp", zoom=False)
    assert search == (0, 0, 63, 47) and labels.shape == (48, 64)
    assert shapes == [(33, 44)] * 3  # the labelling prediction and two fine-tune steps, shorter side 33
    shapes.clear()
    finetune_first_frame(model, frame, box_from_mask(masks[0]), settings, "fp", zoom=True)
    assert shapes == [(33, 33)] * 3  # zoom: the enlarged box squeezed into the square crop


class _Labelled:
    """A sampler of `count` frames whose crops are filled with `value` (to tell the sources apart)."""

    def __init__(self, count: int, value: int):
        self.count, self.value = count, value

    def __len__(self) -> int:
        return self.count

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        assert 0 <= index < self.count
        return np.full((2, 2, 3), self.value, np.uint8), np.full((2, 2), self.value, np.uint8)


def test_anchored_crops_give_the_first_frame_its_share_of_the_samples():
    crops = AnchoredCrops(_Labelled(30, 7), _Labelled(1, 1), share=0.25)
    assert len(crops) == 40  # 30 scan frames + 10 first-frame samples: 10 / 40 = 0.25
    rng = np.random.default_rng(0)
    values = [int(crops.sample(index, rng)[1][0, 0]) for index in range(len(crops))]
    assert values == [7] * 30 + [1] * 10
    assert len(AnchoredCrops(_Labelled(30, 7), _Labelled(1, 1), share=0.0)) == 30
    with pytest.raises(ConfigError, match="share"):
        AnchoredCrops(_Labelled(3, 7), _Labelled(1, 1), share=1.0)


def test_retraining_with_a_first_frame_share_uses_the_fine_tune_labels(
    tmp_path, disk_video, tiny_checkpoint, fast_settings, monkeypatch
):
    folder, masks = disk_video
    box = box_from_mask(masks[0])
    steps.finetune(
        folder, Prompt(box), tiny_checkpoint, Adaptation("ours", fast_settings), tmp_path / "ft.pt"
    )
    from lsevos.train.checkpoint import load_checkpoint

    extra = load_checkpoint(tmp_path / "ft.pt")["extra"]
    stored = extra["first_frame_labels"].numpy()
    assert stored.shape == masks[0].shape and set(np.unique(stored)) <= {0, 1, 255}
    assert tuple(extra["first_frame_search"]) == enlarge_box(box, fast_settings.enlarge, masks[0].shape)
    labels = tmp_path / "labels"
    labels.mkdir()
    for index, mask in enumerate(masks):
        write_mask(labels / f"{index:05d}.png", mask)
    (labels / "boxes.json").write_text(json.dumps({"frames": {}, "search": {}}))
    seen = []
    original = adaptation.train_on_crops
    monkeypatch.setattr(
        adaptation,
        "train_on_crops",
        lambda model, crops, **kw: seen.append(crops) or original(model, crops, **kw),
    )
    anchored = VideoSettings.from_dict({**fast_settings.to_dict(), "retrain_first_frame_share": 0.25})
    steps.retrain(folder, labels, tmp_path / "ft.pt", Adaptation("ours", anchored), tmp_path / "rt.pt")
    crops = seen[-1]
    assert isinstance(crops, AnchoredCrops) and len(crops) == 6 + 2  # round(6 * 0.25 / 0.75) = 2
    np.testing.assert_array_equal(crops.first.labels, stored)
    steps.retrain(folder, labels, tiny_checkpoint, Adaptation("ours", fast_settings), tmp_path / "rt0.pt")
    assert isinstance(seen[-1], ScanLabelCrops)
    with pytest.raises(ConfigError, match="no first-frame labels"):
        steps.retrain(folder, labels, tiny_checkpoint, Adaptation("ours", anchored), tmp_path / "rt1.pt")
    assert not (tmp_path / "rt1.pt").exists()


@pytest.mark.slow
def test_two_scan_retrains_exactly_once_and_static_never(
    tmp_path, disk_video, tiny_checkpoint, fast_settings, monkeypatch
):
    folder, masks = disk_video
    box = box_from_mask(masks[0])
    frames = ArrayFrames([FrameSource(folder).read(index) for index in range(6)])
    retrains = counting(monkeypatch, adaptation, "retrain")
    finetunes = counting(monkeypatch, adaptation, "finetune")
    scans = counting(monkeypatch, adaptation, "scan")
    model = steps._load(tiny_checkpoint, fast_settings)
    job = Adaptation("ours", fast_settings)
    out = adaptation.two_scan(model, frames, Prompt(box), job, tmp_path / "w")
    assert (len(finetunes), len(scans), len(retrains)) == (1, 2, 1)
    assert out.names == [f"{i:05d}" for i in range(6)] and out.masks.read(3).shape == (48, 64)
    assert set(np.unique(out.labels(5, fast_settings))) <= {0, 1, 255}
    model = steps._load(tiny_checkpoint, fast_settings)
    static = adaptation.two_scan(model, frames, Prompt(box), job, tmp_path / "w2", static=True)
    assert (len(finetunes), len(scans), len(retrains)) == (2, 3, 1)
    assert len(static.object_boxes) == 6 and not (tmp_path / "w2" / "scan2").exists()


def test_frozen_early_layers_stay_as_pretrained_and_the_rest_trains(disk_video):
    folder, masks = disk_video
    frame = FrameSource(folder).read(0)
    settings = VideoSettings(crop_size=33, batch=2, optimizer="adam", freeze_early_layers=True)
    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8)
    early = training.early_parameters(model)
    before = [p.detach().clone() for p in model.parameters()]
    crops = FirstFrameCrops(frame, masks[0], (0, 0, 63, 47), settings)
    train_on_crops(model, crops, epochs=2, lr=1e-2, head="fused", settings=settings)
    changed = {id(p) for p, old in zip(model.parameters(), before, strict=True) if not torch.equal(p, old)}
    assert early and not changed & {id(p) for p in early}
    assert len(changed) > 0
    assert all(p.requires_grad for p in model.parameters())  # restored after training


def test_training_crops_take_the_train_crop_size_and_scans_keep_crop_size(disk_video):
    folder, masks = disk_video
    frame = FrameSource(folder).read(0)
    rng = np.random.default_rng(0)
    settings = VideoSettings(crop_size=33, train_crop_size=17)
    image, labels = FirstFrameCrops(frame, masks[0], (0, 0, 63, 47), settings).sample(0, rng)
    assert image.shape == (17, 17, 3) and labels.shape == (17, 17)
    assert training.input_shape(frame.shape[:2], settings, whole_frame=False) == 33
    # without zoom: the frame's aspect ratio, shorter side = train_crop_size
    assert training.input_shape((48, 64), settings, whole_frame=True, training=True) == (17, 23)
    unset = VideoSettings(crop_size=33)
    assert FirstFrameCrops(frame, masks[0], (0, 0, 63, 47), unset).sample(0, rng)[0].shape == (33, 33, 3)


def test_fast_kernels_lay_the_weights_out_channels_last_and_fuse_adam_with_outputs_equal_to_rounding():
    from lsevos.video.inference import on_device

    settings = VideoSettings(device="cpu", fast_kernels=True)
    torch.manual_seed(0)
    plain = LSENet("tiny", embed_dim=8).eval()
    fast = on_device(LSENet("tiny", embed_dim=8).eval(), settings)
    fast.load_state_dict(plain.state_dict())
    kernels = [m.weight for m in fast.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert kernels and all(w.is_contiguous(memory_format=torch.channels_last) for w in kernels)
    on_device(plain, VideoSettings(device="cpu"))  # off: the layout as it was
    assert all(m.weight.is_contiguous() for m in plain.modules() if isinstance(m, torch.nn.Conv2d))
    crop = np.random.default_rng(0).integers(0, 256, (33, 33, 3), dtype=np.uint8)
    ours = make_predictor(fast, "fused", torch.device("cpu"))(crop)
    theirs = make_predictor(plain, "fused", torch.device("cpu"))(crop)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    parameters = list(plain.parameters())
    adam = make_optimizer(parameters, 1e-3, VideoSettings(optimizer="adam", fast_kernels=True))
    assert adam.defaults["fused"] is True
    assert make_optimizer(parameters, 1e-3, VideoSettings(optimizer="adam")).defaults["fused"] is None


def test_context_boxes_keep_the_size_stay_in_the_frame_and_reach_every_place():
    rng = np.random.default_rng(0)
    boxes = [training.context_box((10, 10, 29, 19), (48, 64), rng) for _ in range(400)]
    assert {(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes} == {(19, 9)}
    assert min(b[0] for b in boxes) == 0 and max(b[2] for b in boxes) == 63
    assert min(b[1] for b in boxes) == 0 and max(b[3] for b in boxes) == 47
    # a box larger than the frame: the whole frame
    assert training.context_box((-5, -5, 99, 70), (48, 64), rng) == (0, 0, 63, 47)


def test_without_context_crops_the_fine_tune_draws_the_same_crops_as_before(disk_video):
    """`finetune_context_share` 0 draws nothing more from the generator: the same crops as the plain
    augmentation of the search box, so configurations without it keep their results."""
    folder, masks = disk_video
    frame = FrameSource(folder).read(0)
    settings = VideoSettings(crop_size=33)
    crops = FirstFrameCrops(frame, masks[0], (0, 0, 40, 30), settings)
    for seed in range(5):
        got = crops.sample(0, np.random.default_rng(seed))
        plain = training.augmented_crop(
            frame, masks[0], (0, 0, 40, 30), settings, np.random.default_rng(seed)
        )
        assert all(np.array_equal(a, b) for a, b in zip(got, plain, strict=True))


def test_context_crops_teach_the_background_outside_the_search_box():
    """A red disk in the user's box on the left and a white square on the right, outside the search
    box: fine-tuned on the search box alone the network never sees the square; with context crops it
    learns that the square is background (outside the user's box everything is)."""
    import cv2

    frame = np.full((48, 96, 3), 30, dtype=np.uint8)
    disk = cv2.circle(np.zeros((48, 96), np.uint8), (20, 24), 9, 1, thickness=-1).astype(bool)
    frame[disk] = (220, 20, 20)
    frame[14:35, 66:87] = (240, 240, 240)
    labels = np.zeros((48, 96), dtype=np.uint8)
    labels[disk] = 1
    search = enlarge_box((11, 15, 29, 33), 1.5, (48, 96))
    square_box = (56, 4, 95, 43)
    square = crop_and_resize(frame, square_box, 33)
    white = (square == 240).all(axis=2)
    inner = crop_and_resize(disk.astype(np.uint8), search, 33, nearest=True).astype(bool)
    means = {}
    for share in (0.0, 0.5):
        settings = VideoSettings(
            crop_size=33,
            batch=2,
            optimizer="adam",
            epoch_definition="full_batches",
            finetune_context_share=share,
        )
        torch.manual_seed(0)
        model = LSENet("tiny", embed_dim=8)
        crops = FirstFrameCrops(frame, labels, search, settings)
        train_on_crops(model, crops, epochs=40, lr=3e-3, head="fp", settings=settings)
        predict = make_predictor(model, "fp", torch.device("cpu"))
        means[share] = (
            predict(square)[white].mean(),
            predict(crop_and_resize(frame, search, 33))[inner].mean(),
        )
    assert means[0.0][0] > 0.5 and means[0.5][0] < 0.1, means  # the square: unseen, then background
    assert means[0.0][1] > 0.6 and means[0.5][1] > 0.6, means  # the object stays foreground


def test_weight_average_keeps_the_mean_of_the_last_steps_weights():
    """Hand values: weights 1, 2, 3, 5 after steps 1-4; a share of 0.5 keeps the mean of steps 3 and 4."""
    layer = torch.nn.Linear(1, 1, bias=False)
    average = training.WeightAverage(4, 0.5)
    for step, value in enumerate((1.0, 2.0, 3.0, 5.0), start=1):
        layer.weight.data.fill_(value)
        average.update(layer, step)
    average.apply(layer)
    assert layer.weight.item() == 4.0
    off = training.WeightAverage(4, 0.0)
    layer.weight.data.fill_(7.0)
    off.update(layer, 4)
    off.apply(layer)
    assert layer.weight.item() == 7.0 and off.kept is None


def test_training_with_weight_average_ends_on_the_mean_of_its_last_steps(disk_video):
    """A first-frame fine-tune of 4 one-step epochs with `weight_average: 0.5` ends on the mean of the
    weights a 3-epoch and a 4-epoch run end on (the same seed draws the same crops, so the shorter run
    is the longer one's first steps); with the share of one step it ends on the 4-epoch run's weights."""
    folder, masks = disk_video
    frame = FrameSource(folder).read(0)

    def trained(epochs: int, share: float) -> list[torch.Tensor]:
        settings = VideoSettings(
            crop_size=33, batch=2, optimizer="adam", epoch_definition="full_batches", weight_average=share
        )
        torch.manual_seed(0)
        model = LSENet("tiny", embed_dim=8)
        crops = FirstFrameCrops(frame, masks[0], (0, 0, 40, 30), settings)
        assert train_on_crops(model, crops, epochs=epochs, lr=3e-3, head="fp", settings=settings) == epochs
        return [p.detach().clone() for p in model.parameters()]

    third, fourth = trained(3, 0.0), trained(4, 0.0)
    moved = [not torch.equal(a, b) for a, b in zip(third, fourth, strict=True)]
    assert sum(moved) >= 10  # the last step changes the trained weights (the FP head's path)
    for got, a, b in zip(trained(4, 0.5), third, fourth, strict=True):
        torch.testing.assert_close(got, (a + b) / 2)
    for got, b in zip(trained(4, 0.25), fourth, strict=True):
        assert torch.equal(got, b)


def test_a_moved_object_keeps_its_pixels_and_leaves_background_where_it_was():
    """A red 4x6 object on a green frame, labels with an ignored band: each moved frame holds the
    object's pixels at one offset within 0.3 of its box (rounded: |dx| <= 2, |dy| <= 1), labelled 1;
    where it stood and nothing covers it now is background (label 0) and no longer red; the ignored
    band keeps its label where the object does not land; offsets of both signs occur."""
    frame = np.zeros((20, 24, 3), np.uint8)
    frame[..., 1] = 120
    labels = np.zeros((20, 24), np.uint8)
    labels[2:18, 3:21] = 255  # the box: ignored where the object is not
    labels[8:12, 9:15] = 1
    frame[labels == 1] = (230, 10, 10)
    background, vacated = training.vacated_frame(frame, labels)
    assert not (vacated == 1).any() and (background[8:12, 9:15, 0] < 100).all()  # filled in with green
    assert (vacated[labels == 0] == 0).all() and (vacated[labels == 255] == 255).any()
    offsets = set()
    for seed in range(40):
        image, moved = training.moved_object(frame, labels, background, vacated, np.random.default_rng(seed))
        ys, xs = np.nonzero(moved == 1)
        dy, dx = int(ys.min()) - 8, int(xs.min()) - 9
        assert abs(dx) <= 2 and abs(dy) <= 1 and len(ys) == 24  # the whole object, shifted
        assert (image[moved == 1] == (230, 10, 10)).all()
        left = np.zeros((20, 24), bool)
        left[8:12, 9:15] = True
        left &= moved != 1
        assert (moved[left] == 0).all() and (image[left][:, 0] < 100).all()
        band = (vacated == 255) & (moved != 1)  # the ignored band beyond the filled-in margin
        assert band.any() and (moved[band] == 255).all()
        offsets.add((np.sign(dx), np.sign(dy)))
    assert {(-1, -1), (1, 1)} <= offsets
    empty, rng = np.zeros_like(labels), np.random.default_rng(0)  # no object: as it is, nothing drawn
    image, moved = training.moved_object(frame, empty, frame, empty, rng)
    assert image is frame and moved is empty and rng.random() == np.random.default_rng(0).random()


def test_first_frame_crops_move_the_object_in_their_share_only(disk_video):
    """`finetune_moved_share` 1: each crop is the plain augmentation of a moved frame (built by hand from
    the same generator: the share's draw, the move, the crop), the vacated frame made once; the crops
    differ from the plain ones."""
    folder, masks = disk_video
    frame = FrameSource(folder).read(0)
    labels = masks[0].astype(np.uint8)
    search = enlarge_box(box_from_mask(labels), 1.5, labels.shape)
    settings = VideoSettings(crop_size=33, finetune_moved_share=1.0)
    moved = FirstFrameCrops(frame, labels, search, settings)
    vacated = training.vacated_frame(frame, labels)
    differ = 0
    for seed in range(6):
        got = moved.sample(0, np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        rng.random()  # the draw by which sample() chooses to move the object (share 1.0: always)
        image, moved_labels = training.moved_object(frame, labels, *vacated, rng)
        expected = training.augmented_crop(image, moved_labels, search, settings, rng)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
        plain = training.augmented_crop(frame, labels, search, settings, np.random.default_rng(seed))
        differ += not np.array_equal(got[0], plain[0])
    assert differ == 6
    kept = moved.vacated
    moved.sample(0, np.random.default_rng(0))
    assert moved.vacated is kept


def test_moved_crops_and_the_box_tightness_loss_are_refused_together():
    """The tightness loss reads the box from the labels, which a moved object no longer marks."""
    with pytest.raises(ConfigError, match=r"'box_tightness' acts only with 'finetune_moved_share' = 0"):
        VideoSettings.from_dict({"box_tightness": 1.0, "finetune_moved_share": 0.5})
