"""Games that repeat an earlier game move for move.

Two deterministic players (a model at temperature ~0 against a greedy expert) that start every
game from the same position play the same game each time: twenty such games are one result
counted twenty times, and the rating's interval shrinks as if they were twenty. ``repeats_of``
counts them, so a report can say how many of a rating's games are distinct.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

# headers that, with the moves, make a game the same game; not Round, seeds or MatchId, which differ
SAME_GAME_HEADERS = ("White", "Black", "FEN", "Opening", "Result")


def _games(path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """Each game of a PGN file as (its headers, its movetext in one line); a plain text scan,
    ~50x faster than parsing the moves, which a count of identical games does not need."""
    headers: dict[str, str] = {}
    moves: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                if moves:  # a header after movetext starts the next game
                    yield headers, " ".join(moves)
                    headers, moves = {}, []
                key, _, value = line[1:-1].partition(" ")
                headers[key] = value.strip('"')
            elif line:
                moves.append(line)
    if headers or moves:
        yield headers, " ".join(moves)


def repeats_of(path: Path) -> Counter[str]:
    """Per player, how many of its games in ``path`` repeat an earlier game there: same players
    with the same colours, same start, same moves and result. The first of each is not counted."""
    seen: set[tuple[str, ...]] = set()
    repeats: Counter[str] = Counter()
    for headers, moves in _games(path):
        key = (*(headers.get(h, "") for h in SAME_GAME_HEADERS), moves)
        if key in seen:
            repeats[headers.get("White", "?")] += 1
            repeats[headers.get("Black", "?")] += 1
        seen.add(key)
    return repeats
