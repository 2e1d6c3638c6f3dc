"""lsevos.devices: one rule for where torch computes."""

import pytest
import torch

from lsevos.devices import resolve_device
from lsevos.errors import ConfigError


def test_cpu_flushes_denormals_to_zero():
    def flushing() -> bool:
        return torch.tensor([1e-40], dtype=torch.float32).item() == 0.0  # 1e-40 is a denormal float32

    before = flushing()
    try:
        torch.set_flush_denormal(False)
        assert not flushing()
        assert resolve_device("cpu") == torch.device("cpu")
        assert flushing()
    finally:
        torch.set_flush_denormal(before)


def test_unknown_device_and_absent_cuda_name_the_key():
    with pytest.raises(ConfigError, match="video setting 'device' must be one of auto, cpu, cuda, got 'tpu'"):
        resolve_device("tpu", "video setting 'device'")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'cuda' but torch sees no CUDA device"):
            resolve_device("cuda")
        assert resolve_device("auto") == torch.device("cpu")
