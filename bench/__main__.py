"""``python -m chessformer.bench COMMAND``: matches, ratings, sweeps, analyses and throughput (``--help`` lists them).

Each command's module owns its argparse (its ``cli``); this file only lists them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from chessformer.engine.commands import Command, dispatch, lazy_cli


def _lazy(module: str) -> Callable[[list[str]], int]:
    return lazy_cli(f"chessformer.bench.{module}")


COMMANDS = {
    "match": Command(
        "play an engine against UCI opponents (Stockfish, the random mover, any engine) to PGN", _lazy("match")
    ),
    "rate": Command("Glicko-2 and maximum-likelihood Elo with 95% intervals from match PGNs", _lazy("rate")),
    "sweep": Command("rating against temperature, the paper's Figure 1", _lazy("sweep")),
    "analyse": Command("the paper's Table 1 (move quality by temperature) and its entropy figure", _lazy("analyse")),
    "throughput": Command("latency and moves/s per backend and batch size", _lazy("throughput")),
    "calibrate": Command("measure a model's strength table for UCI_LimitStrength / UCI_Elo", _lazy("calibrate")),
    "soak": Command("many games through the engine's process: memory, stalls, legality", _lazy("soak")),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m chessformer.bench", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
