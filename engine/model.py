"""ChessFormer: a decoder-only transformer over move tokens (see engine/tokenizer.py).

Pre-norm blocks, causal self-attention through ``scaled_dot_product_attention``,
learned absolute positions, a policy head over the 1968 moves and a value head
(win/draw/loss logits for the side to move). ``forward`` takes an optional KV cache so
that a game can be decoded incrementally: the logits of the incremental path equal
those of a full recompute (tests/test_model.py).

Shapes: B batch, T new tokens, L cached tokens, C channels (n_embd), H heads, D = C/H.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from engine.tokenizer import MAX_FEATURES, N_FEATURES, N_MOVES, PAD_FEATURE, POS_ID, VOCAB_SIZE


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a ChessFormer; stored in every weights file."""

    n_layer: int = 8  # transformer blocks (count)
    n_head: int = 8  # attention heads per block (count)
    n_embd: int = 512  # residual stream width (channels); divisible by n_head
    block_size: int = 256  # longest sequence, POS token included (tokens)
    mlp_ratio: int = 4  # MLP hidden width as a multiple of n_embd (ratio)

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"ModelConfig.{f.name} must be a positive integer, got {v!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if self.block_size < 2:  # POS plus one move: the anchor is re-set every ply (engine/tokenizer.py)
            raise ValueError(f"block_size must be at least 2, got {self.block_size}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)  # type: ignore[arg-type]


# Per layer: (keys, values), each [B, H, L, D].
KVCache = list[tuple[torch.Tensor, torch.Tensor]]


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, T, C = x.shape
        H = self.n_head
        q, k, v = self.qkv(x).split(C, dim=2)
        # [B, T, C] -> [B, H, T, D]
        q = q.view(B, T, H, C // H).transpose(1, 2)
        k = k.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # [B, H, L+T, D]
            v = torch.cat([past[1], v], dim=2)
        L = k.shape[2] - T
        if L == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif T == 1:
            y = F.scaled_dot_product_attention(q, k, v)  # the one new token sees everything
        else:
            # query i sits at absolute position L + i and sees keys 0 .. L + i
            mask = torch.arange(L + T, device=x.device)[None, :] <= (L + torch.arange(T, device=x.device))[:, None]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, T, C)  # [B, H, T, D] -> [B, T, C]
        return self.proj(y), (k, v)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, cfg.mlp_ratio * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd, bias=False)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd, bias=False)
        self.mlp = MLP(cfg)

    def forward(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, kv = self.attn(self.ln1(x), past)
        x = x + a
        x = x + self.mlp(self.ln2(x))
        return x, kv


class ChessFormer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(VOCAB_SIZE, cfg.n_embd)
        self.feat_emb = nn.Embedding(N_FEATURES, cfg.n_embd, padding_idx=PAD_FEATURE)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=False)
        self.policy_head = nn.Linear(cfg.n_embd, N_MOVES, bias=False)
        self.value_head = nn.Linear(cfg.n_embd, 3)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 style initialisation; residual projections scaled by depth."""
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue
            std = 0.02
            if name.endswith("proj.weight"):
                std = 0.02 / math.sqrt(2 * self.cfg.n_layer)
            nn.init.normal_(p, mean=0.0, std=std)
        with torch.no_grad():
            self.feat_emb.weight[PAD_FEATURE].zero_()
            # The POS feature sum has ~35 terms; keep its scale near a token embedding's.
            self.feat_emb.weight.mul_(1.0 / math.sqrt(MAX_FEATURES))
            nn.init.zeros_(self.value_head.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed(self, tokens: torch.Tensor, anchor: torch.Tensor, start: int) -> torch.Tensor:
        """Input embeddings [B, T, C] of ``tokens`` [B, T] at positions start .. start+T-1.

        ``anchor`` [B, MAX_FEATURES] gives the board of each row's POS token.
        """
        T = tokens.shape[1]
        if start + T > self.cfg.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds block_size {self.cfg.block_size}")
        x = self.tok_emb(tokens)  # [B, T, C]
        board = self.feat_emb(anchor).sum(dim=1)  # [B, F, C] -> [B, C]
        is_pos = (tokens == POS_ID).unsqueeze(-1)  # [B, T, 1]
        x = torch.where(is_pos, board.unsqueeze(1).to(x.dtype), x)  # [B, 1, C] broadcast over T
        positions = torch.arange(start, start + T, device=tokens.device)
        return x + self.pos_emb(positions)  # [T, C] broadcast over B

    def forward(
        self,
        tokens: torch.Tensor,
        anchor: torch.Tensor,
        past: KVCache | None = None,
        last_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, KVCache]:
        """Policy logits [B, T', N_MOVES], value logits [B, T', 3] and the extended cache.

        tokens: [B, T] int64 token ids; anchor: [B, MAX_FEATURES] int64 board features.
        past: the cache of the first L tokens (all rows the same length), or None.
        last_only: compute the heads at the last position only (T' = 1), as inference does.
        """
        start = 0 if past is None else past[0][0].shape[2]
        x = self.embed(tokens, anchor, start)
        cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if past is None else past[i])
            cache.append(kv)
        if last_only:
            x = x[:, -1:, :]
        x = self.ln_f(x)
        return self.policy_head(x), self.value_head(x), cache
