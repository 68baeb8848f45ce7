"""training/board_replay.py: tracked boards equal python-chess's, ply by ply."""

from __future__ import annotations

import random

import chess
import numpy as np
import pytest
import torch

from chessformer.engine.tokenizer import MAX_FEATURES, PAD_FEATURE, board_features, move_id, ply_features, rating_code
from chessformer.training.board_replay import rating_columns, scale_of_source, track_rows


def _random_game(rng: random.Random, plies: int, fen: str | None = None) -> tuple[chess.Board, list[chess.Move]]:
    """A random game that prefers castling, en passant and promotions when they are legal."""
    board = chess.Board(fen) if fen else chess.Board()
    root = board.copy()
    moves = []
    for _ in range(plies):
        legal = list(board.legal_moves)
        if not legal:
            break
        special = [m for m in legal if board.is_castling(m) or board.is_en_passant(m) or m.promotion]
        pawn = [m for m in legal if board.piece_type_at(m.from_square) == chess.PAWN]
        pool = special if special and rng.random() < 0.8 else (pawn if pawn and rng.random() < 0.5 else legal)
        mv = rng.choice(pool)
        moves.append(mv)
        board.push(mv)
    return root, moves


def _as_set(row: np.ndarray | tuple[int, ...]) -> list[int]:
    return sorted(int(x) for x in row if x != PAD_FEATURE)


def test_tracked_rows_equal_python_chess() -> None:
    rng = random.Random(7)
    fens = [None, None, None, "r3k2r/pppq1ppp/8/3pP3/8/8/PPP2PPP/R3K2R w KQkq d6 0 1", "8/P6k/8/8/8/8/p6K/8 w - - 0 1"]
    games = [_random_game(rng, 120, fens[i % len(fens)]) for i in range(60)]
    T = max(len(m) for _, m in games)
    anchors = torch.tensor([board_features(b) for b, _ in games])
    ids = torch.full((len(games), T), 1969, dtype=torch.long)  # PAD_ID after each game
    for i, (b, ms) in enumerate(games):
        ids[i, : len(ms)] = torch.tensor([move_id(x, m) for x, m in _boards(b, ms)])
    rows = track_rows(anchors, ids).numpy()
    checked = specials = 0
    for i, (b, ms) in enumerate(games):
        assert _as_set(rows[i, 0]) == _as_set(board_features(b))
        board = b.copy()
        for t, m in enumerate(ms):
            specials += board.is_castling(m) or board.is_en_passant(m) or bool(m.promotion)
            board.push(m)
            assert _as_set(rows[i, t + 1]) == _as_set(ply_features(board)), (i, t, board.fen())
            checked += 1
    assert checked > 3000 and specials > 100


def _boards(root: chess.Board, moves: list[chess.Move]):  # type: ignore[no-untyped-def]
    b = root.copy()
    for m in moves:
        yield b, m
        b.push(m)


def test_ply_features_differ_from_board_features_only_in_pseudo_ep() -> None:
    # a black pawn on d4 may take e3 en passant only pseudo-legally: it is pinned to its king on a4
    board = chess.Board("8/8/8/8/k2p3R/8/4P3/4K3 w - - 0 1")
    board.push_uci("e2e4")
    assert not board.has_legal_en_passant() and board.has_pseudo_legal_en_passant()
    assert 774 + 4 in ply_features(board) and 774 + 4 not in board_features(board)
    assert len(ply_features(board)) == MAX_FEATURES


def test_rating_codes_and_columns() -> None:
    assert rating_code(None, 2000) == 0 and rating_code("fide", 0) == 0
    assert rating_code("lichess", 999) == 1 and rating_code("chesscom", 1000) == 1 + 11 + 1
    assert rating_code("fide", 3000) == 1 + 22 + 10
    cols = rating_columns(np.array([[5, 9]]), 4)  # anchor side code 5, other 9
    assert cols[0, :, 0].tolist() == [783 + 5, 783 + 9, 783 + 5, 783 + 9]
    assert cols[0, :, 1].tolist() == [783 + 34 + 9, 783 + 34 + 5, 783 + 34 + 9, 783 + 34 + 5]
    assert scale_of_source("/data/lichess_db_standard_rated_2023-01.pgn.zst") == "lichess"
    assert scale_of_source("games/otb.pgn.zst") == "fide" and scale_of_source("chesscom.pgn") == "chesscom"
    assert scale_of_source("mine.pgn") is None


@pytest.mark.parametrize("threats", [False, True])
def test_training_rows_equal_the_engines_rows(threats: bool) -> None:
    """What training feeds (training/data.py with_rows) is what the engine builds (encode_board),
    with and without the threat features."""
    from chessformer.engine.tokenizer import InputSpec, encode_board
    from chessformer.training.data import RowSpec, Sample, with_rows

    rng = random.Random(11)
    for k in range(12):
        root, moves = _random_game(rng, 50)
        board = root.copy()
        for m in moves:
            board.push(m)
        white, black = ("fide", 2450), ("fide", 1900 + 100 * k)
        spec = InputSpec(board_every_ply=True, rating_condition=True, threat_inputs=threats, white=white, black=black)
        engine_rows = encode_board(board, 256, spec).rows
        assert engine_rows is not None
        ids = np.array([move_id(b, m) for b, m in _boards(root, moves)])
        codes = (rating_code(*white), rating_code(*black))  # White moves first from the start position
        sample = Sample(ids, np.array(board_features(root)), 0, None, codes)
        (trained,) = with_rows([sample], 256, RowSpec(True, True, threat_inputs=threats))
        assert trained.rows is not None and len(trained.rows) == len(engine_rows)
        for t, row in enumerate(engine_rows):
            assert _as_set(trained.rows[t]) == _as_set(row), (k, t)


def test_tracked_threat_rows_equal_python_chess() -> None:
    """Every board of random games full of castling, en passant and promotions: the tracked rows'
    threat features are the engine's (python-chess attacks)."""
    from chessformer.engine.tokenizer import threat_features

    rng = random.Random(5)
    games = [_random_game(rng, 150) for _ in range(30)]
    T = max(len(m) for _, m in games)
    anchors = torch.tensor([board_features(b) for b, _ in games])
    ids = torch.full((len(games), T), 1969, dtype=torch.long)
    for i, (b, ms) in enumerate(games):
        ids[i, : len(ms)] = torch.tensor([move_id(x, m) for x, m in _boards(b, ms)])
    rows = track_rows(anchors, ids, threats=True).numpy()
    checked = threatened = 0
    for i, (b, ms) in enumerate(games):
        board = b.copy()
        for t in range(len(ms) + 1):
            want = _as_set(board_features(board, pseudo_ep=t > 0) + threat_features(board))
            assert _as_set(rows[i, t]) == want, (i, t, board.fen())
            threatened += any(f >= 851 + 768 for f in want)
            checked += 1
            if t < len(ms):
                board.push(ms[t])
    assert checked > 2000 and threatened > 500


def test_threat_rows_are_compacted_per_chunk_and_batch_together() -> None:
    """with_rows cuts each chunk's threat rows to the widest row in it, so chunks differ in width;
    a batch of samples from different chunks pads them to one width and keeps every feature."""
    from chessformer.training.data import RowSpec, Sample, collate, with_rows

    rng = random.Random(3)
    samples = []
    for plies in (4, 60):  # an opening (few threats) and a long random game (many)
        root, moves = _random_game(rng, plies)
        ids = np.array([move_id(b, m) for b, m in _boards(root, moves)])
        samples.append(Sample(ids, np.array(board_features(root)), 0, None, (0, 0)))
    rowed = with_rows(samples, 256, RowSpec(True, False, threat_inputs=True), chunk=1)
    widths = [s.rows.shape[1] for s in rowed if s.rows is not None]
    assert widths[0] < widths[1] < 38 + 192  # compacted, and differently
    batch = collate(rowed, 256)
    assert batch.features is not None and batch.features.shape[2] == max(widths)
    for i, s in enumerate(rowed):
        assert s.rows is not None
        for t in range(len(s.rows)):
            assert _as_set(batch.features[i, t].tolist()) == _as_set(s.rows[t])
