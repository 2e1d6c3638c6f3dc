"""Embedding maps as RGB pictures (Fig. 4)."""

import numpy as np

from lsevos.model.projection import embedding_to_rgb


def test_two_clusters_get_two_colours_and_a_constant_map_is_grey():
    embedding = np.zeros((5, 4, 6))
    embedding[:, :, 3:] = np.arange(5)[:, None, None]  # right half one point, left half another
    rgb = embedding_to_rgb(embedding)
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8
    assert (rgb[:, :3] == rgb[0, 0]).all() and (rgb[:, 3:] == rgb[0, 3]).all()
    # the first principal axis separates the halves: one end at 0, the other at 255
    assert {int(rgb[0, 0, 0]), int(rgb[0, 3, 0])} == {0, 255}
    assert (embedding_to_rgb(np.ones((3, 2, 2))) == 128).all()


def test_projection_follows_the_largest_spread():
    rng = np.random.default_rng(0)
    embedding = np.zeros((8, 10, 10))
    embedding[2] = np.linspace(-5, 5, 10)[None, :]  # large spread along x in dimension 2
    embedding += 1e-3 * rng.standard_normal(embedding.shape)
    red = embedding_to_rgb(embedding)[..., 0].astype(int)
    row_means = red.mean(axis=0)
    assert abs(row_means[-1] - row_means[0]) > 200  # the first channel is the x gradient
