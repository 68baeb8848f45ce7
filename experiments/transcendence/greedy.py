"""The greedy rule: a clean move that is a simple rule of the board, for rule experts.

Attempt 14 of the transcendence experiment (results/transcendence/report.md) needs experts
whose shared good move is as learnable as their errors. Stockfish's depth-1 move is not: a
0.93 M model learned it at p ~0.11 where its data played it on 40% of moves, while each
habit (training/habits.py), a one-line rule, was learned sharply (attempt 13). This rule
takes the place of Stockfish: one lexicographic preference over the legal moves, read off
the board alone, the same under colour mirroring (ranks counted from the mover's side,
files unchanged), so a model can learn it as it learns a habit.

The preference, highest first:
1. a checkmate;
2. the material gain: the value of the piece taken (and a promotion's gain), less the moving
   piece's value if the square it lands on is attacked by the opponent after the move (a
   one-reply exchange, not a full static exchange evaluation);
3. then the move that advances furthest (ranks gained, seen from the mover's side), then the
   one landing furthest forward, then on the lowest file, then from the lowest file,
   promoting to a queen.

Advance before landing rank: a first version ranked the landing square first, like the
habits, and shuffled a piece along the last rank it reached (two thirds of its games against
its own habit experts ended in threefold repetition, against a quarter with this order).

So it takes free material and mates at once, does not hang the piece it moves, and otherwise
pushes its army forward: a weak but purposeful player, far better than the same rule
interrupted by a habit's move on most moves.

``greedy-pawns`` (attempt 17) is the same rule with one more key part after the material gain:
a pawn move first. Attempt 15's committee model learned the rule's captures and its safety,
but where the rule has no capture its move is one push among many pieces' pushes, and the
model spread its probability over them, so that a habit's single sharp move won the argmax
(bench/move_classes.py: the rule's move was under half of its moves in its own games). Among
the pawns the order is the same as before, so the quiet move is one pawn's push, as sharp as a
habit's move; without a safe pawn move it is the greedy rule's.
"""

from __future__ import annotations

import chess

from chessformer.engine.material import PIECE_VALUES  # pawns; the king 0 (it cannot be taken)
from experiments.transcendence.habits import forward_rank

MATE_SCORE = 1000  # above any material gain


def exchange(board: chess.Board, move: chess.Move) -> tuple[int, int]:
    """(taken, lost) for ``move``, in pawns: the material it takes (with a promotion's gain), and the
    moved piece's value if the opponent attacks its square after the move (one reply); a checkmate
    is (MATE_SCORE, 0). The rule's material gain is taken - lost."""
    mover = board.turn
    moving = board.piece_type_at(move.from_square)
    assert moving is not None
    if board.is_en_passant(move):
        taken = PIECE_VALUES[chess.PAWN]
    else:
        victim = board.piece_type_at(move.to_square)
        taken = PIECE_VALUES[victim] if victim is not None else 0
    landed = move.promotion or moving  # the piece standing on to_square after the move
    taken += PIECE_VALUES[landed] - PIECE_VALUES[moving]  # a promotion's gain (0 otherwise)
    board.push(move)
    try:
        if board.is_checkmate():
            return MATE_SCORE, 0
        lost = PIECE_VALUES[landed] if board.is_attacked_by(not mover, move.to_square) else 0
    finally:
        board.pop()
    return taken, lost


def preference(board: chess.Board, move: chess.Move, pawns_first: bool = False) -> tuple[int, ...]:
    """The rule's key for ``move`` (module doc), compared lexicographically, highest first:
    (material gain, advance, landing rank, -landing file, -starting file, promotion piece); with
    ``pawns_first`` (greedy-pawns) a pawn move (1) before the others (0) just after the gain."""
    taken, lost = exchange(board, move)
    pawn = (int(board.piece_type_at(move.from_square) == chess.PAWN),) if pawns_first else ()
    return (
        taken - lost,
        *pawn,
        forward_rank(move.to_square, board.turn) - forward_rank(move.from_square, board.turn),  # ranks; < 0: a retreat
        forward_rank(move.to_square, board.turn),
        -chess.square_file(move.to_square),
        -chess.square_file(move.from_square),
        move.promotion or 0,  # queen (5) first
    )


def greedy_move(board: chess.Board, pawns_first: bool = False) -> chess.Move:
    """The greedy rule's move in ``board`` (module doc), or greedy-pawns' with ``pawns_first``;
    raises ValueError without a legal move."""
    moves = list(board.legal_moves)
    if not moves:
        raise ValueError(f"no legal move in {board.fen()}")
    return max(moves, key=lambda m: preference(board, m, pawns_first))


RULES = ("greedy", "greedy-pawns")  # the rules of the board an expert's own move can be (Expert.clean)


def check_rule(rule: str) -> None:
    """Raise ValueError unless ``rule`` is one of RULES."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}: expected one of {RULES}")


def pawns_first(rule: str) -> bool:
    """Whether the rule named ``rule`` (one of RULES) puts a pawn move first (greedy-pawns)."""
    check_rule(rule)
    return rule == "greedy-pawns"


def rule_move(rule: str, board: chess.Board) -> chess.Move:
    """The move of the rule named ``rule`` (one of RULES) in ``board``."""
    return greedy_move(board, pawns_first(rule))
