"""Systematic errors for experts: a habit is a fixed, learnable rule an expert follows when it errs.

The paper's theory separates two kinds of expert error. Independent noise (a uniformly random
legal move, ``random_move_prob`` alone) averages out: even one such expert's most likely move
is its clean one, so a model trained on it alone gains from low temperature as much as one
trained on many. A systematic error does not average out within one expert: if an expert
errs by always making the same kind of move, that move is as likely in its games as its good
ones, and low temperature sharpens whichever of the two the model learned better. Only many
experts with *different* habits spread their errors so that the shared good move is the mode:
the diversity the paper's ablation is about.

A habit names a piece type. When the expert errs and that piece has a legal move, it plays the
one that lands furthest forward (seen from the mover's side), then on the lowest file, then
from the rearmost square, promoting to a queen: a rule read off the board and the same
under colour mirroring (files are unchanged, ranks counted from the mover's side), so a model
can learn it. Without a legal move of that piece the error is a uniformly random legal move.

A ``-back`` habit (``"knight-back"``) is the same rule turned round: the move that lands
furthest back, then on the highest file, then from the foremost square. Ten habits, not five,
let a committee of ten experts spread its errors twice as thin (attempt 11,
experiments/transcendence/configs/pool_v10.toml).
"""

from __future__ import annotations

import random

import chess

_PIECES: dict[str, chess.PieceType] = {
    "pawn": chess.PAWN,
    "knight": chess.KNIGHT,
    "bishop": chess.BISHOP,
    "rook": chess.ROOK,
    "queen": chess.QUEEN,
    "king": chess.KING,
}
BACK = "-back"  # suffix of the turned-round habits
# habit name -> (piece it moves, +1 furthest forward / -1 furthest back)
HABITS: dict[str, tuple[chess.PieceType, int]] = {
    **{name: (piece, 1) for name, piece in _PIECES.items()},
    **{name + BACK: (piece, -1) for name, piece in _PIECES.items() if piece != chess.PAWN},  # pawns cannot retreat
}


def check_habit(habit: str) -> None:
    """Raise ValueError unless ``habit`` is empty (uniform random errors) or a known habit."""
    if habit and habit not in HABITS:
        raise ValueError(f"unknown habit {habit!r}: expected one of {sorted(HABITS)} or empty")


def forward_rank(square: chess.Square, mover: chess.Color) -> int:
    """The square's rank counted from ``mover``'s side (0..7): what makes a rule colour-mirror invariant."""
    rank = chess.square_rank(square)
    return rank if mover == chess.WHITE else 7 - rank


def habit_move(board: chess.Board, habit: str) -> chess.Move | None:
    """The move ``habit`` makes in ``board``, or None if its piece has no legal move."""
    piece, sign = HABITS[habit]

    def forward(square: chess.Square) -> int:
        return forward_rank(square, board.turn)

    def preference(m: chess.Move) -> tuple[int, int, int, int, int]:
        # the -back rule is the forward rule on the board turned round (sign -1 on every square term)
        return (
            sign * forward(m.to_square),
            -sign * chess.square_file(m.to_square),
            -sign * forward(m.from_square),
            -sign * chess.square_file(m.from_square),
            m.promotion or 0,  # queen (5) first
        )

    moves = [m for m in board.legal_moves if board.piece_type_at(m.from_square) == piece]
    return max(moves, key=preference) if moves else None


FALLBACKS = ("random", "clean")  # an error where the habit has no move: uniform, or the expert's own move


def error_move(
    board: chess.Board, habit: str, rng: random.Random, habit_prob: float = 1.0, fallback: str = "random"
) -> chess.Move | None:
    """The move an expert makes when it errs: with probability ``habit_prob`` its habit's move,
    otherwise (or without a habit move here) a uniformly random legal one; or, with ``fallback``
    "clean", None where it has no habit move: the caller then plays the expert's own move, so
    the expert errs only by its habit (attempt 14, training/greedy.py).

    One definition for the experts of ``python -m experiments.transcendence generate`` and the UCI noisy expert, so an
    expert errs alike in its training games and in the games that rate it. ``habit_prob`` 1
    draws nothing extra from ``rng``, so such experts' games are those of earlier versions.
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"unknown habit fallback {fallback!r}: expected one of {FALLBACKS}")
    use_habit = bool(habit) and (habit_prob >= 1.0 or rng.random() < habit_prob)
    move = habit_move(board, habit) if use_habit else None
    if move is not None:
        return move
    return None if fallback == "clean" else rng.choice(list(board.legal_moves))
