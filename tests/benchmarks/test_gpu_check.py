"""The prepared GPU check (`make bench-gpu`) runs its code paths on the CPU at toy sizes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch


@pytest.mark.slow
def test_gpu_check_code_paths_on_the_cpu(tmp_path, repo_root):
    out = tmp_path / "gpu_check.json"
    command = [sys.executable, str(repo_root / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick"]
    result = subprocess.run([*command, "--workers", "1", "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    network = figures["network"]
    for key in ("forward_ms_fp32", "forward_ms_bf16", "train_step_ms_fp32", "train_step_ms_bf16"):
        assert network[key] > 0
    assert figures["loader"]["images_per_s_1_workers"] > 0 and figures["loader"]["loader_over_gpu"] > 0
    assert figures["scan"]["frames"] == 24 and figures["scan"]["frames_per_s"] > 0


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_gpu_check_without_cuda_says_so(repo_root):
    result = subprocess.run(
        [sys.executable, str(repo_root / "benchmarks" / "gpu_check.py")], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "no CUDA device here" in result.stderr and "Traceback" not in result.stderr
