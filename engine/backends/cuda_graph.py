"""cuda-graph: one CUDA graph per batch bucket (1, 2, 4, ... 256) replaying the decode step.

Each bucket owns static input buffers (slots, tokens, anchors, positions) and output
buffers. A decode step copies its rows into the bucket's inputs (padding rows point at
a scratch slot), replays the graph, and reads the outputs: the gather of the cache, the
step itself and the write of the new keys and values are all inside the graph, so there
is no host synchronisation within a step.

Without CUDA (this project's machines) the same buckets, buffers and static step run
eagerly (``StaticStep.replay`` calls the step function instead of the graph), so the
logic around the graph is tested on CPU; only ``torch.cuda.graph`` capture is skipped.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from chessformer.engine.backends.slots import SlotBackend
from chessformer.engine.backends.static_step import decode_step
from chessformer.engine.model import ChessFormer

BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def bucket_for(n: int) -> int:
    for b in BUCKETS:
        if n <= b:
            return b
    raise ValueError(f"batch of {n} exceeds the largest bucket {BUCKETS[-1]}")


class StaticStep:
    """The decode step of one batch bucket over static buffers, captured as a CUDA graph if possible."""

    def __init__(self, backend: CudaGraphBackend, batch: int, capture: bool) -> None:
        dev = backend.device
        self.batch = batch
        self.scratch = backend.cache.slots - 1  # padding rows read and write only this slot
        self.slots = torch.full((batch,), self.scratch, dtype=torch.long, device=dev)
        self.tokens = torch.zeros(batch, dtype=torch.long, device=dev)
        self.anchors = torch.zeros(
            batch, backend.model.cfg.row_width, dtype=torch.long, device=dev
        )  # [B, F] token rows
        self.pos = torch.zeros(batch, dtype=torch.long, device=dev)
        self._fn: Callable[[], tuple[torch.Tensor, torch.Tensor]] = lambda: backend._step(
            self.slots, self.tokens, self.anchors, self.pos
        )
        self.graph: torch.cuda.CUDAGraph | None = None
        if capture:
            # warm up on a side stream, then capture (PyTorch's documented recipe)
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(2):
                    self._fn()
            torch.cuda.current_stream().wait_stream(s)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.out_policy, self.out_value = self._fn()

    def replay(
        self, slots: torch.Tensor, tokens: torch.Tensor, anchors: torch.Tensor, pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = slots.shape[0]
        # padding rows: the scratch slot at position 0, whatever an earlier, larger batch left there
        self.slots[n:].fill_(self.scratch)
        self.pos[n:].zero_()
        self.slots[:n].copy_(slots)
        self.tokens[:n].copy_(tokens)
        self.anchors[:n].copy_(anchors)
        self.pos[:n].copy_(pos)
        if self.graph is not None:
            self.graph.replay()
            return self.out_policy[:n], self.out_value[:n]
        policy, value = self._fn()
        return policy[:n], value[:n]


class CudaGraphBackend(SlotBackend):
    name = "cuda-graph"

    def __init__(
        self, model: ChessFormer, slots: int = 257, dtype: torch.dtype | None = None, device: str | None = None
    ) -> None:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.capture = dev.type == "cuda"
        dtype = dtype or (torch.bfloat16 if self.capture else torch.float32)
        # one extra slot: the scratch slot padding rows write into
        super().__init__(model.to(dev, dtype).eval(), slots + 1, dev, dtype)
        self._steps: dict[int, StaticStep] = {}

    def _take_slot(self, pinned: set[int]) -> int:
        return super()._take_slot(pinned | {self.cache.slots - 1})

    def _step(
        self, slots: torch.Tensor, tokens: torch.Tensor, anchors: torch.Tensor, pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole static step: gather, decode, scatter. Captured as is."""
        k, v = self.cache.gather(slots)
        policy, value, k_new, v_new = decode_step(self.model, tokens, anchors, pos, k, v)
        self.cache.write_step(slots, pos, k_new, v_new)
        return policy, value

    def step_for(self, n: int) -> StaticStep:
        b = bucket_for(n)
        if b not in self._steps:
            self._steps[b] = StaticStep(self, b, self.capture)
        return self._steps[b]

    def _decode(
        self, slots: torch.Tensor, tokens: torch.Tensor, anchors: torch.Tensor, pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.step_for(slots.shape[0]).replay(slots, tokens, anchors, pos)
