"""A real demo-sized pretraining on the built-in static images: losses fall, look-alikes separate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from lsevos.data.voc_sbd import VocInstances
from lsevos.train.checkpoint import load_checkpoint, load_model
from lsevos.train.plots import read_loss_log

EXPECTED_LOSSES = {
    "1": ["total", "ae", "le"],
    "2": ["total", "lse"],
    "3": ["total", "fg", "ae", "le", "lse"],
    "fp": ["total", "fg"],
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["1", "2", "3", "fp"])
def test_demo_pretraining_lowers_every_loss(demo_models, stage):
    columns = read_loss_log(demo_models["logs"][stage])
    losses = [name for name in columns if name != "step"]
    assert losses == EXPECTED_LOSSES[stage]
    for name in losses:
        assert columns[name][-1] < columns[name][0], f"stage {stage}: {name} did not fall: {columns[name]}"
    checkpoint = load_checkpoint(demo_models["checkpoints"][stage])
    assert checkpoint["config"]["stage"] == stage and checkpoint["step"] == columns["step"][-1]


def mean_distances(model, image: np.ndarray, instances: np.ndarray, classes: np.ndarray, crop: int):
    """(within-instance, between same-class instances) mean LSE distances on one image, or None."""
    image = cv2.resize(image, (crop, crop), interpolation=cv2.INTER_AREA)
    instances = cv2.resize(instances, (crop, crop), interpolation=cv2.INTER_NEAREST_EXACT)
    classes = cv2.resize(classes, (crop, crop), interpolation=cv2.INTER_NEAREST_EXACT)
    with torch.no_grad():
        lse = model(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255).lse[0]
    vectors = lse.reshape(lse.shape[0], -1).t()
    ids = [k for k in np.unique(instances).tolist() if k not in (0, 255)]
    points = {k: vectors[torch.from_numpy((instances == k).reshape(-1))] for k in ids}
    family = {k: int(np.bincount(classes[instances == k]).argmax()) for k in ids}
    within = [torch.cdist(points[k], points[k]).mean().item() for k in ids]
    between = [
        torch.cdist(points[k], points[m]).mean().item()
        for k in ids
        for m in ids
        if k < m and family[k] == family[m]
    ]
    return within, between


@pytest.mark.slow
def test_stage3_separates_lookalike_instances_on_held_back_images(demo_models):
    model = load_model(demo_models["checkpoints"]["3"])
    held_back = VocInstances(demo_models["bench"] / "static", "val")
    within, between = [], []
    for index, name in enumerate(held_back.names):
        image, instances = held_back[index]
        w, b = mean_distances(model, image, instances, held_back.load_classes(name), demo_models["crop"])
        within += w
        between += b
    assert len(between) >= 3  # every generated image holds a group of look-alikes
    assert np.mean(between) > 2 * np.mean(within), (np.mean(between), np.mean(within))
