"""Colour mirroring of training samples: a free doubling of board-reading data.

Chess is symmetric under swapping the colours and flipping the board vertically
(python-chess's ``Board.mirror``): white to move on a board is the same problem as
black to move on its mirror, with every move's ranks flipped. A sample
``[POS(board)] + moves`` therefore has a mirrored twin ``[POS(board.mirror())] +
mirrored moves`` with the same targets up to that relabelling and the same result for
the side to move. Training on both lets a small model see each pattern from both
sides, which matters when the data, not the compute, is the limit.

The tables below map token ids and POS feature indices to their mirror images; they
follow the layouts documented in engine/tokenizer.py (tests/training/test_mirror.py checks them
against ``Board.mirror`` on random positions).
"""

from __future__ import annotations

import numpy as np

from chessformer.engine.tokenizer import MOVE_TO_ID, MOVES, N_FEATURES, PAD_FEATURE


def _flip_rank(square_name: str) -> str:
    """``e2`` -> ``e7``: the same file, rank 9 - r."""
    return square_name[0] + str(9 - int(square_name[1]))


def _move_table() -> np.ndarray:
    table = np.empty(len(MOVES), dtype=np.int64)
    for i, uci in enumerate(MOVES):
        table[i] = MOVE_TO_ID[_flip_rank(uci[0:2]) + _flip_rank(uci[2:4]) + uci[4:]]
    return table


def _feature_table() -> np.ndarray:
    table = np.arange(N_FEATURES, dtype=np.int64)
    for kind in range(12):  # piece-square features: kind (white 0-5, black 6-11) x 64 + square
        for square in range(64):
            table[kind * 64 + square] = ((kind + 6) % 12) * 64 + (square ^ 56)  # square ^ 56 flips the rank
    table[768], table[769] = 769, 768  # side to move: white <-> black
    table[770], table[772] = 772, 770  # castling K <-> k
    table[771], table[773] = 773, 771  # castling Q <-> q
    # en-passant files (774..781) keep their file; PAD_FEATURE stays padding
    assert table[PAD_FEATURE] == PAD_FEATURE
    return table


MIRROR_MOVE = _move_table()  # [N_MOVES] move id -> the id of the same move on the mirrored board
MIRROR_FEATURE = _feature_table()  # [N_FEATURES] POS feature -> its mirror image


def mirror_features(features: np.ndarray) -> np.ndarray:
    """The POS features of the mirrored board, sorted with padding last (as board_features)."""
    return np.sort(MIRROR_FEATURE[features])  # PAD_FEATURE is the largest index, so it stays last
