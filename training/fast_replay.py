"""The fast replay path of ``prepare``: SAN to move ids with the C library fastchess.

python-chess's replay (training/pgn.py) tops out near 1,000 games/s per core; fastchess
replays in C at about twice that with our checks included. fastchess's ``push_san`` is
lenient (it does not check castling through pieces, and reads a pawn push onto an
occupied square as a capture), so every move it returns is checked against its own legal
move list, which matches python-chess's exactly (tests/training/test_prepare.py compares both on
random games). Installed with the ``fast`` extra; without it prepare uses python-chess.
"""

from __future__ import annotations

import numpy as np

from chessformer.engine.pgn import IllegalMove
from chessformer.engine.tokenizer import MAX_FEATURES, MOVE_TO_ID, PAD_FEATURE

try:
    import fastchess

    AVAILABLE = True
except ImportError:  # the optional extra is not installed
    fastchess = None
    AVAILABLE = False

_PIECE_KIND = {c: i for i, c in enumerate("PNBRQKpnbrqk")}  # = piece_type - 1 (+6 for black), as board_features
_CASTLE = {"K": 770, "Q": 771, "k": 772, "q": 773}


def features_from_fen(fen: str, legal_ep: bool) -> tuple[int, ...]:
    """chessformer.engine.tokenizer.board_features computed from a FEN string (no python-chess board)."""
    placement, turn, castling, ep = fen.split()[:4]
    feats: list[int] = []
    for r, row in enumerate(placement.split("/")):
        rank, file = 7 - r, 0
        for ch in row:
            if ch.isdigit():
                file += int(ch)
            else:
                feats.append(_PIECE_KIND[ch] * 64 + rank * 8 + file)
                file += 1
    feats.append(768 if turn == "w" else 769)
    feats.extend(_CASTLE[c] for c in castling if c in _CASTLE)
    if ep != "-" and legal_ep:
        feats.append(774 + "abcdefgh".index(ep[0]))
    feats.sort()
    feats.extend([PAD_FEATURE] * (MAX_FEATURES - len(feats)))
    return tuple(feats)


def replay_sans_fast(
    sans: list[str], fen: str | None, anchor_every: int, with_legal: bool = False
) -> tuple[np.ndarray, tuple[int, ...] | None, list[tuple[int, tuple[int, ...]]], list[np.ndarray] | None]:
    """Move ids, FEN-anchor features, mid-game anchors and legal move ids, as training.prepare.replay_game."""
    assert fastchess is not None
    try:
        board = fastchess.Board(fen) if fen else fastchess.Board()
    except (ValueError, TypeError) as e:
        raise IllegalMove(f"bad FEN: {e}") from None
    fen_features = features_from_fen(board.fen(), board.has_legal_en_passant()) if fen else None
    ids = np.empty(len(sans), dtype=np.uint16)
    anchors: list[tuple[int, tuple[int, ...]]] = []
    legal_ids: list[np.ndarray] | None = [] if with_legal else None
    for ply, san in enumerate(sans):
        if ply and ply % anchor_every == 0:
            anchors.append((ply, features_from_fen(board.fen(), board.has_legal_en_passant())))
        legal = board.legal_moves_uci()
        if legal_ids is not None:
            legal_ids.append(np.array(sorted(MOVE_TO_ID[u] for u in legal), dtype=np.uint16))
        try:
            uci = board.push_san(san)
        except ValueError:
            raise IllegalMove(f"{san}: not a legal move") from None
        if uci not in legal:
            raise IllegalMove(f"{san}: {uci} is not legal here")
        ids[ply] = MOVE_TO_ID[uci]
    return ids, fen_features, anchors, legal_ids
