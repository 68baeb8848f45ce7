"""Small synthetic PGN files for tests (the shared human games never go into tests)."""

from __future__ import annotations

import random
from collections.abc import Callable

import chess

Chooser = Callable[[chess.Board, list[chess.Move], random.Random], chess.Move]


def random_walk(rng: random.Random, plies: int) -> chess.Board:
    """The board after up to ``plies`` uniformly random legal moves from the start (fewer if the game ends)."""
    b = chess.Board()
    for _ in range(plies):
        moves = list(b.legal_moves)
        if not moves:
            break
        b.push(rng.choice(moves))
    return b


def lowest_squares_after_opening(b: chess.Board, legal: list[chess.Move], rng: random.Random) -> chess.Move:
    """A learnable player: random for 6 plies (diverse games), then the move with the lowest (from, to) squares."""
    if b.ply() < 6:
        return rng.choice(legal)
    return min(legal, key=lambda m: (m.from_square, m.to_square))


def random_game_san(
    rng: random.Random, plies: int, board: chess.Board | None = None, choose: Chooser | None = None
) -> tuple[str, str]:
    """(movetext with move numbers, result) of a legal game: random moves, or those of ``choose``."""
    b = board.copy() if board else chess.Board()
    parts: list[str] = []
    for _ in range(plies):
        legal = list(b.legal_moves)
        if not legal:
            break
        m = choose(b, legal, rng) if choose else rng.choice(legal)
        if b.turn == chess.WHITE:
            parts.append(f"{b.fullmove_number}.")
        elif not parts:
            parts.append(f"{b.fullmove_number}...")
        parts.append(b.san(m))
        b.push(m)
    result = rng.choice(["1-0", "0-1", "1/2-1/2"])
    return " ".join(parts), result


def game_text(headers: dict[str, str], movetext: str, result: str) -> str:
    head = "".join(f'[{k} "{v}"]\n' for k, v in headers.items())
    return f'{head}[Result "{result}"]\n\n{movetext} {result}\n\n'


def make_pgn(
    rng: random.Random,
    n: int,
    elo_range: tuple[int, int] = (800, 2000),
    site_prefix: str = "https://lichess.org/",
    choose: Chooser | None = None,
) -> str:
    out = []
    for i in range(n):
        mt, res = random_game_san(rng, rng.randint(10, 60), choose=choose)
        h = {
            "Event": "Rated Blitz game",
            "Site": f"{site_prefix}{rng.getrandbits(40):x}{i}",
            "White": f"w{i}",
            "Black": f"b{i}",
            "WhiteElo": str(rng.randint(*elo_range)),
            "BlackElo": str(rng.randint(*elo_range)),
            "TimeControl": "300+0",
        }
        out.append(game_text(h, mt, res))
    return "".join(out)
