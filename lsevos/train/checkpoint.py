"""Checkpoints: one `torch.save` dict per file, written atomically.

Keys: `format` (1), `model_config` (LSENet constructor arguments), `model_state`, `step`, `config` (the
settings that produced it), `optimizer_state` (or None), `extra` (free dict: RNG state, data description).

Checkpoints are read with `torch.load(weights_only=True)`: only tensors and plain values (dict, list,
tuple, str, numbers, None) are unpickled, so a crafted file cannot run code; everything lsevos stores
(model and optimizer state, the torch RNG state, settings, first-frame labels) is of that kind.
`config["stage"]` records what produced a checkpoint: pretraining stages "1", "2", "3", "fp", or
"finetune" / "retrain" of the video stage.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from lsevos.data.io import atomic_output
from lsevos.errors import DataError, LsevosError
from lsevos.model.lse_net import LSENet

FORMAT = 1
REQUIRED_KEYS = ("format", "model_config", "model_state", "step", "config")
NO_FP_HEAD_STAGES = ("1", "2")
"""Pretraining stages that do not train the foreground (FP) head: their models cannot segment."""


def _first_line(error: BaseException) -> str:
    """The informative line of a (possibly multi-line) torch error message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "Unsupported" in line or "unsupported" in line:
            return line
    return lines[0] if lines else type(error).__name__


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
    if path.is_dir():
        raise DataError(f"{path}: {folder_hint(path)}")
    if not path.is_file():
        raise DataError(f"{path}: checkpoint not found; run `lsevos pretrain` to create it or fix the path")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else fails to unpickle
        raise DataError(
            f"{path}: not a PyTorch checkpoint (no zip archive: another kind of file, or a copy cut short); "
            "give a .pt written by lsevos (`lsevos pretrain`, `make model`) or copy it again"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise DataError(
            f"{path}: refused: the file holds Python objects other than tensors and plain values "
            f"({_first_line(error)}), and loading them could run code; use a checkpoint written by lsevos"
        ) from None
    except Exception as error:
        raise DataError(
            f"{path}: not a readable lsevos checkpoint ({_first_line(error)}); copy it again or train again"
        ) from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise DataError(
            f"{path}: not an lsevos checkpoint (missing {', '.join(missing)}); "
            "use a file written by `lsevos pretrain`"
        )
    _refuse_non_finite(path, payload["model_state"])
    return payload


def _refuse_non_finite(path: Path, state: object) -> None:
    """`DataError` when a floating-point weight is NaN or infinite (a damaged file or a diverged run):
    such a model fails later, deep inside a loss or a median, after minutes of work."""
    if not isinstance(state, dict):
        return  # model_from_checkpoint names a state that is not a dict
    bad = {
        key: int((~torch.isfinite(value)).sum())
        for key, value in state.items()
        if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all())
    }
    if bad:
        first = next(iter(bad))
        raise DataError(
            f"{path}: {sum(bad.values())} weights are NaN or infinite, in {len(bad)} tensor(s) (first "
            f"{first}); the file is damaged or its training diverged: use another copy or train again"
        )


def folder_hint(path: str | os.PathLike) -> str:
    """What to say when a folder is given where a checkpoint file belongs: the .pt files in it."""
    found = sorted(entry.name for entry in Path(path).glob("*.pt"))
    listed = (
        f"it holds {', '.join(found[:3])}{', ...' if len(found) > 3 else ''}" if found else "no .pt in it"
    )
    return f"is a folder, not a checkpoint file ({listed}); give the path of the .pt file"


def checkpoint_stage(payload: dict) -> str | None:
    """What produced a loaded checkpoint: `config["stage"]` ("1", "2", "3", "fp", "finetune", ...)."""
    config = payload.get("config")
    stage = config.get("stage") if isinstance(config, dict) else None
    return None if stage is None else str(stage)


def require_fp_head(path: str | os.PathLike, payload: dict | None = None) -> dict:
    """Refuse a checkpoint of pretraining stage 1 or 2, whose foreground head was never trained (such a
    model cannot segment); returns the loaded payload."""
    payload = load_checkpoint(path) if payload is None else payload
    stage = checkpoint_stage(payload)
    if stage in NO_FP_HEAD_STAGES:
        raise DataError(
            f"{path}: a pretraining stage-{stage} checkpoint, whose foreground (FP) head is not trained; "
            "segmenting needs a stage-3 (or FP-only) pretrained model or one fine-tuned from it "
            "(e.g. stage3.pt)"
        )
    return payload


def model_from_checkpoint(payload: dict, source: str | os.PathLike | None = None) -> LSENet:
    """Rebuild the `LSENet` of a loaded checkpoint dict (no ImageNet weights needed: the state has them).

    Weights that do not fit the stored `model_config` raise a one-line `DataError` naming `source`.
    """
    where = source if source is not None else "checkpoint"
    config = payload["model_config"]
    if not isinstance(config, dict) or "backbone" not in config or "embed_dim" not in config:
        raise DataError(
            f"{where}: model_config {config!r} lacks backbone or embed_dim; train the model again"
        )
    config = dict(config)
    try:
        model = LSENet(backbone=config["backbone"], embed_dim=config["embed_dim"], pretrained=False)
    except LsevosError as error:
        raise DataError(f"{where}: its model_config cannot be built ({error})") from None
    except (TypeError, ValueError, KeyError) as error:
        raise DataError(f"{where}: its model_config {config!r} cannot be built ({error})") from None
    model.model_config = config
    state = payload["model_state"]
    if not isinstance(state, dict):
        raise DataError(f"{where}: model_state is not a state dict; train the model again")
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong = [
        key
        for key in expected
        if key in state and (not torch.is_tensor(state[key]) or state[key].shape != expected[key].shape)
    ]
    if missing or unexpected or wrong:
        example = (missing or unexpected or wrong)[0]
        detail = f"{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} of another shape"
        raise DataError(
            f"{where}: its weights do not fit its model_config (backbone {config['backbone']}, embed_dim "
            f"{config['embed_dim']}): {detail}, e.g. {example}; the file was altered or mixed up, train again"
        )
    model.load_state_dict(state)
    return model


def load_model(path: str | os.PathLike) -> LSENet:
    """The `LSENet` stored in the checkpoint at `path`, in eval mode."""
    return model_from_checkpoint(load_checkpoint(path), path).eval()
