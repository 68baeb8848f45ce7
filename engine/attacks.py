"""Who attacks each square, computed from a board's pieces with fixed tensor operations.

The ``squares-attacks`` board encoding (engine/model.py) adds, to every square token, how many
pieces of each colour attack the square and the least valuable of them. These are the inputs
of a static exchange ("is this piece defended?", "can a pawn take it?"), which a small model
learns slowly from the pieces alone (most of a board reader's misses hung the moved piece:
experiments/transcendence/REPORT.md). Computing them inside the model keeps every
backend (torch, ONNX, TensorRT, CUDA graphs) and the training shards unchanged.

An attack is python-chess's ``Board.attackers``: pseudo-legal (pins ignored), sliders stop at
the first piece of either colour, no x-rays, and en passant is not an attack on the pawn's
square. Squares are python-chess's numbering (a1 = 0).

How: every table is a [64 from, 64 to] matrix built once from python-chess's square sets, so
the forward pass is a handful of matrix products (no per-direction loop): a slider on ``from``
reaches ``to`` when they share a line and no piece stands strictly between them.

Shapes: B batch, K = 12 piece kinds (white P N B R Q K, then black), 64 squares.
"""

from __future__ import annotations

import chess
import torch
from torch import nn

ATTACK_COUNT_CAP = 3  # attackers of one colour counted as 0, 1, 2 or "3 or more"
ATTACK_CODES = (ATTACK_COUNT_CAP + 1) * 7  # per colour: count x least attacker (0 none, 1..6 P N B R Q K)
N_ATTACK_CODES = 2 * ATTACK_CODES  # white's codes, then black's: the size of the model's attack embedding


def _table(attacked: list[chess.SquareSet]) -> torch.Tensor:
    """[64 from, 64 to] with 1 where ``attacked[from]`` holds ``to``."""
    t = torch.zeros(64, 64)
    for frm, squares in enumerate(attacked):
        t[frm, list(squares)] = 1.0
    return t


def _between() -> torch.Tensor:
    """[64 * 64 (from, to), 64]: the squares strictly between from and to on a shared line."""
    t = torch.zeros(64 * 64, 64)
    for frm in chess.SQUARES:
        for to in chess.SQUARES:
            t[frm * 64 + to, list(chess.SquareSet(chess.between(frm, to)))] = 1.0
    return t


class AttackMaps(nn.Module):
    """Attack tables as non-persistent buffers: they follow the model's device, stay out of its weights."""

    knight: torch.Tensor
    king: torch.Tensor
    white_pawn: torch.Tensor
    black_pawn: torch.Tensor
    diagonal: torch.Tensor
    orthogonal: torch.Tensor
    between: torch.Tensor
    colour_offset: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        tables = {
            "knight": _table([chess.SquareSet(chess.BB_KNIGHT_ATTACKS[s]) for s in chess.SQUARES]),
            "king": _table([chess.SquareSet(chess.BB_KING_ATTACKS[s]) for s in chess.SQUARES]),
            "white_pawn": _table([chess.SquareSet(chess.BB_PAWN_ATTACKS[chess.WHITE][s]) for s in chess.SQUARES]),
            "black_pawn": _table([chess.SquareSet(chess.BB_PAWN_ATTACKS[chess.BLACK][s]) for s in chess.SQUARES]),
            # a slider's squares on an empty board (python-chess's tables at occupancy 0): its lines
            "diagonal": _table([chess.SquareSet(chess.BB_DIAG_ATTACKS[s][0]) for s in chess.SQUARES]),
            "orthogonal": _table(
                [chess.SquareSet(chess.BB_RANK_ATTACKS[s][0] | chess.BB_FILE_ATTACKS[s][0]) for s in chess.SQUARES]
            ),
            "between": _between(),
        }
        tables["colour_offset"] = torch.tensor([[[0], [ATTACK_CODES]]])  # [1, 2, 1]: black's codes follow white's
        for name, t in tables.items():
            self.register_buffer(name, t, persistent=False)

    def by_kind(self, pieces: torch.Tensor) -> torch.Tensor:
        """How many pieces of each kind attack each square: [B, K, 64] (float) of ``pieces`` [B, 64].

        ``pieces`` is engine.model.square_pieces' output: 0 empty, 1 + kind.
        """
        B = pieces.shape[0]
        kinds = torch.arange(1, 13, device=pieces.device).view(1, 12, 1)  # [1, K, 1]
        occupant = (pieces.unsqueeze(1) == kinds).to(self.between.dtype)  # [B, K, 64]
        occupied = (pieces > 0).to(self.between.dtype)  # [B, 64]
        # [B, 64] @ [64, 4096] -> [B, 4096] -> [B, 64 from, 64 to]: pieces strictly between
        blockers = (occupied @ self.between.T).view(B, 64, 64)
        clear = (blockers == 0).to(occupied.dtype)  # [B, 64, 64]
        diagonal = clear * self.diagonal  # [B, 64, 64]: where a bishop on ``from`` reaches
        orthogonal = clear * self.orthogonal
        colours = []
        for c, pawn in ((0, self.white_pawn), (6, self.black_pawn)):
            o = occupant[:, c : c + 6]  # [B, 6 piece types, 64] of one colour
            colours += [
                o[:, 0] @ pawn,  # [B, 64]
                o[:, 1] @ self.knight,
                (o[:, 2:3] @ diagonal).squeeze(1),  # [B, 1, 64] @ [B, 64, 64] -> [B, 64]
                (o[:, 3:4] @ orthogonal).squeeze(1),
                (o[:, 4:5] @ (diagonal + orthogonal)).squeeze(1),
                o[:, 5] @ self.king,
            ]
        return torch.stack(colours, dim=1)  # [B, K, 64]

    def forward(self, pieces: torch.Tensor) -> torch.Tensor:
        """Per square and colour, one code of its attackers: [B, 2, 64] int64 in [0, N_ATTACK_CODES).

        code = colour * ATTACK_CODES + min(count, ATTACK_COUNT_CAP) * 7 + least valuable attacker
        (0 none, 1..6 P N B R Q K), colour 0 white, 1 black.
        """
        B = pieces.shape[0]
        by_kind = self.by_kind(pieces).view(B, 2, 6, 64)  # [B, K, 64] -> [B, colour, piece type, 64]
        count = by_kind.sum(2).clamp(max=ATTACK_COUNT_CAP)  # [B, 2, 64]
        # rank the types so that the cheapest attacker scores highest: pawn 6 .. king 1, none 0
        rank = torch.arange(6, 0, -1, device=pieces.device, dtype=by_kind.dtype).view(1, 1, 6, 1)
        best = ((by_kind > 0).to(by_kind.dtype) * rank).amax(2)  # [B, 2, 64]
        least = torch.where(best > 0, 7 - best, torch.zeros_like(best))  # 1 pawn .. 6 king, 0 none
        return (count * 7 + least).long() + self.colour_offset
