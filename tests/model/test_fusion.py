"""Fusion of FP and LSE: median representative, output values, empty foreground, gradients."""

import math

import pytest
import torch

from lsevos.errors import ConfigError
from lsevos.model.fusion import _median, foreground_probability, fuse, representative
from lsevos.model.lse_net import LSENet


def toy():
    fg_prob = torch.tensor([0.9, 0.6, 0.2, 0.5]).view(1, 1, 1, 4)
    # LSE (E = 2) of the four pixels: (0,0), (2,4), (10,10), (1,1)
    lse = torch.tensor([[0.0, 2.0, 10.0, 1.0], [0.0, 4.0, 10.0, 1.0]]).view(1, 2, 1, 4)
    return fg_prob, lse


def test_representative_is_the_per_dimension_median_over_predicted_foreground():
    fg_prob, lse = toy()
    # foreground (p >= 0.5): pixels 0, 1, 3 -> x values 0, 2, 1 and y values 0, 4, 1 -> r = (1, 1)
    assert torch.equal(representative(fg_prob, lse), torch.tensor([[1.0, 1.0]]))


def test_representative_of_an_even_count_is_the_mean_of_the_middle_values():
    fg_prob = torch.tensor([0.9, 0.6, 0.1]).view(1, 1, 1, 3)
    lse = torch.tensor([2.0, 5.0, 100.0]).view(1, 1, 1, 3)
    assert representative(fg_prob, lse).item() == pytest.approx(3.5)


@pytest.mark.parametrize("count", [1, 2, 7, 8, 1001, 1002])
def test_representative_equals_torch_quantile_bit_for_bit(count):
    """Without gradients the selection-based median is the interpolated 0.5 quantile exactly; with them
    the gradient reaches the middle value(s)."""
    generator = torch.Generator().manual_seed(count)
    lse = torch.randn(1, 5, 1, count, generator=generator, requires_grad=True)
    fg_prob = torch.ones(1, 1, 1, count)
    reference = torch.quantile(lse.detach().reshape(5, count), 0.5, dim=1)
    with torch.no_grad():
        assert torch.equal(representative(fg_prob, lse)[0], reference)
    assert torch.equal(representative(fg_prob, lse.detach())[0], reference)
    ours = representative(fg_prob, lse)
    assert torch.equal(ours[0], reference)
    ours.sum().backward()
    middle_weights = lse.grad.reshape(5, count).sum(dim=1)
    assert torch.allclose(middle_weights, torch.ones(5))
    assert int((lse.grad != 0).sum(dim=-1).max()) == (1 if count % 2 else 2)


def test_fused_output_on_a_toy():
    fg_prob, lse = toy()
    fused = fuse(fg_prob, lse).flatten()
    # embedding probability 2 / (1 + exp(||r - p||^2)) with r = (1, 1): d = 2, 10, 162, 0
    embedding = [2 / (1 + math.exp(2)), 2 / (1 + math.exp(10)), 2 / (1 + math.exp(162)), 1.0]
    expected = [(e + p) / 2 for e, p in zip(embedding, [0.9, 0.6, 0.2, 0.5], strict=True)]
    assert fused.tolist() == pytest.approx(expected, abs=1e-6)
    assert fused[0].item() == pytest.approx(0.5692029, abs=1e-6)


def test_empty_foreground_uses_the_most_likely_pixel_without_nan():
    fg_prob = torch.tensor([0.1, 0.3, 0.2]).view(1, 1, 1, 3)
    lse = torch.tensor([[0.0, 1.0, 3.0]]).view(1, 1, 1, 3)
    fused = fuse(fg_prob, lse)
    assert not torch.isnan(fused).any()
    # r = LSE of pixel 1 (p = 0.3) -> fused there = (1 + 0.3) / 2
    assert fused.flatten()[1].item() == pytest.approx(0.65)
    assert fused.flatten()[2].item() == pytest.approx((2 / (1 + math.exp(4)) + 0.2) / 2, rel=1e-5)


def test_gradient_reaches_the_backbone_through_both_branches():
    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8)
    image = torch.rand(1, 3, 32, 32)
    first_conv = model.backbone.layers[0].weight
    output = model(image)
    fg_prob = torch.sigmoid(output.fg_logit)
    fuse(fg_prob.detach(), output.lse).sum().backward(retain_graph=True)  # LSE branch only
    lse_grad = first_conv.grad.clone()
    assert lse_grad.abs().sum() > 0 and model.fp_head.branches[0][0].weight.grad is None
    model.zero_grad()
    fuse(fg_prob, output.lse.detach()).sum().backward()  # FP branch only
    assert first_conv.grad.abs().sum() > 0 and model.lse_head.branches[0][0].weight.grad is None


def test_foreground_probability_heads():
    model = LSENet("tiny", embed_dim=8).eval()
    with torch.no_grad():
        output = model(torch.rand(1, 3, 24, 24))
        assert torch.equal(foreground_probability(output, "fp"), torch.sigmoid(output.fg_logit))
        fused = foreground_probability(output, "fused")
    assert fused.shape == (1, 1, 24, 24) and 0 <= fused.min() and fused.max() <= 1
    with pytest.raises(ConfigError, match="head"):
        foreground_probability(output, "lse")


@pytest.mark.parametrize("count", [7, 8, 301, 2874])
def test_the_training_median_sends_its_gradient_where_the_quantile_does_tied_rows_included(count):
    """Training takes the median by selection too; rows whose middle value is tied (several pixels with
    that value) go through the quantile, so every pixel gets the gradient it got before, bit for bit."""
    generator = torch.Generator().manual_seed(count)
    values = torch.rand(6, count, generator=generator)
    values[1] = torch.randint(0, 3, (count,), generator=generator).float()  # ties everywhere
    values[4, : count // 2] = values[4, count // 2]  # half the row one value
    weights = torch.rand(6, generator=generator)
    ours, theirs = values.clone().requires_grad_(), values.clone().requires_grad_()
    median, reference = _median(ours), torch.quantile(theirs, 0.5, dim=1)
    assert torch.equal(median, reference)
    (median * weights).sum().backward()
    (reference * weights).sum().backward()
    assert torch.equal(ours.grad, theirs.grad)
