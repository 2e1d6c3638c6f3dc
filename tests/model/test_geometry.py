"""The helpers the network and the losses share (`lsevos.model.geometry`), on hand-derived values."""

import math

import pytest
import torch

from lsevos.losses import pair_nll
from lsevos.model.geometry import pixel_coordinates, similarity


def test_similarity_of_given_embeddings():
    a = torch.tensor([1.0, 0.0])
    b = torch.tensor([0.0, 1.0])
    # ||a - b||^2 = 2 -> 2 / (1 + e^2) = 0.2384058...
    assert similarity(a, b).item() == pytest.approx(0.2384058, abs=1e-6)
    assert similarity(a, a).item() == pytest.approx(1.0)
    # ||(0,0) - (0.5,0.5)||^2 = 0.5 -> 2 / (1 + e^0.5) = 0.7550813...
    assert similarity(torch.zeros(2), torch.full((2,), 0.5)).item() == pytest.approx(0.7550813, abs=1e-6)


def test_similarity_along_channel_dimension():
    a = torch.tensor([[[[0.0]], [[0.0]]]])  # [1, 2, 1, 1]
    b = torch.tensor([[[[3.0]], [[4.0]]]])
    assert similarity(a, b, dim=1).item() == pytest.approx(2 / (1 + math.exp(25)), rel=1e-5)


def test_pair_loss_is_the_negative_log_of_the_similarity():
    # the embedding loss and the fusion measure embeddings with the same s = similarity
    squared = torch.tensor([0.25, 1.0, 4.0])
    points = torch.stack([squared.sqrt(), torch.zeros(3)], dim=1)
    s = similarity(points, torch.zeros(1, 2))
    positive = pair_nll(squared, torch.ones(3, dtype=torch.bool))
    negative = pair_nll(squared, torch.zeros(3, dtype=torch.bool))
    torch.testing.assert_close(positive, -torch.log(s))
    torch.testing.assert_close(negative, -torch.log(1 - s))


def test_pixel_coordinates_are_normalised_pixel_centres():
    grid = pixel_coordinates(2, 4)
    assert grid.shape == (2, 2, 4) and grid.dtype == torch.float32
    # x = (j + 0.5) / 4 along a row, y = (i + 0.5) / 2 down a column
    torch.testing.assert_close(grid[0], torch.tensor([[0.125, 0.375, 0.625, 0.875]] * 2))
    torch.testing.assert_close(grid[1], torch.tensor([[0.25] * 4, [0.75] * 4]))
    assert pixel_coordinates(3, 3, dtype=torch.float64).dtype == torch.float64
