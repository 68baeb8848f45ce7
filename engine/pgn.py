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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import chess
import chess.pgn

PGN_SUFFIXES = (".pgn", ".pgn.zst", ".pgn.bz2", ".pgn.gz")
RESULTS = ("1-0", "0-1", "1/2-1/2", "*")
FINISHED = RESULTS[:3]  # a game with another Result (unfinished, malformed) is not done


@dataclass
class RawGame:
    """One game as text: its headers and its movetext, not yet checked."""

    headers: dict[str, str]
    movetext: str
    index: int  # position of the game in its source file (0-based)


def append_game(path: Path, game: object) -> None:
    """Append one game (a ``chess.pgn.Game``, or its text) to a PGN file, with a blank line after it.

    A file that does not end with a blank line (cut off, written by another tool, or copied in to
    resume a run) first gets the newlines it lacks: without them python-chess reads the appended
    game's headers as the last game's movetext, and every reader loses the game."""
    with open(path, "ab+") as f:  # appends always go to the end; reading the tail needs "+"
        size = f.seek(0, io.SEEK_END)
        f.seek(max(0, size - 2))
        tail = f.read()
        lead = b"" if size == 0 or tail == b"\n\n" else b"\n" if tail.endswith(b"\n") else b"\n\n"
        f.write(lead + f"{game}\n\n".encode())


def finished_headers(paths: Iterable[Path]) -> Iterator[chess.pgn.Headers]:
    """The headers of every finished game (Result 1-0, 0-1 or 1/2-1/2) of the PGN files, in order.

    The one reading of "done" for every resumable writer (bench matches, the experiment's game generator)
    and the ratings: a game counts as played exactly when it can be rated."""
    for p in paths:
        with open(p, encoding="utf-8", errors="replace") as f:
            while (h := chess.pgn.read_headers(f)) is not None:
                if h.get("Result", "*") in FINISHED:
                    yield h


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
        raw = io.BufferedReader(_ZstdRaw(path))  # type: ignore[assignment,type-var]
    elif name.endswith(".bz2"):
        raw = bz2.open(path, "rb")  # type: ignore[assignment]
    elif name.endswith(".gz"):
        raw = gzip.open(path, "rb")  # type: ignore[assignment]
    else:
        raw = open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=None)  # type: ignore[arg-type]


class _ZstdRaw(io.RawIOBase):
    """A .zst file as a byte stream that raises EOFError if the last frame is cut off."""

    def __init__(self, path: Path) -> None:
        import zstandard

        self._f = open(path, "rb")
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        while not self._buf:
            chunk = self._f.read(1 << 20)
            if not chunk:
                if not self._obj.eof:
                    raise EOFError("compressed stream ends in the middle of a frame (truncated file)")
                return 0
            if self._obj.eof:  # a new frame follows the previous one
                unused = self._obj.unused_data
                self._obj = self._dctx.decompressobj()
                chunk = unused + chunk
            self._buf = self._obj.decompress(chunk)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


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
    """The legal move ``san`` denotes (not yet pushed), or IllegalMove.

    Finds the mover from attack bitboards instead of generating every legal move as
    ``Board.parse_san`` does; ambiguous or unusual SAN (castling among them) falls back
    to it. Moves found here are pseudo-legal by construction; the caller checks
    that the mover's king is not left in check:
    the caller pushes the move and tests ``board.was_into_check()``.
    """
    m = _SAN.match(san)
    if m is None:
        return _slow(board, san)
    piece_ch, from_file, from_rank, to_name, promo = m.groups()
    to = chess.parse_square(to_name)
    us = board.turn
    if chess.BB_SQUARES[to] & board.occupied_co[us]:
        raise IllegalMove(f"{san}: {to_name} holds a piece of the mover")
    if piece_ch is None:  # pawn
        last_rank = 7 if us else 0
        if (chess.square_rank(to) == last_rank) != (promo is not None):
            raise IllegalMove(f"{san}: promotion piece missing or misplaced")
        fwd = 8 if us else -8
        pawns = board.pawns & board.occupied_co[us]
        if from_file is not None and chess.FILE_NAMES.index(from_file) != chess.square_file(to):
            if abs(chess.FILE_NAMES.index(from_file) - chess.square_file(to)) != 1:
                raise IllegalMove(f"{san}: not a pawn capture")
            from_sq = chess.square(chess.FILE_NAMES.index(from_file), chess.square_rank(to)) - fwd
            capturable = board.occupied_co[not us] | (
                chess.BB_SQUARES[board.ep_square] if board.ep_square is not None else 0
            )
            if not (0 <= from_sq < 64 and pawns & chess.BB_SQUARES[from_sq] and capturable & chess.BB_SQUARES[to]):
                raise IllegalMove(f"{san}: no pawn capture onto {to_name}")
        else:
            if board.occupied & chess.BB_SQUARES[to]:
                raise IllegalMove(f"{san}: {to_name} is occupied")
            from_sq = to - fwd
            if not (0 <= from_sq < 64):
                raise IllegalMove(f"{san}: no pawn can reach {to_name}")
            if not pawns & chess.BB_SQUARES[from_sq]:
                # a double push from the second rank over an empty square
                from_sq -= fwd
                start_rank = 1 if us else 6
                if not (
                    0 <= from_sq < 64 and chess.square_rank(from_sq) == start_rank and pawns & chess.BB_SQUARES[from_sq]
                ) or (board.occupied & chess.BB_SQUARES[to - fwd]):
                    raise IllegalMove(f"{san}: no pawn can reach {to_name}")
        return chess.Move(from_sq, to, _PROMO[promo] if promo else None)
    if promo is not None:
        raise IllegalMove(f"{san}: only pawns promote")
    kind = _PIECES[piece_ch]
    cands = board.attackers_mask(us, to) & board.pieces_mask(kind, us)
    if from_file is not None:
        cands &= chess.BB_FILES[chess.FILE_NAMES.index(from_file)]
    if from_rank is not None:
        cands &= chess.BB_RANKS[int(from_rank) - 1]
    if chess.popcount(cands) != 1:
        return _slow(board, san)  # pins decide between several candidates, or none can move there
    return chess.Move(chess.lsb(cands), to)


def _slow(board: chess.Board, san: str) -> chess.Move:
    try:
        return board.parse_san(san)  # checks legality itself
    except ValueError as e:
        raise IllegalMove(f"{san}: {e}") from None
