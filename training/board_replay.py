"""Per-token feature rows for training batches, computed from the tokens alone.

A model with ``board_every_ply`` reads, on each move token, the board after the move
(engine/tokenizer.py, ``ply_features``). Replaying every sample with python-chess costs
~20 us a ply, as much as the training step itself; here the boards of a whole pool of
samples are tracked at once in torch, one ply at a time over all rows: the piece on each
square, side to move, castling rights and the pseudo-legal en-passant file, from the
anchor board and the move ids. Standard chess only (castling is a king's two-file move),
which is what prepare keeps. tests/training/test_board_replay.py checks every row against
python-chess on random games full of castling, en passant and promotions.

Threat features (``threat_inputs``: square control and pieces en prise, engine/tokenizer.py
``threat_features``) come from the same tracked pieces (training/threats.py).

Rating features (``rating_condition``) are appended from each sample's two rating codes:
``code`` 0 is unknown, else ``1 + scale * N_RATING_BUCKETS + bucket`` (engine/tokenizer.py).
"""

from __future__ import annotations

import numpy as np
import torch

from chessformer.engine.model import move_squares, square_pieces
from chessformer.engine.tokenizer import N_FEATURES, N_MOVES, PAD_FEATURE, RATING_ROLE_SIZE
from chessformer.training.threats import THREAT_WIDTH, threat_columns

ROW_WIDTH = 64 + 1 + 4 + 1  # a tracked row: one slot per square, side to move, 4 castling rights, en passant
_FROM, _TO, _PROMO = (torch.cat([t, torch.zeros(2, dtype=t.dtype)]) for t in move_squares())  # + POS, PAD ids
_PROMO_PIECE = torch.tensor([0, 5, 4, 3, 2])  # promotion 0 none, q r b n -> square code (white; +6 black)
_DUMP = 64  # a spare square column that absorbs the writes of rows a step leaves alone
_SQUARES = torch.arange(64)
# castling right i holds while its king and rook stand at home (python-chess's clean_castling_rights)
_CASTLE_KING = torch.tensor([4, 4, 60, 60])  # e1 e1 e8 e8
_CASTLE_ROOK = torch.tensor([7, 0, 63, 56])  # h1 a1 h8 a8
_CASTLE_CODES = torch.tensor([[6, 4], [6, 4], [12, 10], [12, 10]])  # (king, rook) square codes per right


def scale_of_source(source: str) -> str | None:
    """The rating scale of a shard from its source file's name (README, "Rating conditioning")."""
    name = source.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if "lichess" in name:
        return "lichess"
    if "chesscom" in name or "chess.com" in name or "chess_com" in name:
        return "chesscom"
    if "otb" in name or "fide" in name or "twic" in name:
        return "fide"
    return None


def compact_rows(rows: torch.Tensor) -> torch.Tensor:
    """Feature rows [..., W] with their padding moved to the end and the columns no row uses cut off:
    the sums are the same, the embedding bag reads fewer ids."""
    last = torch.iinfo(rows.dtype).max  # padding sorts last as this
    key = torch.where(rows == PAD_FEATURE, last, rows).sort(dim=-1).values
    width = max(1, int((key != last).sum(-1).max())) if key.numel() else 1
    return torch.where(key[..., :width] == last, PAD_FEATURE, key[..., :width])


def _rows_of_state(pieces: torch.Tensor, black: torch.Tensor, rights: torch.Tensor, ep: torch.Tensor) -> torch.Tensor:
    """Feature rows [N, ROW_WIDTH] of tracked boards (pieces [N, 65] with the dump column)."""
    p = pieces[:, :64]
    piece_sq = torch.where(p > 0, (p - 1) * 64 + _SQUARES, torch.full_like(p, PAD_FEATURE))  # [N, 64]
    stm = (768 + black.long()).unsqueeze(1)  # [N, 1]
    castle = torch.where(rights, 770 + torch.arange(4), torch.full_like(rights, PAD_FEATURE, dtype=torch.long))
    ep_f = torch.where(ep >= 0, 774 + ep, torch.full_like(ep, PAD_FEATURE)).unsqueeze(1)  # [N, 1]
    return torch.cat([piece_sq, stm, castle, ep_f], dim=1)


def _play(pieces: torch.Tensor, black: torch.Tensor, moves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Play move ids ``moves`` [N] (rows whose id is not a move are left alone) in place on
    ``pieces`` [N, 65]; returns (moved rows [N] bool, en-passant file [N], -1 for none)."""
    n = pieces.shape[0]
    live = moves < N_MOVES
    frm, to, promo = _FROM[moves], _TO[moves], _PROMO[moves]
    piece = pieces.gather(1, frm[:, None])[:, 0]
    captured = pieces.gather(1, to[:, None])[:, 0]
    kind = (piece - 1) % 6  # 0 pawn .. 5 king
    colour = torch.where(black, 6, 0)
    pawn, king = live & (piece > 0) & (kind == 0), live & (piece > 0) & (kind == 5)
    ff, tf, fr, tr = frm % 8, to % 8, frm // 8, to // 8
    new_piece = torch.where(promo > 0, _PROMO_PIECE[promo] + colour, piece)
    castle = king & ((tf - ff).abs() == 2)
    ep_capture = pawn & (ff != tf) & (captured == 0)
    dump = torch.full_like(frm, _DUMP)
    rook_from = torch.where(castle, fr * 8 + torch.where(tf == 6, 7, 0), dump)
    rook_to = torch.where(castle, fr * 8 + torch.where(tf == 6, 5, 3), dump)
    rows = torch.arange(n)
    pieces[rows, torch.where(live, frm, dump)] = 0
    pieces[rows, torch.where(ep_capture, fr * 8 + tf, dump)] = 0
    pieces[rows, torch.where(live, to, dump)] = torch.where(live, new_piece, pieces[:, _DUMP])
    pieces[rows, rook_from] = 0
    pieces[rows, rook_to] = torch.where(castle, 4 + colour, pieces[:, _DUMP])
    pieces[:, _DUMP] = 0
    # en passant: a double push next to a pawn of the side now to move (pseudo-legal, as ply_features)
    double = pawn & ((tr - fr).abs() == 2)
    enemy_pawn = torch.where(black, 1, 7)
    left = pieces.gather(1, (to - 1).clamp(0, 63)[:, None])[:, 0]
    right = pieces.gather(1, (to + 1).clamp(0, 63)[:, None])[:, 0]
    beside = ((tf > 0) & (left == enemy_pawn)) | ((tf < 7) & (right == enemy_pawn))
    return live, torch.where(double & beside, tf, torch.full_like(tf, -1))


def track_rows(anchors: torch.Tensor, moves: torch.Tensor, threats: bool = False) -> torch.Tensor:
    """Rows [N, T + 1, ROW_WIDTH (+ THREAT_WIDTH)]: row 0 the anchor's board, row t the board after move t.

    anchors [N, MAX_FEATURES] int64 board features; moves [N, T] int64 move ids, any id
    >= N_MOVES (padding) ending that row's game (its rows after that repeat the last board).
    threats: each row also holds its board's threat features (threat_columns).
    """
    n, t_len = moves.shape
    pieces = torch.zeros(n, 65, dtype=torch.long)
    pieces[:, :64] = square_pieces(anchors)
    black = (anchors == 769).any(dim=1)
    rights = torch.stack([(anchors == 770 + i).any(dim=1) for i in range(4)], dim=1)  # [N, 4]
    ep = torch.full((n,), -1, dtype=torch.long)
    for f in range(774, 782):
        ep = torch.where((anchors == f).any(dim=1), f - 774, ep)
    out = torch.empty(n, t_len + 1, ROW_WIDTH, dtype=torch.long)
    out[:, 0] = _rows_of_state(pieces, black, rights, ep)
    for t in range(t_len):
        live, new_ep = _play(pieces, black, moves[:, t])
        black = black ^ live
        ep = torch.where(live, new_ep, ep)
        home = (pieces[:, _CASTLE_KING] == _CASTLE_CODES[:, 0]) & (pieces[:, _CASTLE_ROOK] == _CASTLE_CODES[:, 1])
        rights = rights & home
        out[:, t + 1] = _rows_of_state(pieces, black, rights, ep)
    if not threats:
        return out
    piece_sq = out[:, :, :64].reshape(-1, 64)  # [N, T + 1, 64] -> [N * (T + 1), 64]: kind * 64 + square, or padding
    boards = torch.where(piece_sq == PAD_FEATURE, 0, piece_sq // 64 + 1)  # the pieces at each ply (0 empty)
    threat = threat_columns(boards).view(n, t_len + 1, THREAT_WIDTH)  # [N * (T + 1), W] -> [N, T + 1, W]
    return torch.cat([out, threat], dim=2)


def rating_columns(codes: np.ndarray, n_tokens: int) -> np.ndarray:
    """Rating features [N, n_tokens, 2] (mover, opponent) from codes [N, 2] (the anchor's side
    to move, the other side): the mover alternates token by token."""
    t = np.arange(n_tokens) % 2  # 0: the anchor's side moves next
    mover = np.where(t[None, :] == 0, codes[:, :1], codes[:, 1:2])  # [N, T]
    other = np.where(t[None, :] == 0, codes[:, 1:2], codes[:, :1])
    return np.stack([N_FEATURES + mover, N_FEATURES + RATING_ROLE_SIZE + other], axis=-1)
