"""Material accounting and the material guard (engine/material.py), on hand-checked positions."""

from __future__ import annotations

import chess
import pytest

from chessformer.engine.material import (
    GUARD_TOLERANCE,
    MATED,
    capture_value,
    exchange_gain,
    fork_threat,
    guard_material,
    material_balance,
    move_material,
)


def _board(sans: str, fen: str | None = None) -> chess.Board:
    board = chess.Board(fen) if fen else chess.Board()
    for san in sans.split():
        board.push_san(san)
    return board


def test_capture_values_count_en_passant_and_promotions() -> None:
    ep = chess.Board("4k3/8/8/3pP3/8/8/8/4K3 w - d6 0 2")
    assert capture_value(ep, chess.Move.from_uci("e5d6")) == 1
    promo = chess.Board("1r2k3/P7/8/8/8/8/8/4K3 w - - 0 1")
    assert capture_value(promo, chess.Move.from_uci("a7a8q")) == 8  # a pawn becomes a queen
    assert capture_value(promo, chess.Move.from_uci("a7b8q")) == 5 + 8  # and takes a rook
    assert capture_value(promo, chess.Move.from_uci("a7b8n")) == 5 + 2


def test_exchanges_recapture_with_the_cheapest_piece_and_stop_when_losing() -> None:
    # the e5 pawn, attacked by the f3 knight: free, then defended by a knight
    free = chess.Board("rnbqkbnr/pppp1ppp/8/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 0 2")
    assert exchange_gain(free, free.parse_san("Nxe5")) == 1
    defended = _board("e4 e5 Nf3 Nc6")
    assert exchange_gain(defended, defended.parse_san("Nxe5")) == 1 - 3
    assert defended.fen() == _board("e4 e5 Nf3 Nc6").fen()  # the board is left as it was
    # a rook takes a pawn defended by a pawn, a second rook behind: the pawn takes, the rook takes back
    battery = chess.Board("4k3/8/2p5/3p4/8/8/3R4/3RK3 w - - 0 1")
    assert exchange_gain(battery, chess.Move.from_uci("d2d5")) == 1 - 5 + 1
    # the d5 pawn's only defender, the e7 knight, is pinned to its king by the e1 rook
    pinned = chess.Board("4k3/4n3/8/3p4/8/8/8/3RR1K1 w - - 0 1")
    assert exchange_gain(pinned, chess.Move.from_uci("d1d5")) == 1
    unpinned = chess.Board("4k3/4n3/8/3p4/8/8/8/3R2K1 w - - 0 1")
    assert exchange_gain(unpinned, chess.Move.from_uci("d1d5")) == 1 - 5
    # a queen takes a pawn defended by a pawn and a bishop: the cheapest recapture, the pawn, comes first
    queen = chess.Board("4k3/8/2p1b3/3p4/8/8/8/3QK3 w - - 0 1")
    assert exchange_gain(queen, chess.Move.from_uci("d1d5")) == 1 - 9


def test_move_material_sees_hanging_pieces_and_mate_in_one() -> None:
    board = _board("e4 e5 Nf3")
    assert move_material(board, board.parse_san("Qg5")) == -9  # Nxg5
    assert move_material(board, board.parse_san("Ba3")) == -3  # Nxa3 or bxa3
    assert move_material(board, board.parse_san("Nc6")) == 0  # defends e5
    assert move_material(board, board.parse_san("h6")) == -1  # e5 still hangs
    scholar = _board("e4 e5 Qh5 Nc6 Bc4")
    assert move_material(scholar, scholar.parse_san("Nf6")) == -MATED  # Qxf7#
    assert move_material(scholar, scholar.parse_san("g6")) == 0
    mate = _board("e4 e5 Qh5 Nc6 Bc4 Nf6")
    assert move_material(mate, mate.parse_san("Qxf7#")) == MATED
    assert material_balance(mate) == 0


def test_the_guard_leaves_out_losing_moves_and_keeps_the_order() -> None:
    board = _board("e4 e5 Nf3")
    moves = list(board.legal_moves)
    kept = guard_material(board, moves)
    assert [m for m in moves if m in kept] == kept  # in the given order
    sans = {board.san(m) for m in kept}
    assert {"Nc6", "d6", "f6", "Qf6", "Qe7"} <= sans and not {"Qg5", "Ba3", "Qh4"} & sans
    # a knight on c7 forks the a8 rook and the e8 queen (the white king is walled in: no check saves
    # black): the best moves (the queen steps away along the rank, still defending the rook:
    # Nxa8 Qxa8, -2) stay; the rook's (Nxe8 Rxe8, -6) and the queen's away from the rank (-5) do not
    fork = chess.Board("r3q2k/2N5/8/8/8/8/5PPP/5BK1 b - - 0 1")
    net = {fork.san(m): move_material(fork, m) for m in fork.legal_moves}
    assert max(net.values()) == -2 and net["Qd8"] == -2 and net["Rb8"] == -6 and net["Qe5"] == -5
    kept = {fork.san(m) for m in guard_material(fork, list(fork.legal_moves))}
    assert kept == {san for san, n in net.items() if n >= -2 - GUARD_TOLERANCE} and "Qd8" in kept and "Rb8" not in kept
    # a single candidate always stays, and the guard never empties the list
    assert guard_material(board, moves[:1]) == moves[:1]
    assert guard_material(board, []) == []


def test_the_guard_sees_forks_and_skewers_one_move_ahead() -> None:
    # the d4 knight forks king and rook from c2 (a1) or f3 (h2); no capture wins anything at once
    fork = chess.Board("4k3/8/8/8/3n4/8/8/R3K2R w KQ - 0 1")
    threat = {u: fork_threat(fork, chess.Move.from_uci(u), 0) for u in ("h1h2", "h1g1", "a1b1", "e1d1")}
    assert all(move_material(fork, chess.Move.from_uci(u)) == 0 for u in threat)
    assert threat == {"h1h2": 5, "h1g1": 5 - 3, "a1b1": 0, "e1d1": 0}  # Rg1: Nc2+, Nxa1, Rxa1
    kept = {m.uci() for m in guard_material(fork, list(fork.legal_moves))}
    assert {"a1b1", "e1d1"} <= kept and not {"h1h2", "h1g1"} & kept
    # a fork the answer refutes is no threat: after Kd2, Nb3+ forks king and rook, unless a c2 pawn takes
    bare = chess.Board("4k3/8/8/8/3n4/8/8/R3K3 w Q - 0 1")
    assert fork_threat(bare, chess.Move.from_uci("e1d2"), 0) == 5
    covered = chess.Board("4k3/8/8/8/3n4/8/2P5/R3K3 w Q - 0 1")
    assert fork_threat(covered, chess.Move.from_uci("e1d2"), 0) == 0
    # a skewer: after a quiet pawn move, Bb4+ and the bishop takes the e1 rook (the king can only
    # defend it: Bxe1 Kxe1, 5 - 3); king and rook moves off the line are kept
    skewer = chess.Board("7k/8/8/8/8/b7/3K2PP/4R3 w - - 0 1")
    assert fork_threat(skewer, chess.Move.from_uci("g2g3"), 0) == 2
    kept = {m.uci() for m in guard_material(skewer, list(skewer.legal_moves))}
    assert not {"g2g3", "g2g4", "h2h3", "h2h4"} & kept and {"d2e2", "e1e3"} <= kept


@pytest.mark.parametrize(
    ("sans", "book", "at_least"),
    [
        ("e4 e5 Nf3 Nc6 Bb5 a6 Ba4 Nf6 O-O Be7", {"Re1", "d3", "Qe2", "Nc3"}, 5),
        ("d4 d5 c4 e6 Nc3 Nf6 Bg5 Be7 e3 O-O", {"Nf3", "Rc1", "Qc2", "Bd3"}, 20),
    ],
)
def test_the_guard_keeps_quiet_opening_moves(sans: str, book: set[str], at_least: int) -> None:
    # the Ruy Lopez: Black threatens Nxe4, so the moves that leave the e4 pawn hanging are out
    board = _board(sans)
    kept = {board.san(m) for m in guard_material(board, list(board.legal_moves))}
    assert book <= kept and len(kept) >= at_least


def _random_positions(seed: int, games: int) -> list[chess.Board]:
    """Positions from random games that favour captures (more exchanges, checks and promotions)."""
    import random

    rng, boards = random.Random(seed), []
    for _ in range(games):
        board = chess.Board()
        for _ in range(rng.randint(8, 140)):
            moves = list(board.legal_moves)
            if not moves:
                break
            captures = [m for m in moves if board.is_capture(m)]
            board.push(rng.choice(captures) if captures and rng.random() < 0.4 else rng.choice(moves))
        if not board.is_game_over():
            boards.append(board)
    return boards


def test_check_finder_agrees_with_python_chess() -> None:
    from chessformer.engine.material import CheckFinder

    moves = 0
    for board in _random_positions(3, 150):
        finder = CheckFinder(board)
        for move in board.legal_moves:
            assert finder(move) == board.gives_check(move), (board.fen(), move.uci())
            moves += 1
    # discovered checks, promotions, castling and en passant by hand
    discovered = chess.Board("4k3/8/8/8/4N3/8/8/4R1K1 w - - 0 1")
    assert CheckFinder(discovered)(chess.Move.from_uci("e4c5")) and not CheckFinder(discovered)(
        chess.Move.from_uci("e1e2")
    )
    promotion = chess.Board("k7/2P5/8/8/8/8/8/4K3 w - - 0 1")
    assert CheckFinder(promotion)(chess.Move.from_uci("c7c8q")) and not CheckFinder(promotion)(
        chess.Move.from_uci("c7c8n")
    )
    castle = chess.Board("5k2/8/8/8/8/8/8/4K2R w K - 0 1")
    assert CheckFinder(castle)(chess.Move.from_uci("e1g1"))
    assert moves > 2000


def test_exchanges_on_bitboards_agree_with_legal_recaptures() -> None:
    """The bitboard exchange against a plain recursion over python-chess's legal recaptures; they
    differ only where a recapture would leave its own king in check from a line the exchange opened."""

    def by_legal_moves(board: chess.Board, capture: chess.Move) -> int:
        gain = capture_value(board, capture)
        board.push(capture)
        try:
            replies = list(board.generate_legal_captures(to_mask=chess.BB_SQUARES[capture.to_square]))
            if not replies:
                return gain
            values = {chess.KING: 100, chess.QUEEN: 9, chess.ROOK: 5, chess.BISHOP: 3, chess.KNIGHT: 3, chess.PAWN: 1}
            cheapest = min(replies, key=lambda m: values[board.piece_type_at(m.from_square) or chess.PAWN])
            if cheapest.promotion:  # the recursion counts a promoting recapture's queen; the exchange does not
                return gain - max(0, by_legal_moves(board, chess.Move(cheapest.from_square, cheapest.to_square)))
            return gain - max(0, by_legal_moves(board, cheapest))
        finally:
            board.pop()

    captures = differ = 0
    for board in _random_positions(4, 500):
        for move in board.generate_legal_captures():
            captures += 1
            differ += exchange_gain(board, move) != by_legal_moves(board, move)
    assert captures > 300 and differ <= captures // 100, (differ, captures)


def test_mate_in_one_is_found_through_discovered_and_back_rank_checks() -> None:
    from chessformer.engine.material import mates_in_one

    back_rank = chess.Board("6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1")  # Ra8#
    assert mates_in_one(back_rank)
    assert not mates_in_one(chess.Board("6k1/5pp1/7p/8/8/8/8/R5K1 w - - 0 1"))  # h6 gave the king air
    # the bishop on d5 blocks the h1 queen's diagonal to a8: any bishop move uncovers it; Bc6 is mate
    discovered = chess.Board("k7/p1p5/8/3B4/8/8/8/K6Q w - - 0 1")
    assert mates_in_one(discovered)
    assert not mates_in_one(chess.Board())


def test_a_pawn_about_to_queen_is_a_threat() -> None:
    # black to move; white's a7 pawn queens unless the rook covers a8
    board = chess.Board("6k1/P7/8/2r5/8/8/6K1/8 b - - 0 1")
    assert move_material(board, chess.Move.from_uci("c5c8")) == 0  # a8=Q Rxa8
    assert move_material(board, chess.Move.from_uci("c5a5")) == 0  # the file opens when the pawn moves
    assert move_material(board, chess.Move.from_uci("c5c1")) == -8  # a8=Q for nothing
    kept = {m.uci() for m in guard_material(board, list(board.legal_moves))}
    assert "c5c1" not in kept and "g8f7" not in kept and {"c5c8", "c5a5"} <= kept
