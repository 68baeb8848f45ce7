"""Rate a transcend run folder counting each distinct game once (a repeat: same players, same moves).

python results/transcendence/pool_v14/long/dedup_rate.py runs/transcend_pool_v14_long

The experts are anchored at their round-robin ratings (d1-r80 = 1000), as `bench transcend` does.
"""

import sys
from pathlib import Path

import chess.pgn

from bench.rate import finished_headers, parse_anchors, rate, results_of

out = Path(sys.argv[1])
pool = list(finished_headers([out / "pool.pgn"]))
pool_table = rate(results_of(pool, skip_forfeits=True), parse_anchors(["d1-r80=1000"]))
anchors = {n: float(r["elo"]["rating"]) for n, r in pool_table.items()}  # type: ignore[index]
seen: set[tuple[str, str, str]] = set()
distinct = []
with open(out / "models.pgn", encoding="utf-8") as f:
    while (game := chess.pgn.read_game(f)) is not None:
        key = (game.headers["White"], game.headers["Black"], " ".join(m.uci() for m in game.mainline_moves()))
        if key not in seen:
            seen.add(key)
            distinct.append(game.headers)
table = rate(results_of(pool + distinct, skip_forfeits=True), anchors)
for name in sorted(n for n in table if n.startswith("CF-")):
    e = table[name]["elo"]
    assert isinstance(e, dict)
    print(f"{name:28s} {round(e['rating'])} [{round(e['low'])}, {round(e['high'])}] distinct games {e['games']}")
