"""``python -m chessformer.bench.random_mover``: a UCI engine that plays a uniformly random legal move.

The floor of every rating table. Option Seed (0: fresh randomness) makes it reproducible.
"""

from __future__ import annotations

import random
import sys

import chess


def main() -> int:
    rng = random.Random()
    board = chess.Board()
    for raw in sys.stdin:
        parts = raw.split()
        if not parts:
            continue
        cmd = parts[0]
        if cmd == "uci":
            print(
                "id name RandomMover\nid author chessformer\noption name Seed type spin default 0 min 0 max 2147483647\nuciok"
            )
        elif cmd == "isready":
            print("readyok")
        elif cmd == "setoption" and len(parts) >= 5 and parts[2].lower() == "seed":
            try:
                seed = int(parts[4])
            except ValueError:
                seed = 0
            rng = random.Random(seed if seed else None)
        elif cmd == "position":
            try:
                mi = parts.index("moves") if "moves" in parts else len(parts)
                board = chess.Board() if parts[1] == "startpos" else chess.Board(" ".join(parts[2:mi]))
                for m in parts[mi + 1 :]:
                    board.push_uci(m)
            except (ValueError, IndexError) as e:
                print(f"info string bad position: {e}")
        elif cmd == "go":
            legal = list(board.legal_moves)
            print(f"bestmove {rng.choice(legal).uci() if legal else '0000'}")
        elif cmd == "quit":
            break
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
