import chess
import pytest

from chessformer.engine.tokenizer import (
    MAX_FEATURES,
    MOVE_TO_ID,
    MOVES,
    N_MOVES,
    PAD_FEATURE,
    PAD_ID,
    POS_ID,
    VOCAB_SIZE,
    TokenSequence,
    anchor_ply,
    board_features,
    encode_board,
    move_id,
)


def test_vocabulary_golden() -> None:
    # Fixed forever for TOKENIZER_VERSION 1: changing any of these breaks every weights file.
    assert N_MOVES == 1968
    assert (POS_ID, PAD_ID, VOCAB_SIZE) == (1968, 1969, 1970)
    assert len(set(MOVES)) == N_MOVES
    assert MOVES[0] == "a1b1"
    assert MOVE_TO_ID["e2e4"] == 378
    assert MOVE_TO_ID["g1f3"] == 159
    assert MOVE_TO_ID["e1g1"] == 102
    assert MOVE_TO_ID["e7e8q"] == 1652
    assert MOVE_TO_ID["a2a1n"] == 198
    assert MOVES[-1] == "h8g8"


def test_every_legal_move_of_many_games_is_in_vocabulary() -> None:
    import random

    rng = random.Random(0)
    for _ in range(30):
        b = chess.Board()
        while not b.is_game_over() and b.ply() < 200:
            for m in b.legal_moves:
                move_id(b, m)
            b.push(rng.choice(list(b.legal_moves)))


def test_castling_is_king_move_also_in_chess960() -> None:
    b = chess.Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1")
    assert move_id(b, b.parse_uci("e1g1")) == MOVE_TO_ID["e1g1"]
    b960 = chess.Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1", chess960=True)
    assert move_id(b960, b960.parse_uci("e1h1")) == MOVE_TO_ID["e1g1"]
    assert move_id(b960, b960.parse_uci("e1a1")) == MOVE_TO_ID["e1c1"]


def test_board_features() -> None:
    f = board_features(chess.Board())
    assert len(f) == MAX_FEATURES
    assert f.count(PAD_FEATURE) == MAX_FEATURES - 32 - 1 - 4
    # en-passant file only when the capture is legal
    with_ep = chess.Board("4k3/8/8/3pP3/8/8/8/4K3 w - d6 0 1")
    no_ep = chess.Board("4k3/8/8/3p4/4P3/8/8/4K3 w - - 0 1")
    assert 774 + 3 in board_features(with_ep)
    assert not any(774 <= x < 782 for x in board_features(no_ep))
    assert 769 in board_features(chess.Board("4k3/8/8/8/8/8/8/4K3 b - - 0 1"))


def test_anchor_rule() -> None:
    assert anchor_ply(31, 32) == 0
    assert anchor_ply(32, 32) == 16
    assert anchor_ply(47, 32) == 16
    assert anchor_ply(48, 32) == 32
    for n in range(200):
        a = anchor_ply(n, 32)
        assert a % 16 == 0 and 1 + n - a <= 32
    # the board-reading window: past ply 0 the anchor is always the board one ply back
    assert [anchor_ply(n, 2) for n in range(5)] == [0, 0, 1, 2, 3]
    assert [anchor_ply(n, 3) for n in range(5)] == [0, 0, 0, 1, 2]
    # block_size 1 (a squares model): the anchor is the current board
    assert [anchor_ply(n, 1) for n in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        anchor_ply(5, 0)


def test_encode_board_startpos_fen_and_reanchor() -> None:
    b = chess.Board()
    for uci in ["e2e4", "e7e5", "g1f3"]:
        b.push_uci(uci)
    seq = encode_board(b, 32)
    assert seq.anchor == board_features(chess.Board())
    assert seq.moves == (378, MOVE_TO_ID["e7e5"], 159)
    assert seq.tokens()[0] == POS_ID and len(seq) == 4

    fen = "4k3/8/8/8/8/8/4P3/4K3 w - - 0 1"
    fb = chess.Board(fen)
    fb.push_uci("e2e4")
    assert encode_board(fb, 32) == TokenSequence(board_features(chess.Board(fen)), (378,))

    # a long game: the anchor is the board 16 plies after the root
    long = chess.Board()
    moves = ["g1f3", "g8f6", "f3g1", "f6g8"] * 9 + ["e2e4", "e7e5", "d2d4", "d7d5"]  # 40 plies
    for m in moves:
        long.push_uci(m)
    seq = encode_board(long, 32)
    replay = chess.Board()
    for m in moves[:16]:
        replay.push_uci(m)
    assert seq.anchor == board_features(replay)
    assert len(seq) == 1 + 24  # 41 tokens overflow 32 by 9: the anchor moves by one half window
    assert TokenSequence(seq.anchor, seq.moves[:3]).is_prefix_of(seq)
