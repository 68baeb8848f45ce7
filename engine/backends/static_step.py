"""Fixed-shape inference steps over a preallocated KV cache (gpt-fast style).

The same functions serve three backends: cpu-fast runs them eagerly, cuda-graph captures
``decode_step`` once per batch bucket and replays it, and tensorrt exports ``decode_step``
and ``prefill`` to ONNX. Every shape depends only on (batch bucket, cache length), never
on the positions, so nothing needs the host in the middle of a step.

Cache layout: keys and values are [L, S, H, Tmax, D] (layers, slots, heads, positions,
head dim). A slot holds one sequence; ``pos[b]`` is how many tokens slot ``slots[b]``
holds before this step.
"""

from __future__ import annotations

import math

import torch

from chessformer.engine.model import Block, ChessFormer
from chessformer.engine.tokenizer import POS_ID


def embed_at(model: ChessFormer, tokens: torch.Tensor, rows: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Embeddings [B, C] of one token per row at per-row positions pos [B]: the token's own
    embedding (none for POS) plus its feature row's sum (rows [B, F]; the board for POS)."""
    x = model.tok_emb(tokens)  # [B, C]
    x = torch.where((tokens == POS_ID).unsqueeze(-1), torch.zeros_like(x), x)
    return x + model.feat_emb(rows).sum(dim=1).to(x.dtype) + model.pos_emb(pos)  # [B, F, C] -> [B, C]


def decode_step(
    model: ChessFormer,
    tokens: torch.Tensor,
    anchor: torch.Tensor,
    pos: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One new token per row, attending to its row's cache (positions < pos) and itself.

    tokens [B] int64, anchor [B, F] int64 (each new token's feature row), pos [B] int64,
    k_cache, v_cache [L, B, H, Tmax, D] (the rows' caches, gathered by the caller).
    Returns policy [B, M], value [B, 3], k_new, v_new [L, B, H, D] for position pos.
    Pure: writes nothing, so it exports to ONNX as is.
    """
    if model.squares:
        raise ValueError("a squares model has no decode step: it reads each board afresh (use prefill)")
    B = tokens.shape[0]
    Tmax = k_cache.shape[3]
    H = model.cfg.n_head
    C = model.cfg.n_embd
    x = embed_at(model, tokens, anchor, pos).unsqueeze(1)  # [B, 1, C]
    # keys j < pos[b] of the cache are visible; the new token always sees itself
    hidden = torch.arange(Tmax, device=pos.device).unsqueeze(0) >= pos.unsqueeze(1)  # [B, Tmax]
    hidden = hidden[:, None, None, :]  # [B, 1, 1, Tmax]
    scale = 1.0 / math.sqrt(C // H)
    k_out, v_out = [], []
    for i, block in enumerate(model.blocks):
        assert isinstance(block, Block)
        h = block.ln1(x)
        q, k, v = block.attn.qkv(h).split(C, dim=2)
        q = q.view(B, 1, H, C // H).transpose(1, 2)  # [B, 1, C] -> [B, H, 1, D]
        k = k.view(B, 1, H, C // H).transpose(1, 2)
        v = v.view(B, 1, H, C // H).transpose(1, 2)
        # Attention split in two, cache part and new-token part, so the cache is only read:
        # concatenating the new key to it copied every row's whole cache at every step.
        kc, vc = k_cache[i].to(q.dtype), v_cache[i].to(q.dtype)  # [B, H, Tmax, D]
        s_cache = (q @ kc.transpose(2, 3)) * scale  # [B, H, 1, Tmax]
        s_cache = s_cache.masked_fill(hidden, float("-inf"))
        s_self = (q * k).sum(dim=-1, keepdim=True) * scale  # [B, H, 1, 1]
        p = torch.softmax(torch.cat([s_cache, s_self], dim=3), dim=3)  # [B, H, 1, Tmax+1]
        y = p[..., :Tmax] @ vc + p[..., Tmax:] * v  # [B, H, 1, D]
        y = y.transpose(1, 2).reshape(B, 1, C)  # [B, H, 1, D] -> [B, 1, C]
        x = x + block.attn.proj(y)
        x = x + block.mlp(block.ln2(x))
        k_out.append(k.squeeze(2))  # [B, H, D]
        v_out.append(v.squeeze(2))
    x = model.ln_f(x[:, 0])  # [B, C]
    return model.policy_head(x), model.value_head(x), torch.stack(k_out), torch.stack(v_out)


def prefill(
    model: ChessFormer, tokens: torch.Tensor, anchor: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A whole sequence per row from position 0: policy [B, M] and value [B, 3] at the
    last token, keys and values [L, B, H, T, D] to store in the cache."""
    policy, value, cache = model(tokens, anchor, None, last_only=True)
    if not cache:  # a squares model caches nothing: an empty [L, B, H, 0, D] leaves the slot as it is
        cfg = model.cfg
        empty = policy.new_zeros(cfg.n_layer, tokens.shape[0], cfg.n_head, 0, cfg.n_embd // cfg.n_head)
        return policy[:, -1], value[:, -1], empty, empty
    ks = torch.stack([k for k, _ in cache])  # L x [B, H, T, D] -> [L, B, H, T, D]
    vs = torch.stack([v for _, v in cache])
    return policy[:, -1], value[:, -1], ks, vs


class StaticKVCache:
    """Preallocated keys and values for ``slots`` sequences of up to ``max_len`` tokens."""

    def __init__(self, model: ChessFormer, slots: int, max_len: int, dtype: torch.dtype, device: torch.device) -> None:
        cfg = model.cfg
        shape = (cfg.n_layer, slots, cfg.n_head, max_len, cfg.n_embd // cfg.n_head)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)

    @property
    def slots(self) -> int:
        return self.k.shape[1]

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    def gather(self, slots: torch.Tensor, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The caches of the given slots: [L, B, H, length or Tmax, D] each.

        Fixed-shape callers (graphs, exports) pass no length. A contiguous ascending run
        of slots is returned as a view, without copying (the common case in batched play).
        """
        n = slots.shape[0]
        end = self.max_len if length is None else length
        first = int(slots[0]) if n else 0
        contiguous = n == 1 or bool((slots == torch.arange(first, first + n, device=slots.device)).all())
        if n and first + n <= self.slots and contiguous:
            return self.k[:, first : first + n, :, :end], self.v[:, first : first + n, :, :end]
        # advanced indexing copies only the chosen slots' first ``end`` positions; index_select on
        # the sliced view first materialised every slot (20x slower with 256 slots)
        return self.k[:, slots, :, :end], self.v[:, slots, :, :end]

    def write_step(self, slots: torch.Tensor, pos: torch.Tensor, k_new: torch.Tensor, v_new: torch.Tensor) -> None:
        """Store one position per row: k_new, v_new [L, B, H, D] at (slots[b], pos[b])."""
        # [L, S, H, Tmax, D] indexed on (slot, position) -> [L, B, H, D]
        self.k.permute(1, 3, 0, 2, 4)[slots, pos] = k_new.permute(1, 0, 2, 3).to(self.k.dtype)
        self.v.permute(1, 3, 0, 2, 4)[slots, pos] = v_new.permute(1, 0, 2, 3).to(self.v.dtype)

    def write_prefix(self, slot: int, ks: torch.Tensor, vs: torch.Tensor) -> None:
        """Store a prefilled sequence: ks, vs [L, H, T, D] at positions 0..T-1 of ``slot``."""
        T = ks.shape[2]
        self.k[:, slot, :, :T] = ks.to(self.k.dtype)
        self.v[:, slot, :, :T] = vs.to(self.v.dtype)

    def swap_slots(self, a: int, b: int) -> None:
        """Exchange the whole contents of slots ``a`` and ``b``."""
        for t in (self.k, self.v):
            held = t[:, a].clone()  # [L, H, Tmax, D]
            t[:, a] = t[:, b]
            t[:, b] = held

    def copy_slot(self, src: int, dst: int, length: int) -> None:
        self.k[:, dst, :, :length] = self.k[:, src, :, :length]
        self.v[:, dst, :, :length] = self.v[:, src, :, :length]
