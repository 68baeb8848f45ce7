"""Streaming PGN reading: compressed files to raw games, raw games to tokens.

Reading is split in two so that it parallelises: the main process streams and cuts
the text into ``RawGame``s (cheap); worker processes replay them (expensive; see
``replay_san`` for the fast SAN path).
"""

from __future__ import annotations

import bz2
import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import chess

PGN_SUFFIXES = (".pgn", ".pgn.zst", ".pgn.bz2", ".pgn.gz")
RESULTS = ("1-0", "0-1", "1/2-1/2", "*")


@dataclass
class RawGame:
    """One game as text: its headers and its movetext, not yet checked."""

    headers: dict[str, str]
    movetext: str
    index: int  # position of the game in its source file (0-based)


def find_pgn_files(paths: list[Path]) -> list[Path]:
    """The PGN files named, or found (sorted) inside the folders named."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(PGN_SUFFIXES)))
        elif p.is_file():
            if not p.name.endswith(PGN_SUFFIXES):
                raise ValueError(f"{p}: not a PGN file (expected one of {', '.join(PGN_SUFFIXES)})")
            found.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return found


def open_text(path: Path) -> io.TextIOBase:
    """Open a possibly compressed PGN for streaming text reading (bad bytes are replaced)."""
    name = path.name
    raw: io.BufferedIOBase
    if name.endswith(".zst"):
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True)  # type: ignore[assignment]
    elif name.endswith(".bz2"):
        raw = bz2.open(path, "rb")  # type: ignore[assignment]
    elif name.endswith(".gz"):
        raw = gzip.open(path, "rb")  # type: ignore[assignment]
    else:
        raw = open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=None)  # type: ignore[arg-type]


_HEADER = re.compile(r'^\[(\w+)\s+"(.*)"\]\s*$')


def iter_raw_games(path: Path) -> Iterator[RawGame | str]:
    """Games of a PGN file in order; a ``str`` item reports a read error that ended the file early.

    A game is a block of ``[Tag "value"]`` lines followed by movetext; a header line after
    movetext starts the next game. Truncated or corrupt compressed input ends the file
    with an error item instead of an exception.
    """
    headers: dict[str, str] = {}
    moves: list[str] = []
    index = 0
    try:
        with open_text(path) as f:
            for line in f:
                if line.startswith("["):
                    if moves:
                        yield RawGame(headers, " ".join(moves), index)
                        index += 1
                        headers, moves = {}, []
                    m = _HEADER.match(line)
                    if m:
                        headers[m.group(1)] = m.group(2)
                    else:
                        headers.setdefault("_bad_header", line[:80])
                elif line.strip() and not line.startswith("%"):
                    moves.append(line.strip())
    except Exception as e:  # noqa: BLE001 - truncated .zst/.bz2/.gz: keep what was read
        if moves or headers:
            yield RawGame(headers, " ".join(moves), index)
        yield f"{path.name}: read error after game {index}: {type(e).__name__}: {e}"
        return
    if moves or headers:
        yield RawGame(headers, " ".join(moves), index)


_COMMENT = re.compile(r"\{[^}]*\}|;[^\n]*")
_VARIATION = re.compile(r"\([^()]*\)")
_MOVE_NUMBER = re.compile(r"^\d+\.+")


def movetext_tokens(movetext: str) -> tuple[list[str], str | None]:
    """SAN tokens and the result marker of a movetext (comments, variations, NAGs removed)."""
    text = _COMMENT.sub(" ", movetext)
    prev = None
    while prev != text:  # nested variations, innermost first
        prev, text = text, _VARIATION.sub(" ", text)
    sans: list[str] = []
    result = None
    for tok in text.split():
        if tok in RESULTS:
            result = tok
            continue
        tok = _MOVE_NUMBER.sub("", tok)
        if not tok or tok[0] == "$":
            continue
        sans.append(tok.rstrip("!?"))
    return sans, result


class IllegalMove(ValueError):
    """A SAN that does not denote a legal move."""


_PIECES = {"N": chess.KNIGHT, "B": chess.BISHOP, "R": chess.ROOK, "Q": chess.QUEEN, "K": chess.KING}
_PROMO = {"Q": chess.QUEEN, "R": chess.ROOK, "B": chess.BISHOP, "N": chess.KNIGHT}
_SAN = re.compile(r"^([NBRQK])?([a-h])?([1-8])?x?([a-h][1-8])(?:=?([QRBN]))?[+#]?$")


def resolve_san(board: chess.Board, san: str) -> chess.Move:
    """The legal move ``san`` denotes, or IllegalMove.

    Finds the mover from attack bitboards instead of generating every legal move as
    ``Board.parse_san`` does (about 3x faster); ambiguous or unusual SAN falls back to it.
    """
    m = _SAN.match(san)
    if m is None:
        try:
            return board.parse_san(san)  # castling, null moves, odd spellings
        except ValueError as e:
            raise IllegalMove(f"{san}: {e}") from None
    piece_ch, from_file, from_rank, to_name, promo = m.groups()
    to = chess.parse_square(to_name)
    us = board.turn
    if piece_ch is None:  # pawn
        if from_file is not None and chess.FILE_NAMES.index(from_file) != chess.square_file(to):
            from_sq = chess.square(chess.FILE_NAMES.index(from_file), chess.square_rank(to) + (-1 if us else 1))
        else:
            step = -8 if us else 8
            from_sq = to + step
            if not (0 <= from_sq < 64) or board.piece_type_at(from_sq) != chess.PAWN:
                from_sq = to + 2 * step
        if not 0 <= from_sq < 64:
            raise IllegalMove(f"{san}: no pawn can reach {to_name}")
        move = chess.Move(from_sq, to, _PROMO[promo] if promo else None)
    else:
        kind = _PIECES[piece_ch]
        cands = board.attackers_mask(us, to) & board.pieces_mask(kind, us)
        if from_file is not None:
            cands &= chess.BB_FILES[chess.FILE_NAMES.index(from_file)]
        if from_rank is not None:
            cands &= chess.BB_RANKS[int(from_rank) - 1]
        if chess.popcount(cands) != 1:
            try:
                return board.parse_san(san)  # pins decide between several candidates
            except ValueError as e:
                raise IllegalMove(f"{san}: {e}") from None
        move = chess.Move(chess.lsb(cands), to)
    if not board.is_legal(move):
        raise IllegalMove(f"{san}: not legal in {board.fen()}")
    return move
