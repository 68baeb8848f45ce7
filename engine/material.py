"""Material accounting for the player's rule checks: piece values, the balance, exchanges.

The material guard (the ``MaterialGuard`` option) keeps the model from giving material away:
the policy imitates people, and people of every level leave pieces en prise. For each
candidate move it counts what the move captures and what the opponent can then win with its
best capture, each capture followed by the cheapest legal recaptures on that square until
one side stops (static exchange evaluation, SEE), and a mate the opponent would then have in
one. Candidates that lose more than ``GUARD_TOLERANCE`` pawns next to the best candidate are
left out. It is a rule check two plies deep on exchanges only, not a search: forks are seen
(the opponent's best capture), pins and mates two moves away are not.
"""

from __future__ import annotations

import chess

# piece values (pawns): the usual 1/3/3/5/9; a king is never captured
PIECE_VALUES = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9, chess.KING: 0}
MATED = 1000  # what a move that allows mate in one loses, in pawns: more than any material
GUARD_TOLERANCE = 1  # pawns a kept candidate may lose next to the best candidate


def material_balance(board: chess.Board) -> int:
    """The side to move's material minus its opponent's, in pawns (1/3/3/5/9)."""
    return sum(PIECE_VALUES[p.piece_type] * (1 if p.color == board.turn else -1) for p in board.piece_map().values())


def capture_value(board: chess.Board, move: chess.Move) -> int:
    """Material ``move`` wins at once: the piece it takes (a pawn en passant) plus a promotion's gain."""
    gained = PIECE_VALUES[chess.PAWN] if board.is_en_passant(move) else 0
    taken = board.piece_type_at(move.to_square)
    if taken is not None:
        gained = PIECE_VALUES[taken]
    if move.promotion is not None:
        gained += PIECE_VALUES[move.promotion] - PIECE_VALUES[chess.PAWN]
    return gained


def _attacker_order(board: chess.Board, move: chess.Move) -> int:
    """Cheapest recapturer first; the king last (it may only take an undefended piece)."""
    piece = board.piece_type_at(move.from_square)
    return 100 if piece == chess.KING else PIECE_VALUES[piece or chess.PAWN]


def exchange_gain(board: chess.Board, capture: chess.Move) -> int:
    """Pawns the side to move wins by ``capture`` when the two sides then recapture on its square
    with their cheapest legal piece, each free to stop when going on would lose (SEE). ``board``
    is left as it was."""
    gain = capture_value(board, capture)
    board.push(capture)
    try:
        recaptures = list(board.generate_legal_captures(to_mask=chess.BB_SQUARES[capture.to_square]))
        if not recaptures:
            return gain
        cheapest = min(recaptures, key=lambda m: _attacker_order(board, m))
        return gain - max(0, exchange_gain(board, cheapest))
    finally:
        board.pop()


def mates_in_one(board: chess.Board) -> bool:
    """Can the side to move mate at once? (The check test first: it is cheap and rules out most moves.)"""
    for move in board.legal_moves:
        if board.gives_check(move):
            board.push(move)
            mate = board.is_checkmate()
            board.pop()
            if mate:
                return True
    return False


def move_material(board: chess.Board, move: chess.Move) -> int:
    """Pawns ``move`` wins (what it takes) less what the opponent's best capture then wins by
    exchange; -MATED if the opponent can then mate at once. ``board`` is left as it was."""
    gained = capture_value(board, move)
    board.push(move)
    try:
        if board.is_checkmate():
            return MATED
        if mates_in_one(board):
            return -MATED
        threat = max((exchange_gain(board, c) for c in board.generate_legal_captures()), default=0)
        return gained - max(0, threat)
    finally:
        board.pop()


def guard_material(board: chess.Board, moves: list[chess.Move]) -> list[chess.Move]:
    """The candidates that lose at most GUARD_TOLERANCE pawns next to the best of ``moves``
    (by move_material), in their order; never empty when ``moves`` is not."""
    if len(moves) < 2:
        return moves
    net = [move_material(board, m) for m in moves]
    best = max(net)
    return [m for m, n in zip(moves, net, strict=True) if n >= best - GUARD_TOLERANCE]
