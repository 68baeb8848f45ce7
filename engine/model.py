"""ChessFormer: a decoder-only transformer over move tokens (see engine/tokenizer.py).

Pre-norm blocks, causal self-attention through ``scaled_dot_product_attention``,
learned absolute positions, a policy head over the 1968 moves and a value head
(win/draw/loss logits for the side to move). ``forward`` takes an optional KV cache so
that a game can be decoded incrementally: the logits of the incremental path equal
those of a full recompute (tests/engine/test_model.py).

Three board encodings (ModelConfig.board_encoding):

- ``summed`` (the paper's transcript model): the POS token's embedding is the sum of its
  board features' embeddings; move tokens follow, read causally, and a linear policy head
  gives the move after each token.
- ``squares`` (a board reader, block_size 1): the POS token is replaced by 65 tokens, one
  per square (its piece, or empty, plus the square's embedding) and one for the side to
  move, castling rights and en-passant file, read with full (not causal) attention. A
  move's logit is the dot product of its from-square's query and its to-square's key
  (lc0's attention policy) plus a promotion bias read from the to-square. Nothing is
  cached: every position is read afresh. Why: "my piece on X can take the piece on Y" is
  one attention score here, where the summed vector needs an MLP to find a conjunction
  (on Stockfish depth-1 labels it learned 32.6% top-1 in 8 CPU minutes against 23.3% for the
  summed model: experiments/transcendence/REPORT.md).
- ``squares-attacks``: ``squares`` plus, on each square token, an embedding of how many
  pieces of each colour attack the square and the least valuable of them (engine/attacks.py,
  computed from the pieces inside the model): the inputs of a static exchange, which the
  squares model learns slowly from the pieces alone.

Inputs beyond the anchor (summed encoding only; engine/tokenizer.py, "Per-token inputs"):
``board_every_ply`` adds to each move token's embedding the feature sum of the board after
the move, so the model need not rebuild the board from the move list (a 4-layer model at
CPU scale does not learn to); ``rating_condition`` adds the mover's and the opponent's
rating buckets to every token (as the paper code's ``elo_condition`` runs and Maia-2 do);
``threat_inputs`` adds each board's square control and pieces en prise (engine/tokenizer.py
``threat_features``). All arrive as per-token feature rows [B, T, F], embedded with the POS token's table.

Shapes: B batch, T new tokens, L cached tokens, C channels (n_embd), H heads, D = C/H,
S = 65 square tokens, M = 1968 moves.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import chess
import torch
import torch.nn.functional as F
from torch import nn

from chessformer.engine.attacks import N_ATTACK_CODES, AttackMaps
from chessformer.engine.tokenizer import (
    MAX_FEATURES,
    MAX_THREAT_FEATURES,
    MOVES,
    N_FEATURES,
    N_FEATURES_RATED,
    N_FEATURES_THREATS,
    N_MOVES,
    N_PIECE_SQUARE_FEATURES,
    N_RATING_FEATURES,
    PAD_FEATURE,
    POS_ID,
    VOCAB_SIZE,
)

BOARD_ENCODINGS = ("summed", "squares", "squares-attacks")
SQUARE_TOKENS = 65  # a squares model's tokens per board: 64 squares and one for the global features


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a ChessFormer; stored in every weights file."""

    n_layer: int = 8  # transformer blocks (count)
    n_head: int = 8  # attention heads per block (count)
    n_embd: int = 512  # residual stream width (channels); divisible by n_head
    block_size: int = 256  # longest sequence, POS token included (tokens)
    mlp_ratio: int = 4  # MLP hidden width as a multiple of n_embd (ratio)
    board_encoding: str = "summed"  # how the POS board is read: "summed", "squares" or "squares-attacks" (module doc)
    board_every_ply: bool = False  # each move token also reads the board after it (summed encoding; module doc)
    rating_condition: bool = False  # every token reads the mover's and the opponent's rating bucket (module doc)
    threat_inputs: bool = False  # every board row also holds its threats: square control, pieces en prise (module doc)

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("board_every_ply", "rating_condition", "threat_inputs"):
                if not isinstance(v, bool):
                    raise ValueError(f"ModelConfig.{f.name} must be true or false, got {v!r}")
            elif f.name == "board_encoding":
                if v not in BOARD_ENCODINGS:
                    raise ValueError(f"ModelConfig.board_encoding must be one of {BOARD_ENCODINGS}, got {v!r}")
            elif not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"ModelConfig.{f.name} must be a positive integer, got {v!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if self.reads_squares and self.block_size != 1:
            raise ValueError(
                f"board_encoding {self.board_encoding} reads the current board only:"
                f" block_size must be 1, got {self.block_size}"
            )
        if self.reads_squares and (self.board_every_ply or self.rating_condition or self.threat_inputs):
            raise ValueError(
                f"board_every_ply, rating_condition and threat_inputs need the summed encoding, not {self.board_encoding}"
            )
        if self.threat_inputs and not self.board_every_ply:
            raise ValueError("threat_inputs needs board_every_ply (the threats of the board after every move)")

    @property
    def row_width(self) -> int:
        """Feature ids per token row at inference (engine/tokenizer.py): the board, its threats, then the ratings."""
        threats = MAX_THREAT_FEATURES if self.threat_inputs else 0
        return MAX_FEATURES + threats + (N_RATING_FEATURES if self.rating_condition else 0)

    @property
    def n_features(self) -> int:
        """Rows of the feature table: the board features, the rating features, then the threat features (as used)."""
        if self.threat_inputs:
            return N_FEATURES_THREATS
        return N_FEATURES_RATED if self.rating_condition else N_FEATURES

    @property
    def reads_squares(self) -> bool:
        """One token per square (``squares`` or ``squares-attacks``), not the summed POS token."""
        return self.board_encoding != "summed"

    def to_dict(self) -> dict[str, int | str | bool]:
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
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None, causal: bool = True
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
        if not causal:  # the square tokens of one board all see each other
            y = F.scaled_dot_product_attention(q, k, v)
        elif L == 0:
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
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None, causal: bool = True
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, kv = self.attn(self.ln1(x), past, causal)
        x = x + a
        x = x + self.mlp(self.ln2(x))
        return x, kv


def move_squares() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For every move id [M]: its from-square, its to-square (a1 = 0, python-chess's numbering)
    and its promotion (0 none, 1..4 q r b n)."""
    promo = {"": 0, "q": 1, "r": 2, "b": 3, "n": 4}
    frm = torch.tensor([chess.parse_square(m[:2]) for m in MOVES])
    to = torch.tensor([chess.parse_square(m[2:4]) for m in MOVES])
    return frm, to, torch.tensor([promo[m[4:]] for m in MOVES])


def square_pieces(anchor: torch.Tensor) -> torch.Tensor:
    """What stands on each square [B, 64] (0 empty, 1 + the tokenizer's piece kind) of boards ``anchor`` [B, F]."""
    is_piece = anchor < N_PIECE_SQUARE_FEATURES  # [B, F]
    # a piece-square feature is kind * 64 + square; other features write 0 into a spare column 64
    where = torch.where(is_piece, anchor % 64, torch.full_like(anchor, 64))
    what = torch.where(is_piece, anchor // 64 + 1, torch.zeros_like(anchor))
    board = torch.zeros(anchor.shape[0], 65, dtype=anchor.dtype, device=anchor.device)  # [B, 65]
    return board.scatter(1, where, what)[:, :64]  # [B, 64]


def feature_sum(table: nn.Embedding, features: torch.Tensor) -> torch.Tensor:
    """The sum of ``table``'s rows over the last dim of ``features`` [..., F] -> [..., C]."""
    # ONNX has no embedding_bag with padding: gather, then sum. torch.onnx is only looked at when
    # something imported it (an export): the one-folder build leaves it out
    onnx = sys.modules.get("torch.onnx")
    if onnx is not None and onnx.is_in_onnx_export():
        return table(features).sum(dim=-2)  # [..., F, C] -> [..., C]
    lead, Fw = features.shape[:-1], features.shape[-1]
    # one bag per token: the rows never materialise as [..., F, C] (training batches: ~70 x 16k rows)
    bags = F.embedding_bag(features.reshape(-1, Fw), table.weight, mode="sum", padding_idx=PAD_FEATURE)
    return bags.view(*lead, -1)  # [N, C] -> [..., C]


class AttentionPolicy(nn.Module):
    """Move logits [B, M] from square tokens [B, 64, C]: from-square query . to-square key + promotion bias."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.query = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.key = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.promotion = nn.Linear(cfg.n_embd, 5)  # per to-square: none, q, r, b, n
        frm, to, promo = move_squares()
        self.register_buffer("pair_index", frm * 64 + to, persistent=False)  # [M] into the flattened 64 x 64 scores
        self.register_buffer("promo_index", to * 5 + promo, persistent=False)  # [M] into the flattened 64 x 5 biases

    def forward(self, squares: torch.Tensor) -> torch.Tensor:
        q, k = self.query(squares), self.key(squares)  # [B, 64, C]
        scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])  # [B, 64 from, 64 to]
        promo = self.promotion(squares)  # [B, 64 to, 5]
        # [B, 64, 64] -> [B, 4096] and [B, 64, 5] -> [B, 320], then one column per move
        return scores.flatten(1)[:, self.pair_index] + promo.flatten(1)[:, self.promo_index]  # [B, M]


class ChessFormer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.squares = cfg.reads_squares
        self.attacks = cfg.board_encoding == "squares-attacks"
        if self.squares:
            self.piece_emb = nn.Embedding(13, cfg.n_embd)  # 0 empty, 1 + piece kind (tokenizer order)
            self.square_emb = nn.Embedding(SQUARE_TOKENS, cfg.n_embd)  # 64 squares, then the global token's slot
            # global features (side to move, castling, en passant); piece-square rows are never read.
            # Declared per branch: the declaration order is the seeded init order of trained models.
            self.feat_emb = nn.Embedding(N_FEATURES, cfg.n_embd, padding_idx=PAD_FEATURE)
            if self.attacks:  # each colour's attackers of the square (engine/attacks.py)
                self.attack_emb = nn.Embedding(N_ATTACK_CODES, cfg.n_embd)
                self.attack_maps = AttackMaps()  # fixed tables (non-persistent buffers), no parameters
        else:
            self.tok_emb = nn.Embedding(VOCAB_SIZE, cfg.n_embd)
            self.feat_emb = nn.Embedding(cfg.n_features, cfg.n_embd, padding_idx=PAD_FEATURE)
            self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=False)
        if self.squares:
            self.policy = AttentionPolicy(cfg)
        else:
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
            if self.squares:
                for lin in (self.policy.query, self.policy.key, self.policy.promotion):
                    nn.init.zeros_(lin.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed(self, tokens: torch.Tensor, features: torch.Tensor, start: int) -> torch.Tensor:
        """Input embeddings [B, T, C] of ``tokens`` [B, T] at positions start .. start+T-1.

        ``features``: per-token feature rows [B, T, F] (engine/tokenizer.py), or the anchor
        [B, F] alone, the board of each row's POS token. A token's embedding is its own row
        of tok_emb (none for POS) plus the sum of its features' rows of feat_emb.
        """
        B, T = tokens.shape
        if start + T > self.cfg.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds block_size {self.cfg.block_size}")
        is_pos = (tokens == POS_ID).unsqueeze(-1)  # [B, T, 1]
        if features.dim() == 2:  # the anchor on POS tokens, padding elsewhere
            features = torch.where(is_pos, features.unsqueeze(1), torch.full_like(features, PAD_FEATURE).unsqueeze(1))
        x = self.tok_emb(tokens)  # [B, T, C]
        x = torch.where(is_pos, torch.zeros_like(x), x)
        x = x + feature_sum(self.feat_emb, features).to(x.dtype)
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

        tokens: [B, T] int64 token ids; anchor: [B, MAX_FEATURES] int64 board features of the POS
        token, or [B, T, F] per-token feature rows (engine/tokenizer.py, "Per-token inputs").
        past: the cache of the first L tokens (all rows the same length), or None.
        last_only: compute the heads at the last position only (T' = 1), as inference does.
        """
        if self.squares:
            return self._forward_squares(tokens, anchor if anchor.dim() == 2 else anchor[:, 0], past)
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

    def square_tokens(self, anchor: torch.Tensor) -> torch.Tensor:
        """The 65 input tokens [B, S, C] of the boards ``anchor`` [B, MAX_FEATURES] (squares encoding)."""
        is_piece = anchor < N_PIECE_SQUARE_FEATURES  # [B, F]
        glob = self.feat_emb(torch.where(is_piece, torch.full_like(anchor, PAD_FEATURE), anchor)).sum(1)  # [B, C]
        pieces = square_pieces(anchor)  # [B, 64]
        x = self.piece_emb(pieces)  # [B, 64, C]
        if self.attacks:
            x = x + self.attack_emb(self.attack_maps(pieces)).sum(1).to(x.dtype)  # [B, 2, 64, C] -> [B, 64, C]
        x = torch.cat([x, glob.unsqueeze(1).to(x.dtype)], dim=1)  # [B, S, C]
        return x + self.square_emb.weight.to(x.dtype)  # [S, C] broadcast over B

    def _forward_squares(
        self, tokens: torch.Tensor, anchor: torch.Tensor, past: KVCache | None
    ) -> tuple[torch.Tensor, torch.Tensor, KVCache]:
        if past or tokens.shape[1] != 1:
            raise ValueError(
                f"a squares model reads one board per sequence ([POS], block_size 1), got {tokens.shape[1]} tokens"
                + (" and a cache" if past else "")
            )
        x = self.square_tokens(anchor)  # [B, S, C]
        for block in self.blocks:
            x, _ = block(x, None, causal=False)
        x = self.ln_f(x)
        policy = self.policy(x[:, :64])  # [B, M]
        value = self.value_head(x[:, 64])  # [B, 3]
        return policy.unsqueeze(1), value.unsqueeze(1), []  # [B, 1, M], [B, 1, 3]; nothing to cache
