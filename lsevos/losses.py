"""Training losses of the paper: L_ae / L_lse (embedding), L_le (location), L_fg (foreground).

Instance maps are `[B, H, W]` integer tensors: 0 background, 1..K instances, 255 ignore.

Embedding loss choices (the paper leaves them open):
- background is one more instance: its sampled pixels form negative pairs with every object, which
  teaches the embedding to keep objects away from the background the fusion compares them with;
- pair weight = mean of `1 / size` of the two pixels' instances (size = pixel count in the image), so
  positives of instance k weigh `1 / n_k` and small instances count as much as large ones; the loss of
  an image is the weighted mean of the pair losses; the batch loss is the mean over images with pairs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lsevos.labels import IGNORE
from lsevos.model.geometry import pixel_coordinates

_NEGATIVE_EPS = 1e-6


def pair_nll(squared_distance: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of pairs at `squared_distance`: `-log s` for positives, `-log(1 - s)` else.

    With `s = 2 / (1 + exp(d))` (`lsevos.model.geometry.similarity`): `-log s = softplus(d) - log 2` and
    `1 - s = tanh(d / 2)`; `1 - s` is clamped at 1e-6 so that coinciding negatives stay finite.
    """
    positive_nll = F.softplus(squared_distance) - math.log(2.0)
    negative_nll = -torch.log(torch.tanh(squared_distance / 2).clamp_min(_NEGATIVE_EPS))
    return torch.where(positive, positive_nll, negative_nll)


def _sample_pixels(
    labels: torch.Tensor, samples_per_instance: int, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flat `labels [N]` -> (pixel indices, labels, instance sizes) of at most K pixels per instance."""
    indices, sample_labels, sizes = [], [], []
    for label in torch.unique(labels[labels != IGNORE]).tolist():
        members = torch.nonzero(labels == label).squeeze(1)
        size = members.numel()
        if size > samples_per_instance:
            members = members[torch.randperm(size, generator=generator)[:samples_per_instance]]
        indices.append(members)
        sample_labels.append(torch.full_like(members, label))
        sizes.append(torch.full((members.numel(),), float(size)))
    if not indices:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, torch.zeros(0)
    return torch.cat(indices), torch.cat(sample_labels), torch.cat(sizes)


def embedding_loss(
    emb: torch.Tensor,
    instances: torch.Tensor,
    samples_per_instance: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L_ae / L_lse: `emb [B,E,H,W]`, `instances [B,H,W]` -> scalar.

    Per image, `samples_per_instance` pixels are drawn without replacement from each instance (all of
    them when it is smaller); every pair among the drawn pixels is a positive (same instance) or negative
    pair, weighted by the mean inverse size of its two instances (see the module docstring).
    """
    batch, dims = emb.shape[:2]
    losses = []
    for index in range(batch):
        labels = instances[index].reshape(-1).long().cpu()
        pixels, pixel_labels, sizes = _sample_pixels(labels, samples_per_instance, generator)
        if pixels.numel() < 2:
            continue
        points = emb[index].reshape(dims, -1)[:, pixels.to(emb.device)].t()
        norms = (points**2).sum(dim=1)
        squared = (norms[:, None] + norms[None, :] - 2.0 * points @ points.t()).clamp_min(0.0)
        positive = (pixel_labels[:, None] == pixel_labels[None, :]).to(emb.device)
        inverse = (0.5 / sizes).to(emb.device, emb.dtype)
        weights = (inverse[:, None] + inverse[None, :]).triu(diagonal=1)
        losses.append((weights * pair_nll(squared, positive)).sum() / weights.sum())
    if not losses:
        return emb.sum() * 0.0
    return torch.stack(losses).mean()


def instance_centres(instances: torch.Tensor) -> torch.Tensor:
    """`instances [B,H,W]` -> `[B,2,H,W]`: normalised (x, y) centroid of each pixel's instance.

    Coordinates are pixel centres divided by the width / height; background and ignore pixels get their
    own coordinate (a zero offset).
    """
    batch, height, width = instances.shape
    labels = instances.long()
    coords = pixel_coordinates(height, width, instances.device)
    flat = (labels + 256 * torch.arange(batch, device=labels.device)[:, None, None]).reshape(-1)
    counts = torch.bincount(flat, minlength=256 * batch).float().clamp_min(1)
    centres = torch.empty(batch, 2, height, width, device=instances.device)
    for axis in range(2):
        values = coords[axis].expand(batch, height, width).reshape(-1)
        means = torch.bincount(flat, weights=values, minlength=256 * batch) / counts
        centres[:, axis] = means[flat].reshape(batch, height, width)
    is_object = (labels > 0) & (labels != IGNORE)
    return torch.where(is_object[:, None], centres, coords.unsqueeze(0).expand_as(centres))


def location_targets(instances: torch.Tensor) -> torch.Tensor:
    """`instances [B,H,W]` -> LE targets `[B,2,H,W]`: offset to the instance centre / size (0 off objects)."""
    height, width = instances.shape[-2:]
    return instance_centres(instances) - pixel_coordinates(height, width, instances.device).unsqueeze(0)


def location_loss(le: torch.Tensor, instances: torch.Tensor) -> torch.Tensor:
    """L_le: `le [B,2,H,W]`, `instances [B,H,W]` -> scalar.

    Per image, the mean over instance pixels (not background, not ignore) of `||le - target||_2`, the
    target being `location_targets`; the batch loss is the mean over images that have instance pixels.
    """
    targets = location_targets(instances).to(le.dtype)
    distance = torch.linalg.vector_norm(le - targets, dim=1)
    is_object = ((instances > 0) & (instances != IGNORE)).to(le.dtype)
    counts = is_object.sum(dim=(1, 2))
    present = counts > 0
    if not bool(present.any()):
        return le.sum() * 0.0
    per_image = (distance * is_object).sum(dim=(1, 2))[present] / counts[present]
    return per_image.mean()


def foreground_loss(prediction: torch.Tensor, labels: torch.Tensor, from_logits: bool = True) -> torch.Tensor:
    """L_fg: pixel binary cross-entropy, mean over labelled pixels.

    `prediction [B,1,H,W]` or `[B,H,W]` (logits, or probabilities when `from_logits=False`); `labels [B,H,W]`
    with 0 background, 1 foreground, 255 ignore. Returns 0 (with a graph) when nothing is labelled.
    """
    prediction = prediction.reshape(labels.shape)
    valid = labels != IGNORE
    if not bool(valid.any()):
        return prediction.sum() * 0.0
    target = (labels[valid] == 1).to(prediction.dtype)
    if from_logits:
        return F.binary_cross_entropy_with_logits(prediction[valid], target)
    return F.binary_cross_entropy(prediction[valid].clamp(1e-7, 1 - 1e-7), target)


def tightness_loss(prediction: torch.Tensor, labels: torch.Tensor, from_logits: bool = True) -> torch.Tensor:
    """The box-tightness prior of weakly supervised segmentation from boxes (Hsu et al., NeurIPS 2019) as
    multiple-instance learning: a box drawn around an object touches it on all four sides, so each row and
    each column of the box crosses the object, and its largest foreground probability should be 1.

    `prediction [B,1,H,W]` or `[B,H,W]` (logits, or probabilities when `from_logits=False`), `labels
    [B,H,W]` with the box as every pixel not labelled background (0): under the first-frame rule the box
    holds only foreground (1) and ignored (255) pixels and everything outside it is background. A crop that
    cuts the box leaves its lines cut too: the rows count only when the box reaches neither the left nor
    the right edge of the crop, the columns only when it reaches neither the top nor the bottom. Returns
    the mean over the counted lines of every image of -log(the line's largest probability inside the box)
    (from logits: softplus(-largest logit), which keeps a gradient however low); 0 (with a graph) when no
    line counts."""
    prediction = prediction.reshape(labels.shape)
    lines = []
    for image, image_labels in zip(prediction, labels, strict=True):
        inside = image_labels != 0
        rows, columns = inside.any(dim=1), inside.any(dim=0)
        if not bool(rows.any()):
            continue
        box = image[rows][:, columns]
        if not (bool(columns[0]) or bool(columns[-1])):
            lines.append(box.amax(dim=1))
        if not (bool(rows[0]) or bool(rows[-1])):
            lines.append(box.amax(dim=0))
    if not lines:
        return prediction.sum() * 0.0
    largest = torch.cat(lines)
    if from_logits:
        return F.softplus(-largest).mean()
    return -torch.log(largest.clamp(1e-7, 1.0)).mean()
