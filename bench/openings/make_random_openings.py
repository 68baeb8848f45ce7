"""Write random6.pgn next to this file: openings of six uniformly random legal plies.

These are the openings of the expert games the transcendence models learn from
(training/generate.py plays ``opening_plies = 6`` random plies before the experts take over),
so a rating from them measures a model in the positions its data come from, where the book
lines of openings.pgn are positions it has never seen. Distinct positions, none already over;
fixed seed, so the file is reproducible: ``python bench/openings/make_random_openings.py``.
"""

import random
from pathlib import Path

import chess
import chess.pgn

HERE = Path(__file__).resolve().parent
PLIES = 6  # training/generate.py's opening_plies
COUNT = 60  # openings (enough for 25 per round-robin pair and 10 per model opponent, all distinct)
SEED = 20261201


def random_openings(count: int, plies: int, seed: int) -> list[chess.pgn.Game]:
    rng = random.Random(seed)
    seen: set[str] = set()
    games: list[chess.pgn.Game] = []
    while len(games) < count:
        board = chess.Board()
        for _ in range(plies):
            board.push(rng.choice(list(board.legal_moves)))
        key = board.epd()
        if board.is_game_over() or key in seen:
            continue
        seen.add(key)
        game = chess.pgn.Game.from_board(board)
        game.headers["Event"] = "random opening"
        game.headers["Opening"] = f"random{len(games) + 1}"
        games.append(game)
    return games


if __name__ == "__main__":
    games = random_openings(COUNT, PLIES, SEED)
    (HERE / "random6.pgn").write_text("".join(str(g) + "\n\n" for g in games))
    print(f"wrote {len(games)} openings to {HERE / 'random6.pgn'}")
