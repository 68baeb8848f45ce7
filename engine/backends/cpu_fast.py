"""cpu-fast: the static-cache slot backend on the CPU (the fastest CPU path measured).

Measured with ``python -m chessformer.bench throughput`` (README): on 2-core AVX-512 CPUs without
AMX, fp32 weights beat bf16 at every batch size for the shipped model size, so this
backend is fp32 by default; ``dtype`` selects bf16 where it wins (AMX CPUs).

Batched steps run eagerly over only the cache positions some row has filled: their time
is matmuls, and attention cost grows with the positions read. A batch of one (the engine
thinking about one game) is dominated instead by per-operator dispatch, so it runs the
same decode step in C (engine/backends/native_step.py: compiled once per machine in under
a second, then loaded from a cache). Where that cannot be built (no C compiler) it runs a
TorchScript trace of the step over the slot's whole cache (static shapes, traced in ~0.1 s
while the model loads, far inside a GUI's readyok limit; torch.compile's tens of seconds
are not). ``single_step`` says which.
"""

from __future__ import annotations

import logging
import warnings

import torch

from chessformer.engine.backends.native_step import NativeDecodeStep, NativeUnavailable
from chessformer.engine.backends.slots import SlotBackend
from chessformer.engine.backends.static_step import decode_step
from chessformer.engine.model import ChessFormer

log = logging.getLogger("chessformer")


class _DecodeStep(torch.nn.Module):
    """decode_step as a module, so that torch.jit.trace records it with the weights."""

    def __init__(self, model: ChessFormer) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, tokens: torch.Tensor, anchor: torch.Tensor, pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return decode_step(self.model, tokens, anchor, pos, k, v)


class CpuFastBackend(SlotBackend):
    name = "cpu-fast"
    native_int8 = False  # the C step's weights: fp32 (exact to ~1e-5) or int8

    def __init__(
        self,
        model: ChessFormer,
        slots: int = 64,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
        trace_single: bool = True,
        native: bool = True,
        native_weights: ChessFormer | None = None,
    ) -> None:
        """``trace_single``: run batch-1 steps outside eager torch (C, else a trace); ``native``:
        try C first. ``native_weights``: the float model the C step reads, when ``model`` is not one."""
        dev = torch.device(device)
        super().__init__(model.to(dev, dtype).eval(), slots, dev, dtype)
        # built while loading (isready), so the first go does not pay for it
        # (a squares model has no decode step: every position is a prefill)
        self._native: NativeDecodeStep | None = None
        self._traced: torch.jit.ScriptModule | None = None
        if trace_single and not model.squares:
            if native:
                try:
                    self._native = NativeDecodeStep(native_weights or self.model, self.cache, self.native_int8)
                except NativeUnavailable as e:
                    log.info("batch-1 steps run a TorchScript trace, not C: %s", e)
            if self._native is None:
                self._traced = self._trace_single_step()
        self.single_step = "native" if self._native else "trace" if self._traced else "eager"  # the batch-1 path
        self.single_step_calls = 0  # batch-1 steps run by the C step or the trace (stats and tests)

    def _trace_single_step(self) -> torch.jit.ScriptModule:
        k, v = self.cache.gather(torch.zeros(1, dtype=torch.long))  # [L, 1, H, Tmax, D]: the traced shapes
        example = (
            torch.zeros(1, dtype=torch.long),
            torch.zeros(1, self.model.cfg.row_width, dtype=torch.long),
            torch.ones(1, dtype=torch.long),
            k,
            v,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice; the trace itself is checked by tests
            traced = torch.jit.trace(_DecodeStep(self.model), example, check_trace=False)
            return torch.jit.freeze(traced.eval())

    def _decode(
        self, slots: torch.Tensor, tokens: torch.Tensor, anchors: torch.Tensor, pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self._native is not None and slots.shape[0] == 1:
            self.single_step_calls += 1
            return self._native(int(slots[0]), int(tokens[0]), anchors[0].contiguous(), int(pos[0]))  # writes the cache
        if self._traced is not None and slots.shape[0] == 1:
            k, v = self.cache.gather(slots)  # a view of the slot's whole cache
            policy, value, k_new, v_new = self._traced(tokens, anchors, pos, k, v)
            self.single_step_calls += 1
        else:
            # eager: attend only to the positions some row has filled (shapes may vary per step)
            k, v = self.cache.gather(slots, int(pos.max()) + 1 if pos.numel() else 1)
            policy, value, k_new, v_new = decode_step(self.model, tokens, anchors, pos, k, v)
        self.cache.write_step(slots, pos, k_new, v_new)
        return policy, value


def quantize_linear_int8(model: ChessFormer) -> ChessFormer:
    """A copy of ``model`` with every nn.Linear replaced by a dynamically quantised one:
    int8 weights (per output channel), activations quantised per batch on the fly, fp32 out.

    Why: at batch 1 a decode step streams every weight once (~14 MB in fp32 for the bundled
    model) for ~7 MFLOP of work, so it is bound by memory and dispatch, not arithmetic; int8
    weights are a quarter of the bytes. Embeddings, layer norms and the KV cache stay fp32.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's notice that quantisation is moving to torchao
        return torch.ao.quantization.quantize_dynamic(model.float().eval(), {torch.nn.Linear}, dtype=torch.qint8)


class CpuInt8Backend(CpuFastBackend):
    """cpu-fast with int8 weights in every linear layer (quantize_linear_int8).

    Not exact: the policy logits differ from fp32 by up to a few tenths (parity test:
    tests/engine/test_backends.py states the tolerance on move probabilities), so it is a choice
    (Backend cpu-int8), never what auto picks. Its batch-1 C step quantises the same way
    (int8 weights per output row, each layer's input per call), from the float weights.
    """

    name = "cpu-int8"
    native_int8 = True

    def __init__(self, model: ChessFormer, slots: int = 64, trace_single: bool = True, native: bool = True) -> None:
        model = model.float().eval()
        super().__init__(quantize_linear_int8(model), slots, torch.float32, "cpu", trace_single, native, model)
