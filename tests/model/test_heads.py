"""Heads run only when their output is used: `LSENet.forward(image, heads=...)` and its callers (the video
predictor and losses per family, the pretraining losses per stage)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsevos.errors import ConfigError
from lsevos.model.lse_net import OUTPUTS, LSENet
from lsevos.train.data import Batch
from lsevos.train.pretrain import STAGE_LOSSES, PretrainSettings, stage_losses
from lsevos.video.inference import make_predictor
from lsevos.video.settings import VideoSettings
from lsevos.video.training import train_on_crops
from lsevos.video.variants import FAMILIES

HEAD_MODULES = {"fp": "fp_head", "ae": "ae_head", "le": "le_head", "lse": "lse_head"}
FIELDS = {"fp": "fg_logit", "ae": "ae", "le": "le", "lse": "lse"}


def spied_model() -> tuple[LSENet, list[str]]:
    """A seeded tiny LSENet whose ASPP heads record their name in the returned list each time they run."""
    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8).eval()
    ran: list[str] = []
    for name, attribute in HEAD_MODULES.items():
        getattr(model, attribute).register_forward_hook(lambda *_, name=name: ran.append(name))
    return model, ran


@pytest.mark.parametrize(
    ("heads", "expected_runs"),
    [
        (("fp",), {"fp"}),
        (("ae",), {"ae"}),
        (("le",), {"le"}),
        (("ae", "le"), {"ae", "le"}),
        (("lse",), {"ae", "le", "lse"}),
        (("fp", "lse"), {"fp", "ae", "le", "lse"}),
        (OUTPUTS, {"fp", "ae", "le", "lse"}),
    ],
)
def test_forward_runs_only_the_needed_heads_and_matches_the_full_forward_bitwise(heads, expected_runs):
    model, ran = spied_model()
    image = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(image)
        assert sorted(ran) == sorted(HEAD_MODULES)  # the default runs every head once
        ran.clear()
        partial = model(image, heads=heads)
    assert sorted(ran) == sorted(expected_runs)
    for name, field in FIELDS.items():
        if name in heads:
            assert torch.equal(getattr(partial, field), getattr(full, field)), name
        else:
            assert getattr(partial, field) is None, name


def test_unknown_or_no_heads_are_refused():
    model, _ = spied_model()
    image = torch.rand(1, 3, 16, 16)
    with pytest.raises(ConfigError, match="fp, ae, le, lse"):
        model(image, heads=("fused",))
    with pytest.raises(ConfigError, match="heads"):
        model(image, heads=())


FAMILY_RUNS = {
    "fp_nozoom": {"fp"},
    "fp": {"fp"},
    "fplse": {"fp"},
    "ours": {"fp", "ae", "le", "lse"},
}


@pytest.mark.parametrize("family", sorted(FAMILY_RUNS))
def test_video_predictor_runs_the_family_heads_only(family):
    assert set(FAMILY_RUNS) == set(FAMILIES)
    model, ran = spied_model()
    crop = np.random.default_rng(0).integers(0, 255, (33, 33, 3), dtype=np.uint8)
    make_predictor(model, FAMILIES[family].head, torch.device("cpu"))(crop)
    assert sorted(ran) == sorted(FAMILY_RUNS[family])


class _OneCrop:
    def __len__(self) -> int:
        return 1

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        crop = rng.integers(0, 255, (33, 33, 3), dtype=np.uint8)
        labels = np.zeros((33, 33), np.uint8)
        labels[8:24, 8:24] = 1
        return crop, labels


@pytest.mark.parametrize("family", sorted(FAMILY_RUNS))
def test_video_training_runs_the_family_heads_only(family):
    model, ran = spied_model()
    settings = VideoSettings(crop_size=33, batch=1, device="cpu")
    steps = train_on_crops(
        model, _OneCrop(), epochs=2, lr=1e-3, head=FAMILIES[family].head, settings=settings
    )
    assert steps == 2
    assert sorted(ran) == sorted(list(FAMILY_RUNS[family]) * 2)  # each needed head once per step
    # the same weights, bitwise, as training with every head running (the forward before this change)
    reference, _ = spied_model()
    original_forward = reference.forward
    reference.forward = lambda images, heads=OUTPUTS: original_forward(images)
    train_on_crops(reference, _OneCrop(), epochs=2, lr=1e-3, head=FAMILIES[family].head, settings=settings)
    del reference.forward
    trained, expected = model.state_dict(), reference.state_dict()
    assert all(torch.equal(trained[key], expected[key]) for key in expected)


STAGE_RUNS = {
    "1": {"ae", "le"},
    "2": {"ae", "le", "lse"},
    "3": {"fp", "ae", "le", "lse"},
    "fp": {"fp"},
}


def two_instance_batch() -> Batch:
    instances = torch.zeros(2, 32, 32, dtype=torch.long)
    instances[:, 4:14, 4:14] = 1
    instances[:, 18:28, 16:30] = 2
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    return Batch(images=images, instances=instances)


@pytest.mark.parametrize("stage", sorted(STAGE_RUNS))
def test_pretraining_stage_runs_only_the_heads_its_losses_need(stage):
    assert set(STAGE_RUNS) == set(STAGE_LOSSES)
    model, ran = spied_model()
    settings = PretrainSettings(backbone="tiny", pretrained=False, embed_dim=8, samples_per_instance=8)
    batch = two_instance_batch()
    with torch.no_grad():
        losses = stage_losses(stage, model, batch, settings, step=1)
        assert sorted(ran) == sorted(STAGE_RUNS[stage])
        assert set(losses) == set(STAGE_LOSSES[stage])
        # the same losses, bitwise, as when every head runs (the forward before this change)
        original_forward = model.forward
        model.forward = lambda images, heads=OUTPUTS: original_forward(images)
        try:
            reference = stage_losses(stage, model, batch, settings, step=1)
        finally:
            del model.forward
    for name, value in losses.items():
        assert torch.equal(value, reference[name]), name


@pytest.mark.parametrize("stage", ["3", "fp"])
def test_bfloat16_autocast_losses_are_float32_and_near_the_float32_ones(stage):
    """`amp` (a GPU option, run here on the CPU's bfloat16 autocast): the heads' outputs come back as
    float32 before the losses, every loss is finite and within bfloat16's rounding (8 bits of mantissa,
    ~0.4% a value, compounded through the network) of the float32 loss."""
    model, _ = spied_model()
    plain = PretrainSettings(backbone="tiny", pretrained=False, embed_dim=8, samples_per_instance=8)
    mixed = PretrainSettings(backbone="tiny", pretrained=False, embed_dim=8, samples_per_instance=8, amp=True)
    batch = two_instance_batch()
    with torch.no_grad():
        reference = stage_losses(stage, model, batch, plain, step=1)
        losses = stage_losses(stage, model, batch, mixed, step=1)
    assert set(losses) == set(reference) == set(STAGE_LOSSES[stage])
    for name, value in losses.items():
        assert value.dtype == torch.float32 and torch.isfinite(value), name
        assert value.item() == pytest.approx(reference[name].item(), rel=5e-2, abs=1e-3), name
        assert not torch.equal(value, reference[name]), name  # autocast did run in bfloat16
