"""engine/tokenizer.py threat_features on positions whose threats are known by hand."""

from __future__ import annotations

import chess

from chessformer.engine.tokenizer import (
    EN_PRISE_BASE,
    MAX_THREAT_FEATURES,
    N_FEATURES_THREATS,
    PAD_FEATURE,
    THREAT_BASE,
    threat_features,
)

EN_PRISE = EN_PRISE_BASE


def _en_prise(board: chess.Board) -> set[str]:
    """The pieces en prise, as 'Nf3' / 'nc6' (upper case white)."""
    out = set()
    for f in threat_features(board):
        if EN_PRISE <= f < N_FEATURES_THREATS:
            kind, sq = divmod(f - EN_PRISE, 64)
            out.add("PNBRQKpnbrqk"[kind] + chess.square_name(sq))
    return out


def _least(board: chess.Board, colour: chess.Color, square: str) -> int:
    """The least attacker type of ``colour`` on ``square`` the features name (0 none)."""
    sq, c = chess.parse_square(square), 0 if colour == chess.WHITE else 1
    for f in threat_features(board):
        if THREAT_BASE <= f < EN_PRISE and (f - THREAT_BASE) // 384 == c and (f - THREAT_BASE) % 64 == sq:
            return (f - THREAT_BASE) % 384 // 64 + 1
    return 0


def test_start_position_has_no_piece_en_prise_and_pawns_control_the_third_rank() -> None:
    board = chess.Board()
    feats = threat_features(board)
    assert len(feats) == MAX_THREAT_FEATURES and PAD_FEATURE in feats
    assert _en_prise(board) == set()
    assert _least(board, chess.WHITE, "e3") == chess.PAWN and _least(board, chess.WHITE, "e4") == 0
    assert _least(board, chess.WHITE, "f3") == chess.PAWN  # pawns e2/g2 before the knight on g1
    assert _least(board, chess.WHITE, "h3") == chess.PAWN and _least(board, chess.BLACK, "c6") == chess.PAWN


def test_hanging_and_cheaply_attacked_pieces_are_en_prise() -> None:
    # White knight e5 attacked by the d6 pawn (cheaper, though defended by d4); black bishop b4 attacked
    # by the a3 pawn; black rook h5 undefended and attacked by the queen on d1 (through the empty e2-h5 diagonal)
    board = chess.Board("4k3/8/3p4/4N2r/1b1P4/P7/1P4K1/3Q4 b - - 0 1")  # a3 is defended by b2
    assert _en_prise(board) == {"Ne5", "bb4", "rh5"}
    # a defended knight attacked only by a rook is not en prise; the same knight undefended is
    assert _en_prise(chess.Board("4k3/8/4p3/3n4/8/8/8/3RK3 w - - 0 1")) == set()
    assert _en_prise(chess.Board("4k3/8/8/3n4/8/8/8/3RK3 w - - 0 1")) == {"nd5"}


def test_a_king_in_check_is_en_prise_and_pinned_pieces_still_attack() -> None:
    board = chess.Board("4k3/8/8/8/8/8/4r3/R3K3 w - - 0 1")  # the rook on e2 checks; it is defended by nothing
    assert "Ke1" in _en_prise(board) and "re2" in _en_prise(board)  # the king attacks e2 (pseudo-legal)
    # the e4 knight is pinned to the e1 king by the e8 rook: python-chess still counts its attacks
    board = chess.Board("4r1k1/8/8/8/4N3/8/8/4K3 w - - 0 1")
    assert _least(board, chess.WHITE, "f6") == chess.KNIGHT


def test_the_bundled_threat_model_loads_and_plays() -> None:
    """The bundled model (training/RECIPE.md, stage 4) reads threats and plays legal moves through the
    batch-1 C step."""
    from pathlib import Path

    import numpy as np

    from chessformer.engine.loader import load_model

    weights = Path(__file__).resolve().parents[2] / "engine" / "models" / "default.safetensors"
    loaded = load_model(str(weights), "cpu-int8", threads=1, hash_mb=16)
    assert loaded.player.backend.inputs.threat_inputs
    board = chess.Board()
    for _ in range(40):
        if board.is_game_over():
            break
        board.push(loaded.player.choose(board, 0.0, np.random.default_rng(0)))
    assert board.ply() >= 20
