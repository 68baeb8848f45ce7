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
``tests/engine/test_tokenizer.py``).

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

Per-token inputs
----------------
A model may read more than the anchor (engine/model.py, ModelConfig ``board_every_ply``
and ``rating_condition``). Then every token has a *feature row*, summed into its input
embedding with the same feature table as POS (NNUE-style, no cost in sequence length):

- ``board_every_ply``: a move token's row holds the features of the board *after* that
  move (``ply_features``: as ``board_features``, but the en-passant file is written when a
  capture is pseudo-legal, so that training can track it without move generation);
- ``threat_inputs`` (with ``board_every_ply``): after the board, the threats on that board
  (``threat_features``): for each colour, every square it attacks with the least valuable
  attacker's type (square control), and every piece *en prise* (attacked, and either
  undefended or attacked by a cheaper piece; a king in check). A 4-layer model loses material
  to one-move tactics because finding "this piece hangs" from piece-square sums takes an MLP a
  conjunction over many squares; here it is one input;
- ``rating_condition``: every row ends with two rating features, the player who moves next
  (after this token) and the opponent, each a bucket on its platform's own scale
  (``rating_feature``), or "unknown".

The POS token's row is its anchor board (plus the ratings). ``TokenSequence.row(t)`` gives
row ``t`` for any model: for the plain transcript model the move rows are padding only.

The model's output at token ``t`` predicts the move played after token ``t`` (policy)
and the game result for the side to move at that point (value, win/draw/loss).
"""

from __future__ import annotations

from collections import OrderedDict
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
N_FEATURES = 783  # size of the feature embedding table (without rating features)
MAX_FEATURES = 32 + 1 + 4 + 1  # pieces + side to move + castling rights + en-passant file

# Rating features (ModelConfig.rating_condition), after the board features. The corpus mixes
# three rating scales that are not one scale (lichess Glicko-2, chess.com Glicko, FIDE Elo):
# a rating is bucketed on its own platform's scale, so "lichess 1800" and "FIDE 1800" are
# different inputs, and the model learns what each means from the games.
RATING_SCALES = ("lichess", "chesscom", "fide")
RATING_EDGES = (1000, 1200, 1400, 1600, 1800, 2000, 2200, 2400, 2600, 2800)  # bucket lower bounds (Elo)
N_RATING_BUCKETS = len(RATING_EDGES) + 1  # below 1000, then one per edge
RATING_ROLE_SIZE = 1 + len(RATING_SCALES) * N_RATING_BUCKETS  # "unknown", then scale x bucket
MOVER, OPPONENT = 0, 1  # rating roles: the player to move after the token, and the other one
N_FEATURES_RATED = N_FEATURES + 2 * RATING_ROLE_SIZE  # feature table of a rating-conditioned model
N_RATING_FEATURES = 2  # rating columns at the end of a row (mover, opponent)

# Threat features (ModelConfig.threat_inputs), after the rating features (their ids do not depend on
# whether a model is rating-conditioned; an unconditioned threat model leaves the rating rows unread).
# An attack is python-chess's: pseudo-legal, pins ignored, no x-rays (engine/attacks.py computes the same).
THREAT_BASE = N_FEATURES_RATED
CONTROL_PER_COLOUR = 6 * 64  # control ids of one colour: least attacker's type x square
CONTROL_BASE = (
    THREAT_BASE  # + colour (0 white, 1 black) * CONTROL_PER_COLOUR + (least attacker's type - 1) * 64 + square
)
EN_PRISE_BASE = CONTROL_BASE + 2 * CONTROL_PER_COLOUR  # + piece kind * 64 + square
N_FEATURES_THREATS = EN_PRISE_BASE + 12 * 64  # feature table of a threat model
MAX_THREAT_FEATURES = 2 * 64 + 32  # controlled squares of both colours + pieces en prise
PIECE_VALUES = (0, 1, 3, 3, 5, 9, 100)  # by piece type (none, P N B R Q K), for "attacked by a cheaper piece"

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


def rating_bucket(elo: int) -> int:
    """The bucket (0 .. N_RATING_BUCKETS-1) of a rating: 0 below 1000, then 200-point steps up to 2800+."""
    return sum(1 for edge in RATING_EDGES if elo >= edge)


def rating_feature(role: int, scale: str | None, elo: int | None) -> int:
    """The feature index of a rating for ``role`` (MOVER or OPPONENT); "unknown" when the
    scale or the rating is missing (None, or 0 as shards store an unrated player)."""
    if role not in (MOVER, OPPONENT):
        raise ValueError(f"rating role must be MOVER (0) or OPPONENT (1), got {role!r}")
    return N_FEATURES + role * RATING_ROLE_SIZE + rating_code(scale, elo)


def rating_code(scale: str | None, elo: int | None) -> int:
    """A rating's place within its role: 0 unknown (no scale, or rating None/0), else
    1 + scale index * N_RATING_BUCKETS + bucket. Training stores these per sample."""
    if scale is None or not elo or elo <= 0:
        return 0
    if scale not in RATING_SCALES:
        raise ValueError(f"unknown rating scale {scale!r}; known: {', '.join(RATING_SCALES)}")
    return 1 + RATING_SCALES.index(scale) * N_RATING_BUCKETS + rating_bucket(elo)


def board_features(board: chess.Board, pseudo_ep: bool = False) -> tuple[int, ...]:
    """The POS token's feature indices for ``board``, padded with PAD_FEATURE to MAX_FEATURES.

    pseudo_ep: write the en-passant file when a capture is pseudo-legal (``ply_features``)."""
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
    ep = board.has_pseudo_legal_en_passant() if pseudo_ep else board.has_legal_en_passant()
    if board.ep_square is not None and ep:
        feats.append(_EP_FILE_BASE + chess.square_file(board.ep_square))
    feats.sort()
    feats.extend([PAD_FEATURE] * (MAX_FEATURES - len(feats)))
    return tuple(feats)


def threat_features(board: chess.Board) -> tuple[int, ...]:
    """The threat features of ``board`` (module doc), sorted, padded with PAD_FEATURE to MAX_THREAT_FEATURES.

    Bitboards throughout (no loop over squares): the engine computes this on every move."""
    feats: list[int] = []
    covered = [0, 0]  # per colour: every square it attacks
    first = [[0] * 7, [0] * 7]  # per colour and piece type: squares whose cheapest attacker is that type
    for c, colour in enumerate((chess.WHITE, chess.BLACK)):
        for ptype in chess.PIECE_TYPES:  # cheapest first: a square's first cover names its least attacker
            attacked = 0
            for sq in chess.scan_forward(board.pieces_mask(ptype, colour)):
                attacked |= board.attacks_mask(sq)
            first[c][ptype] = attacked & ~covered[c]
            base = CONTROL_BASE + c * CONTROL_PER_COLOUR + (ptype - 1) * 64
            feats.extend(base + sq for sq in chess.scan_forward(first[c][ptype]))
            covered[c] |= attacked
    for own, colour in enumerate((chess.WHITE, chess.BLACK)):
        enemy = 1 - own
        cheaper = 0  # squares the enemy attacks with a piece cheaper than the type at hand
        for ptype in chess.PIECE_TYPES:
            cheaper |= _cheaper_than(first[enemy], ptype)
            hit = board.pieces_mask(ptype, colour) & covered[enemy] & (~covered[own] | cheaper)
            base = EN_PRISE_BASE + (ptype - 1 + 6 * own) * 64
            feats.extend(base + sq for sq in chess.scan_forward(hit))
    feats.sort()
    feats.extend([PAD_FEATURE] * (MAX_THREAT_FEATURES - len(feats)))
    return tuple(feats)


def _cheaper_than(first: list[int], ptype: int) -> int:
    """Squares whose cheapest attacker (``first``, per type) is worth less than a piece of ``ptype``."""
    out = 0
    for t in chess.PIECE_TYPES:
        if PIECE_VALUES[t] < PIECE_VALUES[ptype]:
            out |= first[t]
    return out


def board_from_features(features: tuple[int, ...] | list[int]) -> chess.Board:
    """The board ``board_features`` describes (halfmove clock 0, fullmove number 1: not encoded)."""
    board = chess.Board.empty()
    castling = ""
    ep_file = None
    for f in features:
        if f < N_PIECE_SQUARE_FEATURES:
            kind, square = divmod(f, 64)
            board.set_piece_at(square, chess.Piece(kind % 6 + 1, chess.WHITE if kind < 6 else chess.BLACK))
        elif f in (_SIDE_TO_MOVE_BASE, _SIDE_TO_MOVE_BASE + 1):
            board.turn = f == _SIDE_TO_MOVE_BASE
        elif _CASTLING_BASE <= f < _CASTLING_BASE + 4:
            castling += "KQkq"[f - _CASTLING_BASE]
        elif _EP_FILE_BASE <= f < _EP_FILE_BASE + 8:
            ep_file = f - _EP_FILE_BASE
    board.set_castling_fen(castling or "-")
    if ep_file is not None:
        board.ep_square = chess.square(ep_file, 5 if board.turn == chess.WHITE else 2)
    return board


def ply_features(board: chess.Board) -> tuple[int, ...]:
    """A move token's board features (``board_every_ply``): the board after the move."""
    return board_features(board, pseudo_ep=True)


@dataclass(frozen=True)
class InputSpec:
    """What a model reads besides the move tokens (from its ModelConfig), and the ratings to give it."""

    board_every_ply: bool = False  # each move row holds the board after the move
    rating_condition: bool = False  # each row ends with the mover's and the opponent's rating features
    threat_inputs: bool = False  # each row's board is followed by its threat features (needs board_every_ply)
    white: tuple[str | None, int | None] = (None, None)  # White's (rating scale, rating); None: unknown
    black: tuple[str | None, int | None] = (None, None)  # Black's (rating scale, rating)

    @property
    def plain(self) -> bool:
        """The anchor alone: rows are not needed."""
        return not (self.board_every_ply or self.rating_condition)

    def ratings(self, white_to_move: bool) -> tuple[int, int]:
        """(mover, opponent) rating features for a token after which ``white_to_move``."""
        mover, opp = (self.white, self.black) if white_to_move else (self.black, self.white)
        return rating_feature(MOVER, *mover), rating_feature(OPPONENT, *opp)


@dataclass(frozen=True)
class TokenSequence:
    """``[POS(anchor)] + moves``: what the model reads.

    anchor: the POS token's board features (MAX_FEATURES indices, PAD_FEATURE-padded).
    moves: move token ids played from the anchor board, oldest first.
    rows: per-token feature rows (1 + len(moves) rows of one width), or None for a model
        that reads the anchor alone (module doc, "Per-token inputs").
    """

    anchor: tuple[int, ...]
    moves: tuple[int, ...]
    rows: tuple[tuple[int, ...], ...] | None = None

    def __hash__(self) -> int:
        # the anchor and the moves only: equal sequences still hash equal, and hashing every row
        # (a threat model's are ~200 ids a token) cost 0.2 ms per lookup of a 40-ply game
        return hash((self.anchor, self.moves))

    def row(self, t: int) -> tuple[int, ...]:
        """The feature row of token ``t`` (0 = POS): the anchor, then padding, unless rows are given."""
        if self.rows is not None:
            return self.rows[t]
        return self.anchor if t == 0 else (PAD_FEATURE,) * len(self.anchor)

    def all_rows(self) -> list[tuple[int, ...]]:
        """Every token's feature row, POS first."""
        return [self.row(t) for t in range(len(self))]

    def prefix(self, n_moves: int) -> TokenSequence:
        """The sequence of the first ``n_moves`` moves."""
        rows = None if self.rows is None else self.rows[: n_moves + 1]
        return TokenSequence(self.anchor, self.moves[:n_moves], rows)

    def __len__(self) -> int:
        return 1 + len(self.moves)

    def tokens(self) -> list[int]:
        """The token ids, POS first."""
        return [POS_ID, *self.moves]

    def is_prefix_of(self, other: TokenSequence) -> bool:
        """True if ``other`` extends this sequence (same anchor, these moves first)."""
        n = len(self.moves)
        if self.anchor != other.anchor or len(other.moves) < n or other.moves[:n] != self.moves:
            return False
        return self.rows is None if other.rows is None else self.rows == other.rows[: n + 1]


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


# (anchor features, move ids) -> (ply features after each move, the board after the last move): a game
# asks for its sequence once a ply, and recomputing every ply's board was 2 ms at ply 100
_PLY_MEMO: OrderedDict[tuple[bool, tuple[int, ...], tuple[int, ...]], tuple[list[tuple[int, ...]], chess.Board]] = (
    OrderedDict()
)
_PLY_MEMO_SIZE = 1024  # entries (games in flight, a few plies each)


def _ply_rows(
    anchor: chess.Board, feats: tuple[int, ...], moves: list[chess.Move], ids: tuple[int, ...], threats: bool
) -> list[tuple[int, ...]]:
    """ply_features (and threat_features) after each of ``moves`` from ``anchor``, continuing a memoised shorter sequence."""
    n = len(ids)
    rows: list[tuple[int, ...]] = []
    board = anchor
    start = 0
    for k in range(min(n, 4) + 1):
        hit = _PLY_MEMO.get((threats, feats, ids[: n - k]))
        if hit is not None:
            rows, board = list(hit[0]), hit[1]
            start = n - k
            _PLY_MEMO.move_to_end((threats, feats, ids[: n - k]))
            break
    board = board.copy(stack=False)
    for mv in moves[start:]:
        board.push(mv)
        rows.append(ply_features(board) + threat_features(board) if threats else ply_features(board))
    _PLY_MEMO[(threats, feats, ids)] = (rows, board)
    while len(_PLY_MEMO) > _PLY_MEMO_SIZE:
        _PLY_MEMO.popitem(last=False)
    return rows


def encode_board(board: chess.Board, block_size: int, spec: InputSpec | None = None) -> TokenSequence:
    """The sequence for the position ``board`` reached through its move stack.

    The root (the board before its first stacked move; the start position or a FEN)
    is the anchor unless the game no longer fits ``block_size``; see the module doc.
    With a ``spec`` that reads more than the anchor, the sequence carries its feature rows.
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
    feats = board_features(anchor)
    if spec is None or spec.plain:
        return TokenSequence(feats, tuple(ids))
    if spec.threat_inputs and not spec.board_every_ply:
        raise ValueError("threat_inputs needs board_every_ply")
    pad = (PAD_FEATURE,) * MAX_FEATURES
    threats = spec.threat_inputs
    boards = _ply_rows(anchor, feats, stack[a:], tuple(ids), threats) if spec.board_every_ply else [pad] * len(ids)
    rows = [feats + threat_features(anchor) if threats else feats, *boards]
    if spec.rating_condition:
        white = anchor.turn == chess.WHITE  # after token t, White moves next when t is even (from a White anchor)
        rows = [r + spec.ratings(white == (t % 2 == 0)) for t, r in enumerate(rows)]
    return TokenSequence(feats, tuple(ids), tuple(rows))
