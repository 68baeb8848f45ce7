"""Measured machine peak, the denominator of MFU figures in training and bench."""

from __future__ import annotations

import functools
import hashlib
import os
import time

import torch

BF16_MIN_SPEEDUP = 1.3  # bf16 matmuls must beat float32 by this factor to be chosen (ratio)


def measure_matmul_peak(
    dtype: torch.dtype, device: torch.device | str = "cpu", seconds: float = 1.0, n: int = 2048, rounds: int = 3
) -> float:
    """Achieved FLOP/s of repeated n x n matmuls in ``dtype`` on ``device``: the best of ``rounds``
    timings over ``seconds`` in all. A peak is the best the machine does; on a shared VM one
    timing was seen to come out at half the usual figure, and a fraction of that is meaningless.

    n shrinks where one matmul would take more than a tenth of the time: a CPU without native
    bfloat16 was seen to take 63 s for one 2048 x 2048 bf16 matmul (0.2 s in float32)."""
    device = torch.device(device)
    small = 256
    a = torch.randn(small, small, device=device, dtype=dtype)
    a @ a
    t0 = time.perf_counter()
    a @ a
    rate = 2 * small**3 / max(time.perf_counter() - t0, 1e-9)  # FLOP/s, roughly
    while n > small and 2 * n**3 / rate > seconds / 10:
        n //= 2
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


@functools.cache
def faster_cpu_matmul_dtype(m: int, k: int, n: int) -> torch.dtype:
    """bfloat16 if an [m, k] x [k, n] matmul runs at least BF16_MIN_SPEEDUP times faster in it
    than in float32 on this CPU, else float32.

    CPUs differ: with AMX bf16 is several times float32, on AVX-512 without it about twice, on
    others slower, so the answer is measured, never assumed. It is measured once per machine and
    kept in the build cache (engine/backends/build_cache.py), so that every later engine on this
    machine computes in the same precision and plays the same moves at Temperature 0."""
    from chessformer.engine.backends.build_cache import build_cache_root, cpu_model

    key = hashlib.sha256(f"{cpu_model()}|{torch.__version__}|{m}x{k}x{n}".encode()).hexdigest()[:16]
    path = build_cache_root() / f"matmul-dtype-{key}.txt"
    try:
        return {"bfloat16": torch.bfloat16, "float32": torch.float32}[path.read_text().strip()]
    except (OSError, KeyError):
        pass
    dtype = _probe_faster_dtype(m, k, n)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(str(dtype).removeprefix("torch."))
        os.replace(tmp, path)  # atomic: a concurrent engine reads the whole answer or none
    except OSError:
        pass  # a read-only cache: measured again next time
    return dtype


def _probe_faster_dtype(m: int, k: int, n: int, seconds: float = 0.15) -> torch.dtype:
    """The timing behind faster_cpu_matmul_dtype: float32 and bf16 in alternating rounds, so a
    neighbour's load slows both alike; the best round of each is compared."""
    best = {torch.float32: float("inf"), torch.bfloat16: float("inf")}
    mats = {dt: (torch.randn(m, k, dtype=dt), torch.randn(k, n, dtype=dt)) for dt in best}
    for a, b in mats.values():
        a @ b  # warm-up: first-call dispatch and allocation
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for dt, (a, b) in mats.items():
            t0 = time.perf_counter()
            a @ b
            best[dt] = min(best[dt], time.perf_counter() - t0)
    return torch.bfloat16 if best[torch.float32] >= BF16_MIN_SPEEDUP * best[torch.bfloat16] else torch.float32
