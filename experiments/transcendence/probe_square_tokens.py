"""A learnability probe for the next board encoding: one token per square, attention policy.

Not a product model (the engine's one model is engine/model.py). It answers one question
before the engine is changed: does an encoding with one token per square and an lc0-style
attention policy head (the logit of a move from X to Y is a dot product of X's and Y's
tokens) learn Stockfish's depth-1 move faster than the ChessFormer's summed board vector?

It trains on one-move FEN data from ``python -m experiments.transcendence diagnose relabel`` prepared with
``--legal-moves`` and uses the same train/validation split as ``train`` (GameIndex,
``val_permille``) and the same first ``val_games`` held-out positions, so its validation
top-1 compares directly with a ``train`` run on the same folder (results/transcendence/
report.md, attempt 5: the summed-vector model reaches 23.3% in 8 min).

    python -m experiments.transcendence.probe_square_tokens runs/relabel_v4/data_reference --minutes 8

Input tokens (65): for each square, its piece (12 kinds or empty) plus a learned square
embedding; a 65th token holds the side to move, castling rights and en-passant file.
Shapes: B batch, S = 65 tokens, C channels, M = 1968 moves, K legal moves (padded).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from chessformer.engine.model import move_squares
from chessformer.engine.tokenizer import MOVES, N_FEATURES, PAD_FEATURE
from chessformer.training.data import GameIndex
from chessformer.training.mirror import MIRROR_FEATURE, MIRROR_MOVE


class SquareTokenNet(nn.Module):
    def __init__(self, n_layer: int, n_head: int, n_embd: int, policy: str = "attention") -> None:
        super().__init__()
        if policy not in ("attention", "linear"):
            raise ValueError(f"policy must be attention or linear, got {policy!r}")
        self.policy = policy
        self.piece = nn.Embedding(13, n_embd)  # 0 empty, 1..12 piece kinds as in the tokenizer
        self.square = nn.Embedding(65, n_embd)  # 64 squares and the global token's slot
        self.globals = nn.Embedding(N_FEATURES, n_embd, padding_idx=PAD_FEATURE)  # stm, castling, ep
        layer = nn.TransformerEncoderLayer(
            n_embd, n_head, 4 * n_embd, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.body = nn.TransformerEncoder(layer, n_layer, enable_nested_tensor=False)
        self.ln = nn.LayerNorm(n_embd)
        self.q = nn.Linear(n_embd, n_embd)
        self.k = nn.Linear(n_embd, n_embd)
        self.promo = nn.Linear(n_embd, 5)  # a promotion's extra logit, from the to-square's token
        # The engine's head: all 1968 move logits from one vector (here the global token's).
        self.linear_head = nn.Linear(n_embd, len(MOVES)) if policy == "linear" else None
        frm, to, promo = move_squares()
        self.register_buffer("move_from", frm, persistent=False)
        self.register_buffer("move_to", to, persistent=False)
        self.promo_idx = promo

    def forward(self, squares: torch.Tensor, globals_: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        """Logits [B, K] of the legal moves ``legal`` [B, K] (-1 padded: -inf)."""
        B = squares.shape[0]
        pos = torch.arange(65, device=squares.device)
        g = self.globals(globals_).sum(1, keepdim=True)  # [B, F, C] -> [B, 1, C]
        x = torch.cat([self.piece(squares), g], dim=1) + self.square(pos)  # [B, 65, C]
        x = self.ln(self.body(x))
        ids = legal.clamp(min=0)  # [B, K]
        if self.linear_head is not None:
            logits = self.linear_head(x[:, 64]).gather(1, ids)  # [B, M] -> [B, K]
            return logits.masked_fill(legal < 0, float("-inf"))
        q, k = self.q(x[:, :64]), self.k(x[:, :64])  # [B, 64, C]
        pair = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])  # [B, 64 from, 64 to]
        f, t = self.move_from[ids], self.move_to[ids]  # [B, K]
        logits = pair[torch.arange(B)[:, None], f, t]  # [B, K]
        promo = self.promo(x[:, :64])  # [B, 64, 5]
        logits = logits + promo[torch.arange(B)[:, None], t, self.promo_idx.to(ids.device)[ids]]
        return logits.masked_fill(legal < 0, float("-inf"))


def _arrays(index: GameIndex, refs: list[tuple[int, int]]) -> dict[str, np.ndarray]:
    """Square pieces [N, 64], global features [N, 6], target [N] and legal moves [N, K] of one-move games."""
    n = len(refs)
    squares = np.zeros((n, 64), dtype=np.int64)
    globals_ = np.full((n, 6), PAD_FEATURE, dtype=np.int64)
    target = np.zeros(n, dtype=np.int64)
    legal_lists = []
    for i, (s, g) in enumerate(refs):
        sh = index.shards[s]
        game = sh.games[g]
        feats = sh.anchors[int(game["fen_anchor"])]["features"].astype(np.int64)
        pieces = feats[feats < 768]
        squares[i, pieces % 64] = pieces // 64 + 1
        rest = feats[(feats >= 768) & (feats != PAD_FEATURE)]
        globals_[i, : len(rest)] = rest
        off = int(game["offset"])
        target[i] = int(sh.tokens[off])
        assert sh.legal is not None and sh.legal_offsets is not None
        legal_lists.append(np.asarray(sh.legal[sh.legal_offsets[off] : sh.legal_offsets[off + 1]], dtype=np.int64))
    k = max(len(x) for x in legal_lists)
    legal = np.full((n, k), -1, dtype=np.int64)
    for i, x in enumerate(legal_lists):
        legal[i, : len(x)] = x
    return {"squares": squares, "globals": globals_, "target": target, "legal": legal}


def _mirror(batch: dict[str, np.ndarray], rows: np.ndarray) -> None:
    """Colour-flip ``rows`` of a batch in place (training/mirror.py, on square tokens)."""
    sq = batch["squares"][rows]
    flipped = sq.reshape(-1, 8, 8)[:, ::-1, :].reshape(-1, 64)  # [n, 64] -> [n, 8 ranks, 8 files], ranks reversed
    batch["squares"][rows] = np.where(flipped > 0, (flipped - 1 + 6) % 12 + 1, 0)
    batch["globals"][rows] = MIRROR_FEATURE[batch["globals"][rows]]
    batch["target"][rows] = MIRROR_MOVE[batch["target"][rows]]
    lg = batch["legal"][rows]
    batch["legal"][rows] = np.where(lg >= 0, MIRROR_MOVE[lg.clip(min=0)], -1)


def _step_tensors(a: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx].copy() for k, v in a.items()}


@torch.no_grad()
def _evaluate(model: SquareTokenNet, val: dict[str, np.ndarray], batch: int) -> tuple[float, float]:
    model.eval()
    loss = hits = 0.0
    n = len(val["target"])
    for i in range(0, n, batch):
        b = {k: torch.from_numpy(v[i : i + batch]) for k, v in val.items()}
        logits = model(b["squares"], b["globals"], b["legal"])
        pos = (b["legal"] == b["target"][:, None]).float().argmax(1)  # [B] column of the target
        loss += F.cross_entropy(logits, pos, reduction="sum").item()
        hits += (logits.argmax(1) == pos).sum().item()
    model.train()
    return loss / n, hits / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m experiments.transcendence.probe_square_tokens", description=__doc__.split("\n")[0]
    )
    p.add_argument("data", type=Path, help="one-move FEN shards prepared with --legal-moves")
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=64)
    p.add_argument(
        "--policy",
        choices=("attention", "linear"),
        default="attention",
        help="attention: a move's logit from its from- and to-square tokens; linear: from the global token",
    )
    p.add_argument("--batch", type=int, default=256, help="positions per step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--mirror", type=float, default=0.5, help="fraction of training positions colour-flipped")
    p.add_argument(
        "--eval-data",
        type=Path,
        help="also validate on this folder's held-out positions (the other label set of the same relabel run)",
    )
    p.add_argument("--val-permille", type=int, default=50)
    p.add_argument("--val-games", type=int, default=3000)
    p.add_argument("--eval-every", type=float, default=1.0, help="minutes between validations")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--log", type=Path, help="JSON lines of the validations")
    a = p.parse_args(argv)
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    index = GameIndex(a.data, a.val_permille, legal=True)
    if any((sh.games["fen_anchor"] < 0).any() for sh in index.shards):
        print(
            "probe: the data must be one-move games from a FEN (experiments.transcendence diagnose relabel)",
            file=sys.stderr,
        )
        return 2
    train, val = _arrays(index, index.train), _arrays(index, index.val[: a.val_games])
    other = None
    if a.eval_data:
        other_index = GameIndex(a.eval_data, a.val_permille, legal=True)
        other = _arrays(other_index, other_index.val[: a.val_games])
        if not np.array_equal(other["squares"], val["squares"]):
            print("probe: --eval-data holds other positions than the data (not the same relabel run)", file=sys.stderr)
            return 2
    model = SquareTokenNet(a.n_layer, a.n_head, a.n_embd, a.policy)
    params = sum(p.numel() for p in model.parameters())
    print(f"probe: {params:,} parameters, {len(train['target']):,} train / {len(val['target']):,} val", file=sys.stderr)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.1, betas=(0.9, 0.95))
    rng = np.random.default_rng(a.seed)
    random.seed(a.seed)
    t0, step, next_eval, samples = time.time(), 0, a.eval_every * 60, 0
    log = open(a.log, "w", encoding="utf-8") if a.log else None
    limit = a.minutes * 60
    while True:
        elapsed = time.time() - t0
        if elapsed >= next_eval or elapsed >= limit:
            vl, vt = _evaluate(model, val, 1024)
            row = {"minutes": round(elapsed / 60, 2), "step": step, "samples": samples, "val_loss": vl, "val_top1": vt}
            if other is not None:
                row["eval_data_loss"], row["eval_data_top1"] = _evaluate(model, other, 1024)
            print(json.dumps(row), flush=True)
            if log:
                log.write(json.dumps(row) + "\n")
                log.flush()
            next_eval += a.eval_every * 60
            if elapsed >= limit:
                break
        lr = a.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / limit))))
        for grp in opt.param_groups:
            grp["lr"] = lr
        b = _step_tensors(train, rng.integers(0, len(train["target"]), a.batch))
        _mirror(b, np.nonzero(rng.random(a.batch) < a.mirror)[0])
        t = {k: torch.from_numpy(v) for k, v in b.items()}
        logits = model(t["squares"], t["globals"], t["legal"])
        pos = (t["legal"] == t["target"][:, None]).float().argmax(1)  # [B] column of the target
        loss = F.cross_entropy(logits, pos)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        samples += a.batch
    if log:
        log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
