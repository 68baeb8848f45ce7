"""``python -m chessformer.training heldout``: top-1 agreement with the human move on held-out games.

One position per validation game (the split of training/data.py's GameIndex, never trained
on), a uniformly random ply from the 9th on, as the engine sees it: the game's moves up to
there through the player, the model's most likely legal move against the move the human
played. Reported overall and by the mover's rating band on its own platform's scale, for a
rating-conditioned model both with the true ratings and with "unknown" ratings.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chess

from chessformer.engine.tokenizer import MOVES

BANDS = ((0, 1200, "< 1200"), (1200, 1600, "1200-1600"), (1600, 2000, "1600-2000"), (2000, 10**6, ">= 2000"))
FIRST_PLY = 8  # 0-based: the position before the 9th move


@dataclass(frozen=True)
class HeldOutPosition:
    board: chess.Board  # with its move stack from the start
    human: chess.Move  # the move played
    mover: tuple[str | None, int]  # the mover's (scale, rating); rating 0 unknown
    opponent: tuple[str | None, int]


def band_of(rating: int) -> str | None:
    """The rating band label of a rating, None when unrated."""
    if rating <= 0:
        return None
    return next(label for lo, hi, label in BANDS if lo <= rating < hi)


def heldout_positions(data: Path, max_games: int, seed: int = 9) -> list[HeldOutPosition]:
    """One position per validation game (standard start, at least FIRST_PLY + 1 plies)."""
    from chessformer.training.data import GameIndex

    index = GameIndex(data)
    rng = random.Random(seed)
    out: list[HeldOutPosition] = []
    for s, g in index.val:
        if len(out) >= max_games:
            break
        sh = index.shards[s]
        game = sh.games[g]
        n = int(game["length"])
        if int(game["fen_anchor"]) >= 0 or n <= FIRST_PLY:
            continue
        ply = rng.randrange(FIRST_PLY, n)
        off = int(game["offset"])
        board = chess.Board()
        for tok in sh.tokens[off : off + ply]:
            board.push(chess.Move.from_uci(MOVES[int(tok)]))
        human = chess.Move.from_uci(MOVES[int(sh.tokens[off + ply])])
        white = (index.scales[s], int(game["white_elo"]))
        black = (index.scales[s], int(game["black_elo"]))
        mover, opp = (white, black) if board.turn == chess.WHITE else (black, white)
        out.append(HeldOutPosition(board, human, mover, opp))
    return out


def top1(weights: str, positions: list[HeldOutPosition], conditioned: bool) -> dict[str, Any]:
    """Top-1 agreement overall and by band; ``conditioned``: give the model the true ratings."""
    from chessformer.engine.loader import load_model

    player = load_model(weights, "cpu-fast", threads=0, hash_mb=256).player
    picks = []
    for p in positions:  # ratings differ per position: one evaluation each
        player.ratings = (p.mover, p.opponent) if conditioned else ((None, None), (None, None))
        player.own_colour = None
        picks.append(player.evaluate(p.board).moves[0])
    return tally(positions, picks)


def tally(positions: list[HeldOutPosition], picks: list[chess.Move]) -> dict[str, Any]:
    """Top-1 of ``picks`` against the human moves, overall and by the mover's band."""
    hits: dict[str, list[int]] = {"all": [0, 0]}
    for p, move in zip(positions, picks, strict=True):
        for key in ("all", band_of(p.mover[1]) or "unrated"):
            h = hits.setdefault(key, [0, 0])
            h[0] += int(move == p.human)
            h[1] += 1
    return {k: {"top1": h[0] / h[1], "positions": h[1]} for k, h in hits.items()}


def stockfish_top1(positions: list[HeldOutPosition], depth: int) -> dict[str, Any]:
    """The same figures for Stockfish at a fixed depth (the issue's baseline: depth 1)."""
    import shutil

    import chess.engine

    exe = shutil.which("stockfish") or shutil.which("stockfish", path="/usr/games")
    if exe is None:
        raise FileNotFoundError("stockfish is not installed (apt-get install stockfish)")
    with chess.engine.SimpleEngine.popen_uci(exe) as sf:
        sf.configure({"Threads": 1, "Hash": 16})
        picks = [sf.play(p.board, chess.engine.Limit(depth=depth)).move for p in positions]
    return tally(positions, picks)  # type: ignore[arg-type]  # Stockfish always has a move here


def report(results: dict[str, dict[str, Any]]) -> str:
    """A markdown table: one row per run, one column per band."""
    cols = ["all"] + [label for _, _, label in BANDS] + ["unrated"]
    lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, res in results.items():
        cells = [f"{100 * res[c]['top1']:.1f}% ({res[c]['positions']})" if c in res else "" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m chessformer.training heldout", description=__doc__.splitlines()[0])
    p.add_argument(
        "--data", type=Path, required=True, help="the shards the model was trained on (their validation split)"
    )
    p.add_argument("--weights", action="append", required=True, help="a weights file (repeatable)")
    p.add_argument("--games", type=int, default=2000, help="validation games, one position each")
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--stockfish-depth", type=int, default=0, help="also Stockfish at this depth (0: not)")
    a = p.parse_args(argv)
    from chessformer.engine.weights import read_info, resolve_weights

    positions = heldout_positions(a.data, a.games, a.seed)
    print(f"{len(positions)} held-out positions", file=sys.stderr)
    results: dict[str, dict[str, Any]] = {}
    for w in a.weights:
        rated = bool(read_info(resolve_weights(w)).config.get("rating_condition", False))
        name = Path(w).stem.strip("<>")
        results[name + (" (unknown ratings)" if rated else "")] = top1(w, positions, conditioned=False)
        if rated:
            results[name + " (true ratings)"] = top1(w, positions, conditioned=True)
    if a.stockfish_depth:
        results[f"Stockfish depth {a.stockfish_depth}"] = stockfish_top1(positions, a.stockfish_depth)
    print(report(results))
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0
