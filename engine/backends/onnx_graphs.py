"""ONNX export of the two static steps, the graphs TensorRT builds its engines from.

- ``decode.onnx``: tokens [B] int64, anchor [B, F] int64 (the new token's feature row), pos [B] int64,
  k_cache, v_cache [L, B, H, Tmax, D] -> policy [B, M], value [B, 3], k_new, v_new [L, B, H, D].
- ``prefill.onnx``: tokens [B, T] int64, anchor [B, T, F] int64 (every token's feature row,
  engine/tokenizer.py) -> policy [B, M], value [B, 3],
  keys, values [L, B, H, T, D].

B (1..256) and T (1..block_size) are dynamic; Tmax is the model's block_size.
A squares model (engine/model.py) reads every board afresh and has no decode step:
only its prefill graph is exported (``graph_names``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from chessformer.engine.backends.static_step import decode_step, prefill
from chessformer.engine.model import ChessFormer
from chessformer.engine.tokenizer import PAD_FEATURE, POS_ID

OPSET = 17
DECODE_INPUTS = ("tokens", "anchor", "pos", "k_cache", "v_cache")
DECODE_OUTPUTS = ("policy", "value", "k_new", "v_new")
PREFILL_INPUTS = ("tokens", "anchor")
PREFILL_OUTPUTS = ("policy", "value", "keys", "values")


class DecodeGraph(nn.Module):
    def __init__(self, model: ChessFormer) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        tokens: torch.Tensor,
        anchor: torch.Tensor,
        pos: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
    ):  # type: ignore[no-untyped-def]
        return decode_step(self.model, tokens, anchor, pos, k_cache, v_cache)


class PrefillGraph(nn.Module):
    def __init__(self, model: ChessFormer) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, anchor: torch.Tensor):  # type: ignore[no-untyped-def]
        return prefill(self.model, tokens, anchor)


def example_inputs(
    model: ChessFormer, batch: int = 2, seq: int = 5
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    cfg = model.cfg
    L, H, T, D = cfg.n_layer, cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head
    anchor = torch.full((batch, cfg.row_width), PAD_FEATURE, dtype=torch.long)
    decode = (
        torch.zeros(batch, dtype=torch.long),
        anchor,
        torch.ones(batch, dtype=torch.long),
        torch.zeros(L, batch, H, T, D),
        torch.zeros(L, batch, H, T, D),
    )
    tokens = torch.zeros(batch, min(seq, T), dtype=torch.long)  # a short window's model takes fewer
    tokens[:, 0] = POS_ID
    rows = anchor.unsqueeze(1).expand(-1, tokens.shape[1], -1).contiguous()  # [B, F] -> [B, T, F]
    return decode, (tokens, rows)


def graph_names(model: ChessFormer) -> tuple[str, ...]:
    """The graphs ``model`` has: a squares model has no decode step (nothing is cached)."""
    return ("prefill",) if model.squares else ("decode", "prefill")


def export_onnx(model: ChessFormer, folder: Path) -> dict[str, Path]:
    """Write decode.onnx and prefill.onnx (those of ``graph_names``) for ``model`` (fp32) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    model = model.float().eval()
    dec_in, pre_in = example_inputs(model)
    batch = {0: "batch"}
    dec_axes = {
        "tokens": batch,
        "anchor": batch,
        "pos": batch,
        "k_cache": {1: "batch"},
        "v_cache": {1: "batch"},
        "policy": batch,
        "value": batch,
        "k_new": {1: "batch"},
        "v_new": {1: "batch"},
    }
    pre_axes = {
        "tokens": {0: "batch", 1: "seq"},
        "anchor": {0: "batch", 1: "seq"},
        "policy": batch,
        "value": batch,
        "keys": {1: "batch", 3: "seq"},
        "values": {1: "batch", 3: "seq"},
    }
    paths = {g: folder / f"{g}.onnx" for g in graph_names(model)}
    jobs = {
        "decode": (DecodeGraph(model), dec_in, DECODE_INPUTS, DECODE_OUTPUTS, dec_axes),
        "prefill": (PrefillGraph(model), pre_in, PREFILL_INPUTS, PREFILL_OUTPUTS, pre_axes),
    }
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        for g, path in paths.items():
            graph, inputs, names, outs, axes = jobs[g]
            torch.onnx.export(
                graph,
                inputs,
                str(path),
                input_names=list(names),
                output_names=list(outs),
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    return paths
