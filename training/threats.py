"""Threat features of many boards at once, in torch: what engine/tokenizer.py ``threat_features``
computes for one board with python-chess, for the boards training tracks (training/board_replay.py).

Each board's pieces become int64 bitboards (bit = square, python-chess's a1 = 0), and attacks
are shifts, as in a bitboard engine: a knight, king or pawn attacks the squares one shift
away; a slider's ray advances one square at a time through empty squares and stops on the
first piece. python-chess's rules (pseudo-legal, pins ignored, no x-rays) follow from that;
tests/training/test_threats.py checks every id against python-chess.

Why not engine/attacks.py's matrix form: it builds [N, 64, 64] line-of-sight matrices, two
orders of magnitude more memory traffic; training asks for ~8,000 boards a step.

Shapes: N boards, 64 squares.
"""

from __future__ import annotations

import torch

from chessformer.engine.tokenizer import CONTROL_BASE, CONTROL_PER_COLOUR, EN_PRISE_BASE, PAD_FEATURE, PIECE_VALUES

THREAT_WIDTH = 2 * 64 + 64  # slots per board: each colour's control of each square, then en prise per square
_VALUES = torch.tensor(PIECE_VALUES)
_SQUARES = torch.arange(64)
_BITS = torch.tensor([1 << s if s < 63 else -(1 << 63) for s in range(64)], dtype=torch.long)  # bit of each square
_COLOUR_OFFSETS = torch.tensor([0, CONTROL_PER_COLOUR]).view(1, 2, 1)  # [1, 2, 1]: black's control ids follow white's


def _int64(bits: int) -> torch.Tensor:
    """A 64-bit mask as an int64 scalar tensor (two's complement)."""
    bits &= (1 << 64) - 1
    return torch.tensor(bits - (1 << 64) if bits >= 1 << 63 else bits, dtype=torch.long)


_FILE_A = 0x0101010101010101
_NOT_A, _NOT_H = _int64(~_FILE_A), _int64(~(_FILE_A << 7))  # every square but the a-file / the h-file
_NOT_AB, _NOT_GH = _int64(~(_FILE_A * 3)), _int64(~(_FILE_A * 0xC0))
_ALL = _int64(-1)
# a step is (square delta, mask of the squares it may land on: a file step must not wrap around)
_NORTH, _SOUTH, _EAST, _WEST = (8, _ALL), (-8, _ALL), (1, _NOT_A), (-1, _NOT_H)
_DIAGONAL = ((9, _NOT_A), (7, _NOT_H), (-7, _NOT_A), (-9, _NOT_H))
_ORTHOGONAL = (_NORTH, _SOUTH, _EAST, _WEST)
_KNIGHT = (
    (17, _NOT_A),
    (15, _NOT_H),
    (10, _NOT_AB),
    (6, _NOT_GH),
    (-6, _NOT_AB),
    (-10, _NOT_GH),
    (-15, _NOT_A),
    (-17, _NOT_H),
)


Step = tuple[int, torch.Tensor]


def _shift(x: torch.Tensor, step: Step) -> torch.Tensor:
    """Bitboards ``x`` [N] moved by ``step`` (square delta, landing mask); what leaves the board is dropped."""
    d, mask = step
    if d > 0:
        return (x << d) & mask
    # int64 >> copies the sign bit: clear the bits shifted in from the top
    return (x >> -d) & ((1 << (64 + d)) - 1) & mask


def _leaps(x: torch.Tensor, steps: tuple[Step, ...]) -> torch.Tensor:
    """Squares one step away from any of ``x`` [N]."""
    out = torch.zeros_like(x)
    for step in steps:
        out |= _shift(x, step)
    return out


def _rays(x: torch.Tensor, empty: torch.Tensor, directions: tuple[Step, ...]) -> torch.Tensor:
    """Squares a slider on ``x`` [N] reaches along ``directions``, stopping at the first piece."""
    out = torch.zeros_like(x)
    for step in directions:
        ray = _shift(x, step)
        for _ in range(6):
            out |= ray
            ray = _shift(ray & empty, step)
        out |= ray
    return out


def least_attackers(pieces: torch.Tensor) -> torch.Tensor:
    """[N, 2 colours, 64]: the type of the cheapest piece of that colour attacking the square
    (1 pawn .. 6 king; 0 none), for boards ``pieces`` [N, 64] (0 empty, 1 + the tokenizer's piece kind)."""
    n = pieces.shape[0]
    # bitboards [N, 13] per kind (0 empty): the bits are disjoint, so their sum is their OR (2^63 wraps to the sign bit)
    boards = torch.zeros(n, 13, dtype=torch.long).scatter_add_(1, pieces, _BITS.expand(n, 64))
    empty = boards[:, 0]
    least = []
    for colour, pawn_steps in ((0, ((9, _NOT_A), (7, _NOT_H))), (1, ((-7, _NOT_A), (-9, _NOT_H)))):
        of = boards[:, 1 + 6 * colour : 7 + 6 * colour].unbind(1)  # 6 x [N]
        covered = torch.zeros_like(empty)
        for attacked in (
            _leaps(of[0], pawn_steps),
            _leaps(of[1], _KNIGHT),
            _rays(of[2], empty, _DIAGONAL),
            _rays(of[3], empty, _ORTHOGONAL),
            _rays(of[4], empty, _DIAGONAL + _ORTHOGONAL),
            _leaps(of[5], _DIAGONAL + _ORTHOGONAL),
        ):
            least.append(attacked & ~covered)  # squares this type attacks first, cheapest first
            covered |= attacked
    planes = (torch.stack(least, dim=1).unsqueeze(-1) & _BITS) != 0  # [N, 12, 1] & [64] -> [N, 12, 64]
    types = torch.arange(1, 7, dtype=torch.uint8).view(1, 1, 6, 1)  # [1, 1, 6, 1]
    return (planes.view(n, 2, 6, 64) * types).sum(2, dtype=torch.uint8).long()  # disjoint planes: [N, 2, 64]


def threat_columns(pieces: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Threat feature ids [N, THREAT_WIDTH] (PAD_FEATURE where none) of boards ``pieces`` [N, 64]:
    the ids of engine/tokenizer.py ``threat_features``, unsorted."""
    parts = [_threats_of_chunk(pieces[c : c + chunk]) for c in range(0, pieces.shape[0], chunk)]
    return torch.cat(parts) if parts else torch.empty(0, THREAT_WIDTH, dtype=torch.long)


def _threats_of_chunk(p: torch.Tensor) -> torch.Tensor:
    n = p.shape[0]
    least = least_attackers(p)  # [N, 2, 64], 0 none
    control = torch.where(least > 0, CONTROL_BASE - 64 + _COLOUR_OFFSETS + least * 64 + _SQUARES, PAD_FEATURE)
    kind = (p - 1).clamp(min=0)  # [N, 64], 0..11 where occupied
    own = (kind // 6).unsqueeze(1)  # [N, 1, 64]: 0 white, 1 black
    enemy_least = least.gather(1, 1 - own)[:, 0]  # [N, 64]
    undefended = least.gather(1, own)[:, 0] == 0
    cheaper = _VALUES[enemy_least] < _VALUES[kind % 6 + 1]
    prise = (p > 0) & (enemy_least > 0) & (undefended | cheaper)
    en_prise = torch.where(prise, EN_PRISE_BASE + kind * 64 + _SQUARES, PAD_FEATURE)  # [N, 64]
    return torch.cat([control.view(n, 128), en_prise], dim=1)  # [N, 2, 64] -> [N, 128]; [N, 192]
