"""The appearance finder of the tracker's recovery: the first frame's AE template and the re-find map."""

from __future__ import annotations

import numpy as np
import torch

from lsevos.model.geometry import similarity
from lsevos.model.lse_net import LSENet
from lsevos.video.inference import appearance_finder, appearance_template, crops_to_tensor


def _model() -> LSENet:
    torch.manual_seed(0)
    return LSENet("tiny", embed_dim=8).eval()


def test_the_template_is_the_median_appearance_embedding_over_the_labelled_foreground():
    model = _model()
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    labels = np.zeros((32, 32), np.uint8)
    labels[8:20, 10:22] = 1
    labels[0:4, 0:4] = 255  # ignored pixels are not the object
    with torch.no_grad():
        ae = model(crops_to_tensor(crop[None], torch.device("cpu")), heads=("ae",)).ae[0]
    expected = torch.quantile(ae[:, torch.from_numpy(labels == 1)], 0.5, dim=1)
    template = appearance_template(model, crop, labels, torch.device("cpu"))
    torch.testing.assert_close(template, expected)
    # nothing labelled: the whole crop
    everything = torch.quantile(ae.reshape(8, -1), 0.5, dim=1)
    torch.testing.assert_close(
        appearance_template(model, crop, np.zeros_like(labels), torch.device("cpu")), everything
    )


def test_the_finder_averages_fp_with_the_similarity_to_the_template():
    model = _model()
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)
    template = torch.linspace(-1.0, 1.0, 8)
    prob = appearance_finder(model, template, torch.device("cpu"))(crop)
    with torch.no_grad():
        output = model(crops_to_tensor(crop[None], torch.device("cpu")), heads=("fp", "ae"))
    look = similarity(output.ae[0], template[:, None, None], dim=0)
    expected = 0.5 * (torch.sigmoid(output.fg_logit[0, 0]) + look)
    assert prob.shape == (24, 40) and prob.dtype == np.float32
    np.testing.assert_allclose(prob, expected.numpy(), rtol=1e-6)
    # a template equal to a pixel's own embedding gives that pixel similarity 1
    own = output.ae[0][:, 5, 7]
    at_own = appearance_finder(model, own, torch.device("cpu"))(crop)[5, 7]
    assert abs(at_own - 0.5 * (torch.sigmoid(output.fg_logit[0, 0, 5, 7]).item() + 1.0)) < 1e-6
