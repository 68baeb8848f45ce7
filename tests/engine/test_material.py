"""Material accounting and the material guard (engine/material.py), on hand-checked positions."""

from __future__ import annotations

import chess
import pytest

from chessformer.engine.material import (
    MATED,
    capture_value,
    exchange_gain,
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
    assert kept == {san for san, n in net.items() if n >= -3} and "Qd8" in kept and "Rb8" not in kept
    # a single candidate always stays, and the guard never empties the list
    assert guard_material(board, moves[:1]) == moves[:1]
    assert guard_material(board, []) == []


@pytest.mark.parametrize("sans", ["e4 e5 Nf3 Nc6 Bb5 a6 Ba4 Nf6 O-O Be7", "d4 d5 c4 e6 Nc3 Nf6 Bg5 Be7 e3 O-O"])
def test_the_guard_keeps_quiet_opening_moves(sans: str) -> None:
    board = _board(sans)
    assert len(guard_material(board, list(board.legal_moves))) >= 10
