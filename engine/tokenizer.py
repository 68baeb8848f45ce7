"""The move tokenizer and the sequence format: the one contract between training and inference.

Vocabulary
----------
Ids ``0 .. 1967`` are every UCI move string that can occur in standard chess: a
from-square and a to-square joined by a queen line or a knight jump (1792 moves),
plus the pawn promotions to ``q r b n`` from the 7th to the 8th rank and from the
2nd to the 1st (176 moves), as in searchless_chess's action space. Castling is the
king's UCI move (``e1g1``), also in Chess960, where the king's destination is the
g- or c-file square of its rank. Two special ids follow:

- ``POS_ID = 1968``: the anchor token. Its embedding is not looked up in the token
  table but computed from a board (see below).
- ``PAD_ID = 1969``: padding in training batches; never predicted.

Ids are fixed forever for a given ``TOKENIZER_VERSION`` (golden test in
``tests/test_tokenizer.py``).

Sequence
--------
A sequence is ``[POS(anchor board)] m1 m2 ... mk``. POS is one token whose
embedding is the sum of learned embeddings of the board's *features*:

- one per piece on a square (NNUE-style piece-square index, 12 x 64 = 768),
- the side to move (2),
- each castling right held (white/black, king/queen side: 4),
- the en-passant file, only when an en-passant capture is legal (8).

A game from the start position begins with POS(start position): the paper's plain
transcript. A game set up from a FEN begins with POS(that FEN). A game longer than
the context window is re-anchored: POS(the board ``a`` plies after the root) followed
by the moves from there, where ``a`` is a multiple of ``block_size // 2`` chosen so
that the sequence fits. Because ``a`` moves in steps of half a window, the KV cache of
a long game is recomputed once every ``block_size // 2`` plies, not every ply.
A window of ``block_size = 2`` makes the model read a board: past the first ply every
sequence is ``[POS(board one ply back)] + last move``. The smallest, ``block_size = 1``,
is ``[POS(current board)]`` alone: a pure board reader (engine/model.py's squares encoding).

The model's output at token ``t`` predicts the move played after token ``t`` (policy)
and the game result for the side to move at that point (value, win/draw/loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import chess

TOKENIZER_VERSION = 1

PROMOTION_PIECES = "qrbn"


def _build_move_vocabulary() -> list[str]:
    """All 1968 UCI move strings, ordered by from-square, then to-square, then promotion."""
    moves: list[str] = []
    for from_sq in chess.SQUARES:
        ff, fr = chess.square_file(from_sq), chess.square_rank(from_sq)
        for to_sq in chess.SQUARES:
            if to_sq == from_sq:
                continue
            tf, tr = chess.square_file(to_sq), chess.square_rank(to_sq)
            df, dr = abs(tf - ff), abs(tr - fr)
            queen_line = df == 0 or dr == 0 or df == dr
            knight_jump = {df, dr} == {1, 2}
            uci = chess.square_name(from_sq) + chess.square_name(to_sq)
            if queen_line or knight_jump:
                moves.append(uci)
            # Pawn promotion geometry: one rank forward onto the last rank, at most one file aside.
            white_promo = fr == 6 and tr == 7 and df <= 1
            black_promo = fr == 1 and tr == 0 and df <= 1
            if white_promo or black_promo:
                moves.extend(uci + p for p in PROMOTION_PIECES)
    return moves


MOVES: tuple[str, ...] = tuple(_build_move_vocabulary())
MOVE_TO_ID: dict[str, int] = {m: i for i, m in enumerate(MOVES)}
N_MOVES = len(MOVES)  # 1968: size of the policy head
POS_ID = N_MOVES  # anchor token, embedding computed from a board
PAD_ID = N_MOVES + 1  # padding in training batches
VOCAB_SIZE = N_MOVES + 2  # size of the input token table

# Board features of the POS token (indices into the feature embedding table).
_PIECE_SQUARE_BASE = 0  # 768 = 12 piece kinds x 64 squares
_SIDE_TO_MOVE_BASE = 768  # +0 white, +1 black
_CASTLING_BASE = 770  # +0 K, +1 Q, +2 k, +3 q
_EP_FILE_BASE = 774  # +file (a=0 .. h=7)
N_PIECE_SQUARE_FEATURES = _SIDE_TO_MOVE_BASE  # features below this are piece-square: kind * 64 + square
PAD_FEATURE = 782  # padding: its embedding is fixed at zero
N_FEATURES = 783  # size of the feature embedding table
MAX_FEATURES = 32 + 1 + 4 + 1  # pieces + side to move + castling rights + en-passant file

assert N_MOVES == 1968, N_MOVES


class TokenizerError(ValueError):
    """A move or board that the tokenizer cannot represent."""


def move_id(board: chess.Board, move: chess.Move) -> int:
    """The token id of a legal ``move`` in ``board`` (castling as the king's move)."""
    if board.is_castling(move):
        rank = chess.square_rank(move.from_square)
        to_file = 6 if board.is_kingside_castling(move) else 2
        uci = chess.square_name(move.from_square) + chess.square_name(chess.square(to_file, rank))
    else:
        uci = move.uci()
    try:
        return MOVE_TO_ID[uci]
    except KeyError:
        raise TokenizerError(f"move {uci} is not in the vocabulary") from None


def board_features(board: chess.Board) -> tuple[int, ...]:
    """The POS token's feature indices for ``board``, padded with PAD_FEATURE to MAX_FEATURES."""
    feats: list[int] = []
    for square, piece in board.piece_map().items():
        kind = piece.piece_type - 1 + (0 if piece.color == chess.WHITE else 6)
        feats.append(_PIECE_SQUARE_BASE + kind * 64 + square)
    if len(feats) > 32:
        raise TokenizerError(f"board has {len(feats)} pieces; at most 32 are representable")
    feats.append(_SIDE_TO_MOVE_BASE + (0 if board.turn == chess.WHITE else 1))
    for i, (color, kingside) in enumerate(
        ((chess.WHITE, True), (chess.WHITE, False), (chess.BLACK, True), (chess.BLACK, False))
    ):
        has = board.has_kingside_castling_rights(color) if kingside else board.has_queenside_castling_rights(color)
        if has:
            feats.append(_CASTLING_BASE + i)
    if board.ep_square is not None and board.has_legal_en_passant():
        feats.append(_EP_FILE_BASE + chess.square_file(board.ep_square))
    feats.sort()
    feats.extend([PAD_FEATURE] * (MAX_FEATURES - len(feats)))
    return tuple(feats)


@dataclass(frozen=True)
class TokenSequence:
    """``[POS(anchor)] + moves``: what the model reads.

    anchor: the POS token's board features (MAX_FEATURES indices, PAD_FEATURE-padded).
    moves: move token ids played from the anchor board, oldest first.
    """

    anchor: tuple[int, ...]
    moves: tuple[int, ...]

    def __len__(self) -> int:
        return 1 + len(self.moves)

    def tokens(self) -> list[int]:
        """The token ids, POS first."""
        return [POS_ID, *self.moves]

    def is_prefix_of(self, other: TokenSequence) -> bool:
        """True if ``other`` extends this sequence (same anchor, these moves first)."""
        n = len(self.moves)
        return self.anchor == other.anchor and len(other.moves) >= n and other.moves[:n] == self.moves


def anchor_stride(block_size: int) -> int:
    """Plies between re-anchorings of a long game: half a window (every ply for block_size 1)."""
    return max(1, block_size // 2)


def anchor_ply(n_moves: int, block_size: int) -> int:
    """How many plies after the root the anchor sits, for a game of ``n_moves`` plies.

    0 while ``1 + n_moves <= block_size``; afterwards the smallest multiple of
    ``block_size // 2`` that makes the sequence fit.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    overflow = n_moves + 1 - block_size
    if overflow <= 0:
        return 0
    stride = anchor_stride(block_size)
    return -(-overflow // stride) * stride  # ceil to a multiple of stride


def encode_moves(board: chess.Board, moves: list[chess.Move]) -> list[int]:
    """Token ids of ``moves`` played from ``board`` (which is left unchanged)."""
    b = board.copy(stack=False)
    ids = []
    for mv in moves:
        ids.append(move_id(b, mv))
        b.push(mv)
    return ids


def encode_board(board: chess.Board, block_size: int) -> TokenSequence:
    """The sequence for the position ``board`` reached through its move stack.

    The root (the board before its first stacked move; the start position or a FEN)
    is the anchor unless the game no longer fits ``block_size``; see the module doc.
    """
    stack = board.move_stack
    root = board.root()
    a = anchor_ply(len(stack), block_size)
    ids: list[int] = []
    anchor = root
    for i, mv in enumerate(stack):
        if i == a:
            anchor = root.copy(stack=False)
        if i >= a:
            ids.append(move_id(root, mv))
        root.push(mv)
    if a == len(stack):
        anchor = root.copy(stack=False)
    return TokenSequence(board_features(anchor), tuple(ids))
