"""Colour mirroring (training/mirror.py) against python-chess's Board.mirror."""

from __future__ import annotations

import random

import chess
import numpy as np

from chessformer.engine.tokenizer import board_features, move_id
from chessformer.training.mirror import MIRROR_FEATURE, MIRROR_MOVE, mirror_features
from tests.pgn_factory import random_walk


def _random_boards(n: int, seed: int = 7) -> list[chess.Board]:
    rng = random.Random(seed)
    boards = []
    for _ in range(n):
        boards.append(random_walk(rng, rng.randrange(0, 80)))
    # castling rights on both wings and a legal en-passant capture
    boards.append(chess.Board("r3k2r/pppq1ppp/8/3pP3/8/8/PPPQ1PPP/R3K2R w KQkq d6 0 1"))
    return boards


def test_tables_are_involutions() -> None:
    assert np.array_equal(MIRROR_MOVE[MIRROR_MOVE], np.arange(len(MIRROR_MOVE)))
    assert np.array_equal(MIRROR_FEATURE[MIRROR_FEATURE], np.arange(len(MIRROR_FEATURE)))
    assert (np.arange(len(MIRROR_MOVE)) != MIRROR_MOVE).all()  # no move is its own mirror (ranks 1-8 swap)


def test_features_and_moves_match_board_mirror() -> None:
    checked = 0
    for b in _random_boards(60):
        m = b.mirror()
        feats = np.array(board_features(b), dtype=np.int64)
        assert tuple(mirror_features(feats)) == board_features(m)
        for mv in b.legal_moves:
            mirrored = chess.Move(chess.square_mirror(mv.from_square), chess.square_mirror(mv.to_square), mv.promotion)
            assert m.is_legal(mirrored)
            assert MIRROR_MOVE[move_id(b, mv)] == move_id(m, mirrored)
            checked += 1
    assert checked > 1000
