"""onnx: the exported ONNX graphs (engine/backends/onnx_graphs.py) run by onnxruntime on the CPU.

``GraphBackend`` is the slot bookkeeping of SlotBackend with its steps done by a
``GraphRunner``: here onnxruntime's (``OrtRunner``), on a GPU TensorRT's
(engine/backends/tensorrt_backend.py). The graphs and the cache layout are the same for both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from chessformer.engine.backends.onnx_graphs import export_onnx
from chessformer.engine.backends.slots import SlotBackend
from chessformer.engine.model import ChessFormer
from chessformer.engine.tokenizer import TokenSequence

MAX_BATCH = 256  # largest batch in the decode profile (rows)
PREFILL_MAX_BATCH = 16  # largest batch in the prefill profile (rows)


class GraphRunner(Protocol):
    def run(self, graph: str, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run ``graph`` ("decode" or "prefill") on named inputs; return named outputs."""


class OrtRunner:
    """onnxruntime sessions of the two graphs (CPU execution provider)."""

    def __init__(self, model: ChessFormer, folder: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        self.sessions = {
            g: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
            for g, p in export_onnx(model, folder).items()
        }

    def run(self, graph: str, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        sess = self.sessions[graph]
        outs = sess.run(None, {k: v.cpu().numpy() for k, v in inputs.items()})
        return {o.name: torch.from_numpy(np.asarray(x)) for o, x in zip(sess.get_outputs(), outs, strict=True)}


class GraphBackend(SlotBackend):
    """A slot backend whose steps are the exported graphs, run by a GraphRunner."""

    name = "onnx"
    prefill_max_batch = PREFILL_MAX_BATCH  # the prefill graph's optimisation profile

    def __init__(self, model: ChessFormer, runner: GraphRunner, slots: int = 64, device: str = "cpu") -> None:
        super().__init__(model.float().eval(), slots, torch.device(device), torch.float32)
        self.runner = runner

    def _decode(
        self, slots: torch.Tensor, tokens: torch.Tensor, anchors: torch.Tensor, pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.cache.gather(slots)
        out = self.runner.run("decode", {"tokens": tokens, "anchor": anchors, "pos": pos, "k_cache": k, "v_cache": v})
        self.cache.write_step(slots, pos, out["k_new"].to(self.device), out["v_new"].to(self.device))
        return out["policy"], out["value"]

    def _prefill(self, seqs: list[TokenSequence], slots: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        tok = torch.tensor([s.tokens() for s in seqs], device=self.device)  # [n, T]
        rows = torch.tensor([s.all_rows() for s in seqs], device=self.device)  # [n, T, F]
        out = self.runner.run("prefill", {"tokens": tok, "anchor": rows})
        for r, slot in enumerate(slots):  # keys, values [L, n, H, T, D]
            self.cache.write_prefix(slot, out["keys"][:, r].to(self.device), out["values"][:, r].to(self.device))
        return out["policy"], out["value"]
