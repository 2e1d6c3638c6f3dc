"""lsevos.devices: one rule for where torch computes, and memory handed back after training."""

import sys

import psutil
import pytest
import torch

from lsevos.devices import resolve_device, return_freed_memory
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


def test_an_unknown_device_names_the_key():
    with pytest.raises(ConfigError, match="video setting 'device' must be one of auto, cpu, cuda, got 'tpu'"):
        resolve_device("tpu", "video setting 'device'")


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="a CUDA device is present: its absence cannot be tested"
)
def test_cuda_without_a_cuda_device_is_refused_and_auto_is_the_cpu():
    with pytest.raises(ConfigError, match="'cuda' but torch sees no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_and_auto_resolve_to_the_cuda_device_when_there_is_one():
    assert resolve_device("cuda").type == "cuda" and resolve_device("auto").type == "cuda"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux's")
def test_freed_small_allocations_leave_the_process_after_the_call():
    process = psutil.Process()
    chunks = [torch.ones(8000) for _ in range(10000)]  # 32 KB each: heap, not mmap; 320 MB in all
    kept = chunks[::200]  # a few survivors keep the heap fragmented, as after a training step
    del chunks
    freed = process.memory_info().rss
    assert return_freed_memory() is True
    assert process.memory_info().rss < freed - 200 * 2**20
    del kept  # the survivors lived through the measurement
