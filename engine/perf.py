"""Measured machine peak, the denominator of MFU figures in training and bench."""

from __future__ import annotations

import time

import torch


def measure_matmul_peak(
    dtype: torch.dtype, device: torch.device | str = "cpu", seconds: float = 1.0, n: int = 2048
) -> float:
    """Achieved FLOP/s of repeated n x n matmuls in ``dtype`` on ``device``."""
    device = torch.device(device)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        count += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * count / (time.perf_counter() - t0)
