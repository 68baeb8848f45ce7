"""cpu-fast: the static-cache slot backend run eagerly (the fastest CPU path measured).

Measured with ``python -m bench throughput`` (README): on a 2-core AVX-512 CPU without
AMX, fp32 weights beat bf16 at every batch size for the shipped model size, and
torch.compile's warm-up (tens of seconds) does not fit a GUI's readyok limit, so this
backend is eager fp32 by default; ``dtype`` selects bf16 where it wins (AMX CPUs, GPUs).
"""

from __future__ import annotations

import torch

from engine.backends.slots import SlotBackend
from engine.backends.static_step import decode_step
from engine.model import ChessFormer


class CpuFastBackend(SlotBackend):
    name = "cpu-fast"

    def __init__(
        self, model: ChessFormer, slots: int = 64, dtype: torch.dtype = torch.float32, device: str = "cpu"
    ) -> None:
        dev = torch.device(device)
        super().__init__(model.to(dev, dtype).eval(), slots, dev, dtype)

    def _decode(
        self, slots: torch.Tensor, tokens: torch.Tensor, anchors: torch.Tensor, pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # eager: attend only to the positions some row has filled (shapes may vary per step)
        k, v = self.cache.gather(slots, int(pos.max()) + 1 if pos.numel() else 1)
        policy, value, k_new, v_new = decode_step(self.model, tokens, anchors, pos, k, v)
        self.cache.write_step(slots, pos, k_new, v_new)
        return policy, value
