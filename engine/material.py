"""Material accounting for the player's rule checks: piece values, the balance, exchanges.

The material guard (the ``MaterialGuard`` option) keeps the model from giving material away:
the policy imitates people, and people of every level leave pieces en prise. For each
candidate move it counts what the move takes, less what the opponent's best capture (or
promotion) then wins when both sides recapture on that square with their cheapest piece until
one side stops (static exchange evaluation, SEE), and it marks a move that allows mate in one.
Then it looks one move further, for the candidates that may still be kept: after each of the
opponent's checks and forks (a piece that attacks two pieces each worth more than it or
undefended), the best answer by the same count (``reply_gain``), so a skewer or a knight fork a
quiet move allows is seen. Candidates that lose more than ``GUARD_TOLERANCE`` pawns next to the
best candidate are left out. It is a rule check on exchanges and one reply, not a search: mates
two moves away, discovered attacks and threats that take two quiet moves are not seen. It runs
on bitboards (python-chess's attack tables); moves are made only to look at replies and mates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import chess

# piece values (pawns): the usual 1/3/3/5/9; a king is never captured
PIECE_VALUES = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9, chess.KING: 0}
MATED = 1000  # what a move that allows mate in one loses, in pawns: more than any material
GUARD_TOLERANCE = 0  # pawns a kept candidate may lose next to the best candidate (0: only the best count; measured)


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


def attackers(board: chess.Board, square: chess.Square, occupied: int) -> int:
    """Both colours' pieces (of ``board``, still standing in ``occupied``) that attack ``square`` when only
    the squares of ``occupied`` are filled: sliders see through the squares an exchange has emptied."""
    rooks = (board.rooks | board.queens) & occupied
    bishops = (board.bishops | board.queens) & occupied
    found = chess.BB_KNIGHT_ATTACKS[square] & board.knights
    found |= chess.BB_KING_ATTACKS[square] & board.kings
    # a white pawn attacks ``square`` from where a black pawn on ``square`` would attack, and the reverse
    found |= chess.BB_PAWN_ATTACKS[chess.BLACK][square] & board.pawns & board.occupied_co[chess.WHITE]
    found |= chess.BB_PAWN_ATTACKS[chess.WHITE][square] & board.pawns & board.occupied_co[chess.BLACK]
    found |= chess.BB_RANK_ATTACKS[square][chess.BB_RANK_MASKS[square] & occupied] & rooks
    found |= chess.BB_FILE_ATTACKS[square][chess.BB_FILE_MASKS[square] & occupied] & rooks
    found |= chess.BB_DIAG_ATTACKS[square][chess.BB_DIAG_MASKS[square] & occupied] & bishops
    return found & occupied


def _cheapest(board: chess.Board, candidates: int, colour: chess.Color, target: chess.Square) -> chess.Square | None:
    """The square of ``colour``'s cheapest piece among ``candidates`` that may take on ``target``: a piece
    pinned to its king only along the pin's line (the pins of ``board`` as it stands)."""
    for piece in (chess.PAWN, chess.KNIGHT, chess.BISHOP, chess.ROOK, chess.QUEEN, chess.KING):
        for square in chess.scan_forward(candidates & board.pieces_mask(piece, colour)):
            if board.pin_mask(colour, square) & chess.BB_SQUARES[target]:
                return square
    return None


def exchange_gain(board: chess.Board, capture: chess.Move) -> int:
    """Pawns the side to move wins by ``capture`` when the two sides then recapture on its square
    with their cheapest piece, each free to stop when going on would lose (static exchange
    evaluation, on bitboards: x-rays through emptied squares, absolute pins, a king that takes
    only an undefended piece). ``board`` is not changed."""
    target = capture.to_square
    taken = [capture_value(board, capture)]  # what each capture of the exchange takes, in order
    on_target = PIECE_VALUES[capture.promotion or board.piece_type_at(capture.from_square) or chess.PAWN]
    occupied = board.occupied & ~chess.BB_SQUARES[capture.from_square]
    if board.is_en_passant(capture):
        occupied &= ~chess.BB_SQUARES[target + (-8 if board.turn == chess.WHITE else 8)]
    colour = not board.turn
    while True:
        both = attackers(board, target, occupied)
        square = _cheapest(board, both & board.occupied_co[colour], colour, target)
        if square is None:
            break
        if board.piece_type_at(square) == chess.KING and both & board.occupied_co[not colour]:
            break  # the king may not take a defended piece
        taken.append(on_target)
        on_target = PIECE_VALUES[board.piece_type_at(square) or chess.PAWN]
        occupied &= ~chess.BB_SQUARES[square]
        colour = not colour
    # from the last capture back: each side takes only when what it wins beats stopping (0)
    net = 0
    for value in reversed(taken[1:]):
        net = max(0, value - net)
    return taken[0] - net


class CheckFinder:
    """Which moves of the side to move give check, without making them: the squares from which
    each piece type attacks the opponent's king, and the pieces whose move uncovers a slider's
    line to it, found once per position (castling and en passant ask python-chess)."""

    def __init__(self, board: chess.Board) -> None:
        self.board = board
        king = board.king(not board.turn)
        self.king = king
        if king is None:
            return
        occupied, mine = board.occupied, board.occupied_co[board.turn]
        diagonal = chess.BB_DIAG_ATTACKS[king][chess.BB_DIAG_MASKS[king] & occupied]
        straight = chess.BB_RANK_ATTACKS[king][chess.BB_RANK_MASKS[king] & occupied]
        straight |= chess.BB_FILE_ATTACKS[king][chess.BB_FILE_MASKS[king] & occupied]
        self.direct = {  # piece type -> the squares it checks from
            chess.PAWN: chess.BB_PAWN_ATTACKS[not board.turn][king],
            chess.KNIGHT: chess.BB_KNIGHT_ATTACKS[king],
            chess.BISHOP: diagonal,
            chess.ROOK: straight,
            chess.QUEEN: diagonal | straight,
            chess.KING: 0,
        }
        # my sliders on a line to the king with one piece of mine between: that piece uncovers them
        self.uncovers: dict[chess.Square, int] = {}  # its square -> the line it must leave
        rooks = (board.rooks | board.queens) & mine
        bishops = (board.bishops | board.queens) & mine
        snipers = chess.BB_RANK_ATTACKS[king][0] | chess.BB_FILE_ATTACKS[king][0]
        snipers = (snipers & rooks) | (chess.BB_DIAG_ATTACKS[king][0] & bishops)
        for sniper in chess.scan_forward(snipers):
            between = chess.between(king, sniper) & occupied
            if between and not between & (between - 1) and between & mine:  # exactly one, and mine
                self.uncovers[chess.msb(between)] = chess.ray(king, sniper)

    def __call__(self, move: chess.Move) -> bool:
        board = self.board
        if self.king is None or board.is_castling(move) or board.is_en_passant(move):
            return board.gives_check(move)
        piece = move.promotion or board.piece_type_at(move.from_square) or chess.PAWN
        to = chess.BB_SQUARES[move.to_square]
        if self.direct[piece] & to:  # (a slider's own line to the king is never through its from-square:
            return True  # the king would be in check already)
        line = self.uncovers.get(move.from_square)
        return line is not None and not line & to


def mates_in_one(board: chess.Board) -> bool:
    """Can the side to move mate at once? Only its legal checking moves are made on the board."""
    checks = CheckFinder(board)
    for move in board.generate_pseudo_legal_moves():
        if checks(move) and board.is_legal(move):
            board.push(move)
            mate = board.is_checkmate()
            board.pop()
            if mate:
                return True
    return False


def threats(board: chess.Board) -> Iterator[chess.Move]:
    """The side to move's moves that win material at once: its captures and its pawns' promotions."""
    yield from board.generate_legal_captures()
    last_rank = chess.BB_RANK_8 if board.turn == chess.WHITE else chess.BB_RANK_1
    for move in board.generate_legal_moves(from_mask=board.pawns, to_mask=last_rank & ~board.occupied):
        if move.promotion == chess.QUEEN:
            yield move


def piece_attacks(piece: chess.PieceType, colour: chess.Color, square: chess.Square, occupied: int) -> int:
    """The squares a ``colour`` ``piece`` on ``square`` attacks when the squares of ``occupied`` are filled."""
    if piece == chess.PAWN:
        return chess.BB_PAWN_ATTACKS[colour][square]
    if piece == chess.KNIGHT:
        return chess.BB_KNIGHT_ATTACKS[square]
    if piece == chess.KING:
        return chess.BB_KING_ATTACKS[square]
    found = 0
    if piece in (chess.ROOK, chess.QUEEN):
        found |= chess.BB_RANK_ATTACKS[square][chess.BB_RANK_MASKS[square] & occupied]
        found |= chess.BB_FILE_ATTACKS[square][chess.BB_FILE_MASKS[square] & occupied]
    if piece in (chess.BISHOP, chess.QUEEN):
        found |= chess.BB_DIAG_ATTACKS[square][chess.BB_DIAG_MASKS[square] & occupied]
    return found


def double_attacks(board: chess.Board) -> Iterator[chess.Move]:
    """The side to move's moves that may win material by a second threat: its checks, and its moves
    whose piece then attacks two of the opponent's pieces (not the king), each worth more than it or
    undefended (a fork). The candidates for ``reply_gain``'s one-move look; most moves are not."""
    checks = CheckFinder(board)
    theirs = board.occupied_co[not board.turn] & ~board.kings
    for move in board.generate_legal_moves():
        if checks(move):
            yield move
            continue
        piece = move.promotion or board.piece_type_at(move.from_square) or chess.PAWN
        occupied = (board.occupied & ~chess.BB_SQUARES[move.from_square]) | chess.BB_SQUARES[move.to_square]
        targets = piece_attacks(piece, board.turn, move.to_square, occupied) & theirs
        if not targets & (targets - 1):  # fewer than two
            continue
        hit = 0
        for target in chess.scan_forward(targets):
            worth_more = PIECE_VALUES[board.piece_type_at(target) or chess.PAWN] > PIECE_VALUES[piece]
            if worth_more or not attackers(board, target, occupied) & board.occupied_co[not board.turn]:
                hit += 1
        if hit >= 2:
            yield move


def safe_value(board: chess.Board, move: chess.Move) -> int:
    """Pawns ``move`` wins (what it takes) less the opponent's best capture or promotion then
    (by exchange); MATED if it mates. ``board`` is left as it was."""
    gained = capture_value(board, move)
    board.push(move)
    try:
        if board.is_checkmate():
            return MATED
        return gained - max(0, max((exchange_gain(board, c) for c in threats(board)), default=0))
    finally:
        board.pop()


def reply_gain(board: chess.Board, reply: chess.Move, enough: int) -> int:
    """Pawns the side to move wins by ``reply`` when the opponent then makes its best move by
    ``safe_value`` (a fork wins the piece that is not saved). Stops looking once some answer holds
    the gain to ``enough`` or less, and returns at most ``enough`` then."""
    gained = capture_value(board, reply)
    board.push(reply)
    try:
        answers = sorted(board.generate_legal_moves(), key=lambda m: -capture_value(board, m))
        if not answers:
            return MATED if board.is_check() else gained  # stalemate: the material stays as it is
        best = -MATED
        for answer in answers:
            best = max(best, safe_value(board, answer))
            if gained - best <= enough:
                break
        return gained - best
    finally:
        board.pop()


def move_material(board: chess.Board, move: chess.Move) -> int:
    """Pawns ``move`` wins (what it takes) less what the opponent's best capture or promotion then
    wins by exchange; -MATED if the opponent can then mate at once. ``board`` is left as it was."""
    gained = capture_value(board, move)
    board.push(move)
    try:
        if board.is_checkmate():
            return MATED
        if mates_in_one(board):
            return -MATED
        return gained - max(0, max((exchange_gain(board, c) for c in threats(board)), default=0))
    finally:
        board.pop()


def fork_threat(board: chess.Board, move: chess.Move, threat: int) -> int:
    """What the opponent wins after ``move``: ``threat`` (its best capture, from move_material) or
    more, by a check or fork after which the best answer still loses material (``reply_gain``)."""
    board.push(move)
    try:
        for reply in double_attacks(board):
            threat = max(threat, reply_gain(board, reply, threat))
        return threat
    finally:
        board.pop()


def guard_material(
    board: chess.Board, moves: list[chess.Move], draws: Callable[[chess.Move], bool] | None = None, lead: int = 0
) -> list[chess.Move]:
    """The candidates that lose at most GUARD_TOLERANCE pawns next to the best of ``moves``
    (by move_material, then fork_threat), in their order; never empty when ``moves`` is not.
    A move for which ``draws`` is true (the game can end drawn after it) counts at most -``lead``:
    the draw gives up that many pawns of lead, whatever the move takes.

    The exchanges of every candidate are counted first; the rest (slower) only for the
    candidates that may still be kept, best first: it can only lower a move's count."""
    if len(moves) < 2:
        return moves
    net = {m: move_material(board, m) for m in moves}
    best = -MATED - 1
    for move in sorted(moves, key=lambda m: -net[m]):
        if net[move] < best - GUARD_TOLERANCE:
            break  # its count can only fall: it is out whatever the rest count
        if abs(net[move]) != MATED:
            gained = capture_value(board, move)
            net[move] = gained - fork_threat(board, move, gained - net[move])
        if draws is not None and net[move] != MATED and draws(move):
            net[move] = min(net[move], -max(0, lead))
        best = max(best, net[move])
    return [m for m in moves if net[m] >= best - GUARD_TOLERANCE]
