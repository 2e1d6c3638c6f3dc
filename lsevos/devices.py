"""Where torch computes: one rule for every command (pretraining, fine-tuning, scans).

`device` is `auto` (CUDA when available), `cpu` or `cuda`. On CUDA, cuDNN picks its fastest kernels for the
fixed crop sizes (`cudnn.benchmark`); such runs are fast but not bitwise reproducible (README). On the CPU,
denormal floats are flushed to zero (`torch.set_flush_denormal`), which keeps tiny values from slowing the
kernels down by orders of magnitude.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from lsevos.errors import ConfigError

if TYPE_CHECKING:
    import torch

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = get_args(Device)


def resolve_device(name: str, key: str = "device") -> torch.device:
    """The torch device for a `device` setting; `ConfigError` naming `key` when CUDA is asked but absent."""
    import torch  # here, so that settings can check names against DEVICES without importing torch

    if name not in DEVICES:
        raise ConfigError(f"{key} must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"{key} is 'cuda' but torch sees no CUDA device (torch {torch.__version__}, "
                f"CUDA build {torch.version.cuda or 'none'}); run on a GPU node or set device: cpu"
            )
        torch.backends.cudnn.benchmark = True
    else:
        # Denormal floats (|x| < 1.2e-38) make CPU kernels up to ~100x slower: a retraining backward of
        # the paper-smoke took minutes per step on weights that a few SGD steps had driven near zero.
        torch.set_flush_denormal(True)
    return torch.device(name)


def return_freed_memory() -> bool:
    """Hand the memory freed by a training run (autograd's activations and gradients) back to the system
    (glibc's `malloc_trim`), so that the peak of a later phase does not stack on top of it; False where the
    C library has no such call (not glibc)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return False
    trim(0)
    return True
