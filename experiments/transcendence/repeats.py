"""Games that repeat an earlier game move for move.

Two deterministic players (a model at temperature ~0 against a greedy expert) that start every
game from the same position play the same game each time: twenty such games are one result
counted twenty times, and the rating's interval shrinks as if they were twenty. ``repeats_of``
counts them, so a report can say how many of a rating's games are distinct.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from chessformer.engine.pgn import iter_raw_games

# headers that, with the moves, make a game the same game; not Round, seeds or MatchId, which differ
SAME_GAME_HEADERS = ("White", "Black", "FEN", "Opening", "Result")


def repeats_of(path: Path) -> Counter[str]:
    """Per player, how many of its games in ``path`` repeat an earlier game there: same players
    with the same colours, same start, same moves and result. The first of each is not counted."""
    seen: set[tuple[str, ...]] = set()
    repeats: Counter[str] = Counter()
    # games as text (headers and movetext): a count of identical games need not parse the moves
    for game in iter_raw_games(path):
        if isinstance(game, str):  # a read error
            raise ValueError(game)
        key = (*(game.headers.get(h, "") for h in SAME_GAME_HEADERS), game.movetext)
        if key in seen:
            repeats[game.headers.get("White", "?")] += 1
            repeats[game.headers.get("Black", "?")] += 1
        seen.add(key)
    return repeats
