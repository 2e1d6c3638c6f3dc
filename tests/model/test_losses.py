"""Losses on toys with hand-derived values."""

import math

import pytest
import torch

from lsevos.losses import (
    embedding_loss,
    foreground_loss,
    instance_centres,
    location_loss,
    location_targets,
    tightness_loss,
)


def positive_nll(squared: float) -> float:
    return -math.log(2 / (1 + math.exp(squared)))


def negative_nll(squared: float) -> float:
    return -math.log(1 - 2 / (1 + math.exp(squared)))


def test_embedding_loss_two_instances_known_pairs_and_weights():
    # One image, 1 x 3 pixels: instance 1 = pixels 0, 1 (size 2); instance 2 = pixel 2 (size 1); E = 1.
    instances = torch.tensor([[[1, 1, 2]]])
    emb = torch.tensor([[[[0.0, 1.0, 3.0]]]])
    # pairs (squared distance, weight = mean of 1/size):
    #   (0,1) positive d=1, w=(1/2+1/2)/2=0.5; (0,2) negative d=9, w=(1/2+1)/2=0.75;
    #   (1,2) negative d=4, w=0.75
    expected = (0.5 * positive_nll(1) + 0.75 * negative_nll(9) + 0.75 * negative_nll(4)) / (0.5 + 0.75 + 0.75)
    assert expected == pytest.approx(0.1688594, abs=1e-6)
    loss = embedding_loss(emb, instances, samples_per_instance=10)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_embedding_loss_background_is_an_instance_and_ignore_is_skipped():
    instances = torch.tensor([[[0, 1, 255]]])
    emb = torch.tensor([[[[0.0, 2.0, 0.0]]]])
    # a single negative pair (background pixel 0, instance pixel 1), d = 4; pixel 2 is ignored
    loss = embedding_loss(emb, instances, samples_per_instance=5)
    assert loss.item() == pytest.approx(negative_nll(4), rel=1e-5)


def test_embedding_loss_samples_k_pixels_per_instance():
    # instance 1 = 6 pixels with embedding 0, instance 2 = 3 pixels with embedding 1; K = 1 leaves one
    # negative pair (d = 1) whatever pixels are drawn.
    instances = torch.tensor([[[1, 1, 1, 1, 1, 1, 2, 2, 2]]])
    emb = torch.tensor([[[[0.0] * 6 + [1.0] * 3]]])
    loss = embedding_loss(emb, instances, samples_per_instance=1, generator=torch.Generator().manual_seed(3))
    assert loss.item() == pytest.approx(negative_nll(1), rel=1e-5)


def test_embedding_loss_is_the_mean_over_images_and_has_gradients():
    instances = torch.tensor([[[1, 1, 2]], [[255, 255, 255]], [[1, 2, 2]]])
    emb = torch.tensor([[[[0.0, 1.0, 3.0]]], [[[5.0, 5.0, 5.0]]], [[[3.0, 1.0, 0.0]]]], requires_grad=True)
    single = embedding_loss(emb[:1].detach(), instances[:1], 10)
    loss = embedding_loss(emb, instances, 10)
    assert loss.item() == pytest.approx(single.item(), rel=1e-5)  # image 2 has no pixels, image 3 mirrors 1
    loss.backward()
    assert emb.grad[0].abs().sum() > 0 and emb.grad[1].abs().sum() == 0


def test_instance_centres_and_location_loss_on_a_toy_mask():
    # 4 x 4 image; instance 1 = the 2 x 2 top-left block, centre (x, y) = (0.25, 0.25) in units of the size.
    instances = torch.zeros(1, 4, 4, dtype=torch.long)
    instances[0, :2, :2] = 1
    instances[0, 3, 3] = 255
    centres = instance_centres(instances)
    assert torch.allclose(centres[0, :, 0, 0], torch.tensor([0.25, 0.25]))
    assert torch.allclose(centres[0, :, 1, 1], torch.tensor([0.25, 0.25]))
    assert torch.allclose(centres[0, :, 2, 3], torch.tensor([0.875, 0.625]))  # background: own coordinate
    targets = location_targets(instances)
    assert torch.allclose(targets[0, :, 0, 0], torch.tensor([0.125, 0.125]))
    assert torch.allclose(targets[0, :, 0, 1], torch.tensor([-0.125, 0.125]))
    assert targets[0, :, 2:, :].abs().max() == 0
    # LE = 0: every instance pixel is sqrt(2) * 0.125 from its target; background and ignore do not count.
    le = torch.zeros(1, 2, 4, 4)
    le[0, :, 3, :] = 7.0
    assert location_loss(le, instances).item() == pytest.approx(math.sqrt(2) * 0.125, rel=1e-6)
    assert location_loss(targets, instances).item() == pytest.approx(0.0, abs=1e-7)


def test_location_loss_averages_images_with_instances_only():
    instances = torch.zeros(2, 4, 4, dtype=torch.long)
    instances[0, :2, :2] = 1
    le = torch.zeros(2, 2, 4, 4, requires_grad=True)
    loss = location_loss(le, instances)
    assert loss.item() == pytest.approx(math.sqrt(2) * 0.125, rel=1e-6)
    loss.backward()
    assert le.grad[1].abs().sum() == 0


def test_foreground_loss_ignores_255_and_accepts_probabilities():
    labels = torch.tensor([[[1, 0, 255]]])
    logits = torch.tensor([[[[0.0, math.log(3.0), 50.0]]]])
    # BCE: pixel 0 target 1 p=0.5 -> log 2; pixel 1 target 0 p=0.75 -> -log 0.25; pixel 2 ignored
    expected = (math.log(2) - math.log(0.25)) / 2
    assert foreground_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
    probs = torch.sigmoid(logits)
    assert foreground_loss(probs, labels, from_logits=False).item() == pytest.approx(expected, rel=1e-5)
    assert foreground_loss(logits, torch.full_like(labels, 255)).item() == 0.0


def test_tightness_loss_by_hand():
    # the box: rows 1-2, columns 1-2 (every pixel not labelled background); outside it nothing counts
    labels = torch.tensor([[[0, 0, 0, 0], [0, 1, 255, 0], [0, 255, 255, 0], [0, 0, 0, 0]]])
    prob = torch.tensor(
        [[[1.0, 1.0, 1.0, 1.0], [0.9, 0.8, 0.5, 1.0], [1.0, 0.25, 0.5, 1.0], [1.0, 1.0, 1.0, 1.0]]],
        requires_grad=True,
    )
    # rows: max(0.8, 0.5) = 0.8, max(0.25, 0.5) = 0.5; columns: max(0.8, 0.25) = 0.8, max(0.5, 0.5) = 0.5
    expected = -(2 * math.log(0.8) + 2 * math.log(0.5)) / 4
    loss = tightness_loss(prob, labels, from_logits=False)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # only each line's largest probability in the box gets a gradient (towards 1: negative)
    assert prob.grad[0, 1, 1] < 0 and prob.grad[0, 2, 1] == 0 and prob.grad[0, 2, 2] < 0
    assert prob.grad[0, 1, [0, 3]].abs().sum() == 0 and prob.grad[0, 3].abs().sum() == 0
    # from logits the same value, softplus(-largest logit) = -log(sigmoid(largest logit))
    logits = torch.logit(prob.detach())
    assert tightness_loss(logits, labels).item() == pytest.approx(expected, rel=1e-5)
    # a line the network misses entirely still gets a gradient from logits (not cut at a floor)
    far = torch.full((1, 4, 4), -40.0, requires_grad=True)
    tightness_loss(far, labels).backward()
    assert far.grad[0, 1:3, 1:3].abs().sum() > 0
    # a batch image without a box adds no line; no image with one: 0
    batch_labels = torch.cat([labels, torch.zeros_like(labels)])
    batch_prob = torch.cat([prob.detach(), torch.full_like(prob.detach(), 0.5)])
    assert tightness_loss(batch_prob, batch_labels, False).item() == pytest.approx(expected, rel=1e-6)
    assert tightness_loss(batch_prob, torch.zeros_like(batch_labels), False).item() == 0.0


def test_tightness_loss_skips_the_lines_a_crop_cuts():
    # the box reaches the crop's left edge (column 0): its rows may be cut, only its columns count
    labels = torch.tensor([[[0, 0, 0], [1, 255, 0], [255, 255, 0], [0, 0, 0]]])
    prob = torch.tensor([[[1.0, 1.0, 1.0], [0.5, 0.25, 1.0], [0.5, 0.125, 1.0], [1.0, 1.0, 1.0]]])
    # columns: max(0.5, 0.5) = 0.5, max(0.25, 0.125) = 0.25
    expected = -(math.log(0.5) + math.log(0.25)) / 2
    assert tightness_loss(prob, labels, from_logits=False).item() == pytest.approx(expected, rel=1e-6)
    # a box that reaches both the left and the top edge: no line counts
    corner = torch.tensor([[[1, 255, 0], [255, 255, 0], [0, 0, 0]]])
    assert tightness_loss(torch.full((1, 3, 3), 0.5), corner, from_logits=False).item() == 0.0
