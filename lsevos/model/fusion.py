"""Fusing the foreground probability (FP) with the location-sensitive embedding (LSE), as in the paper.

For each image: the representative embedding `r` is the per-dimension median of the LSE over the pixels
with `fg_prob >= 0.5`; each pixel's embedding probability is `2 / (1 + exp(||r - p||^2))` (1 at `r`,
tending to 0 far away); the fused probability is the mean of the embedding probability and `fg_prob`.
Gradients reach both branches: the LSE through `r` and `p`, the FP through the average.

Empty predicted foreground (no pixel reaches 0.5): `r` is the LSE of the pixel of maximum `fg_prob`
(the most object-like pixel), so the output stays finite and keeps the same meaning.
"""

from __future__ import annotations

import torch

from lsevos.errors import ConfigError
from lsevos.model.geometry import similarity

HEADS = ("fp", "fused")
# The `LSENet` outputs (`forward(image, heads=...)`) each head reads: FP alone, or FP and LSE for the fusion.
HEAD_OUTPUTS = {"fp": ("fp",), "fused": ("fp", "lse")}


def outputs_needed(head: str) -> tuple[str, ...]:
    """The `LSENet` outputs `foreground_probability(output, head)` reads (pass them as `heads=`)."""
    if head not in HEAD_OUTPUTS:
        raise ConfigError(f"head: unknown value {head!r}; choose one of {', '.join(HEADS)}")
    return HEAD_OUTPUTS[head]


def representative(fg_prob: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
    """`fg_prob [B,1,H,W]`, `lse [B,E,H,W]` -> `r [B,E]`: per-dimension median of LSE where `fg_prob >= 0.5`.

    The median of an even count is the mean of the two middle values. Empty foreground: the LSE of the
    pixel of maximum `fg_prob`. The two middle values come from `torch.kthvalue`: a selection, not a sort,
    3x faster than `torch.quantile(..., 0.5)` on a crop's pixels and equal to it bit for bit; in training
    the gradient reaches the same pixels as through the quantile (`_median`).
    """
    batch, dims = lse.shape[:2]
    flat_prob = fg_prob.reshape(batch, -1)
    flat_lse = lse.reshape(batch, dims, -1)
    rows = []
    for index in range(batch):
        selected = flat_prob[index] >= 0.5
        if not bool(selected.any()):
            selected = flat_prob[index] == flat_prob[index].max()
        rows.append(_median(flat_lse[index][:, selected]))
    return torch.stack(rows)


def _median(values: torch.Tensor) -> torch.Tensor:
    """`[E, N]` -> `[E]`: per-row median, the mean of the two middle values for an even N (as
    `torch.quantile(values, 0.5, dim=1)` interpolates them), by selection (`torch.kthvalue`).

    With gradients, each middle value is taken from its pixel (`gather`), so the gradient reaches the
    same pixel as through the quantile's sort wherever that value occurs once in its row; a row where it
    is tied goes through the quantile, whose sort decides which of the equal pixels receives it."""
    count = values.shape[1]
    ranks = [(count + 1) // 2] if count % 2 else [count // 2, count // 2 + 1]
    middle = [torch.kthvalue(values.detach(), rank, dim=1) for rank in ranks]
    if not (values.requires_grad and torch.is_grad_enabled()):
        picked = [m.values for m in middle]
        return picked[0] if count % 2 else torch.lerp(picked[0], picked[1], 0.5)
    picked = [values.gather(1, m.indices[:, None])[:, 0] for m in middle]
    median = picked[0] if count % 2 else torch.lerp(picked[0], picked[1], 0.5)
    tied = torch.zeros(values.shape[0], dtype=torch.bool, device=values.device)
    for m in middle:
        tied |= (values.detach() == m.values[:, None]).sum(dim=1) > 1
    if bool(tied.any()):
        rows = tied.nonzero()[:, 0]
        median = median.index_put((rows,), torch.quantile(values[rows], 0.5, dim=1))
    return median


def fuse(fg_prob: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
    """`fg_prob [B,1,H,W]`, `lse [B,E,H,W]` -> fused foreground probability `[B,1,H,W]`."""
    r = representative(fg_prob, lse)
    embedding_prob = similarity(lse, r[:, :, None, None], dim=1).unsqueeze(1)
    return 0.5 * (embedding_prob + fg_prob)


def foreground_probability(output, head: str) -> torch.Tensor:
    """Foreground probability `[B,1,H,W]` of an `LSEOutput`: head "fp" (sigmoid of FP, reads `fg_logit`) or
    "fused" (reads `fg_logit` and `lse`)."""
    outputs_needed(head)
    fg_prob = torch.sigmoid(output.fg_logit)
    if head == "fp":
        return fg_prob
    return fuse(fg_prob, output.lse)
