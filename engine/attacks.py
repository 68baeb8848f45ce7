"""Who attacks each square, computed from a board's pieces with fixed tensor operations.

The ``squares-attacks`` board encoding (engine/model.py) adds, to every square token, how many
pieces of each colour attack the square and the least valuable of them. These are the inputs
of a static exchange ("is this piece defended?", "can a pawn take it?"), which a small model
learns slowly from the pieces alone: attempt 14's rule-only model missed the greedy rule's move
in 39% of positions, and 59% of those misses hung the moved piece
(results/transcendence/pool_v13/report.md). Computing them inside the model keeps every
backend (torch, ONNX, TensorRT, CUDA graphs) and the training shards unchanged.

An attack is python-chess's ``Board.attackers``: pseudo-legal (pins ignored), sliders stop at
the first piece of either colour, no x-rays, and en passant is not an attack on the pawn's
square. Squares are python-chess's numbering (a1 = 0, rank-major).

Shapes: B batch, K = 12 piece kinds (white P N B R Q K, then black), 8 x 8 ranks x files.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ATTACK_COUNT_CAP = 3  # attackers of one colour counted as 0, 1, 2 or "3 or more"
ATTACK_CODES = (ATTACK_COUNT_CAP + 1) * 7  # per colour: count x least attacker (0 none, 1..6 P N B R Q K)

_KNIGHT = ((1, 2), (2, 1), (2, -1), (1, -2), (-1, -2), (-2, -1), (-2, 1), (-1, 2))
_KING = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))
_DIAGONAL = ((1, 1), (1, -1), (-1, 1), (-1, -1))
_ORTHOGONAL = ((1, 0), (-1, 0), (0, 1), (0, -1))


def _kinds(*piece_types: int) -> torch.Tensor:
    """A [K, 1, 1] mask of the kinds of both colours whose piece type (1 pawn .. 6 king) is listed."""
    mask = torch.zeros(12, 1, 1)
    for t in piece_types:
        mask[t - 1] = mask[t + 5] = 1.0
    return mask


def shift(x: torch.Tensor, dr: int, df: int) -> torch.Tensor:
    """``x`` [..., 8, 8] moved by dr ranks and df files: out[r, f] = x[r - dr, f - df], zero off the board."""
    padded = F.pad(x, (max(df, 0), max(-df, 0), max(dr, 0), max(-dr, 0)))  # [..., 8 + |dr|, 8 + |df|]
    r0, f0 = max(-dr, 0), max(-df, 0)
    return padded[..., r0 : r0 + 8, f0 : f0 + 8]


def attacks_by_kind(pieces: torch.Tensor) -> torch.Tensor:
    """How many pieces of each kind attack each square: [B, K, 64] (float) of ``pieces`` [B, 64].

    ``pieces`` is engine.model.square_pieces' output: 0 empty, 1 + kind.
    """
    B = pieces.shape[0]
    board = pieces.view(B, 8, 8)  # [B, 64] -> [B, 8 ranks, 8 files]
    kinds = torch.arange(1, 13, device=pieces.device).view(1, 12, 1, 1)  # [1, K, 1, 1]
    occupant = (board.unsqueeze(1) == kinds).float()  # [B, K, 8, 8]: 1 where a piece of that kind stands
    empty = (board == 0).float().unsqueeze(1)  # [B, 1, 8, 8]
    dev = pieces.device
    attacks = torch.zeros_like(occupant)
    # pawns take one rank forward: white up the board (kind 0), black down (kind 6)
    white_pawn = torch.zeros(12, 1, 1, device=dev)
    white_pawn[0] = 1.0
    black_pawn = torch.zeros(12, 1, 1, device=dev)
    black_pawn[6] = 1.0
    for df in (1, -1):
        attacks = attacks + shift(occupant * white_pawn, 1, df) + shift(occupant * black_pawn, -1, df)
    for offsets, mask in ((_KNIGHT, _kinds(2)), (_KING, _kinds(6))):
        leapers = occupant * mask.to(dev)
        for dr, df in offsets:
            attacks = attacks + shift(leapers, dr, df)
    for directions, mask in ((_DIAGONAL, _kinds(3, 5)), (_ORTHOGONAL, _kinds(4, 5))):
        sliders = occupant * mask.to(dev)
        for dr, df in directions:
            ray = sliders
            for _ in range(7):
                ray = shift(ray, dr, df)  # the squares one step further along the ray
                attacks = attacks + ray
                ray = ray * empty  # a ray stops at the first piece, which it does attack
    return attacks.flatten(2)  # [B, K, 8, 8] -> [B, K, 64]


def attack_codes(pieces: torch.Tensor) -> torch.Tensor:
    """Per square and colour, one code of its attackers: [B, 2, 64] int64 in [0, ATTACK_CODES).

    code = min(count, ATTACK_COUNT_CAP) * 7 + least valuable attacker (0 none, 1..6 P N B R Q K).
    """
    B = pieces.shape[0]
    by_kind = attacks_by_kind(pieces).view(B, 2, 6, 64)  # [B, K, 64] -> [B, colour, piece type, 64]
    count = by_kind.sum(2).clamp(max=ATTACK_COUNT_CAP)  # [B, 2, 64]
    # rank the types so that the cheapest attacker scores highest: pawn 6 .. king 1, none 0
    rank = torch.arange(6, 0, -1, device=pieces.device, dtype=by_kind.dtype).view(1, 1, 6, 1)
    best = ((by_kind > 0).to(by_kind.dtype) * rank).amax(2)  # [B, 2, 64]
    least = torch.where(best > 0, 7 - best, torch.zeros_like(best))  # 1 pawn .. 6 king, 0 none
    return (count * 7 + least).long()
