"""Checkpoints: one `torch.save` dict per file, written atomically.

Keys: `format` (1), `model_config` (LSENet constructor arguments), `model_state`, `step`, `config` (the
settings that produced it), `optimizer_state` (or None), `extra` (free dict: RNG state, data description).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from lsevos.data.io import atomic_output
from lsevos.errors import DataError
from lsevos.model.lse_net import LSENet

FORMAT = 1
REQUIRED_KEYS = ("format", "model_config", "model_state", "step", "config")


def save_checkpoint(
    path: str | os.PathLike,
    model: LSENet,
    *,
    step: int,
    config: dict,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict | None = None,
) -> None:
    """Write `model` (with its `model_config`), `step`, `config` and the optimizer state to `path`."""
    payload = {
        "format": FORMAT,
        "model_config": dict(model.model_config),
        "model_state": model.state_dict(),
        "step": int(step),
        "config": config,
        "optimizer_state": None if optimizer is None else optimizer.state_dict(),
        "extra": extra or {},
    }
    with atomic_output(path) as temporary:
        torch.save(payload, temporary)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """The dict saved by `save_checkpoint`; `DataError` naming the file if missing or not a checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: checkpoint not found; run `lsevos pretrain` to create it or fix the path")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise DataError(
            f"{path}: not a readable lsevos checkpoint ({error}); delete it and train again"
        ) from error
    missing = [key for key in REQUIRED_KEYS if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise DataError(
            f"{path}: not an lsevos checkpoint (missing {', '.join(missing)}); "
            "use a file written by `lsevos pretrain`"
        )
    return payload


def model_from_checkpoint(payload: dict) -> LSENet:
    """Rebuild the `LSENet` of a loaded checkpoint dict (no ImageNet weights needed: the state has them)."""
    config = dict(payload["model_config"])
    model = LSENet(backbone=config["backbone"], embed_dim=config["embed_dim"], pretrained=False)
    model.model_config = config
    model.load_state_dict(payload["model_state"])
    return model


def load_model(path: str | os.PathLike) -> LSENet:
    """The `LSENet` stored in the checkpoint at `path`, in eval mode."""
    return model_from_checkpoint(load_checkpoint(path)).eval()
