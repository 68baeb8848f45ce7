"""Measured machine peak, the denominator of MFU figures in training and bench."""

from __future__ import annotations

import time

import torch


def measure_matmul_peak(
    dtype: torch.dtype, device: torch.device | str = "cpu", seconds: float = 1.0, n: int = 2048, rounds: int = 3
) -> float:
    """Achieved FLOP/s of repeated n x n matmuls in ``dtype`` on ``device``: the best of ``rounds``
    timings over ``seconds`` in all. A peak is the best the machine does; on a shared VM one
    timing was seen to come out at half the usual figure, and a fraction of that is meaningless."""
    device = torch.device(device)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(rounds):
        count, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / rounds:
            a @ b
            count += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * n**3 * count / (time.perf_counter() - t0))
    return best
