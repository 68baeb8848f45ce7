"""``python -m bench analyse agreement``: does a model's most likely move match a reference engine's?

In the transcendence pools (bench/experiments/pool_v2..v4) every expert plays one shared
policy (Stockfish at depth 1) or a uniformly random legal move. The experts' majority move is
that policy's move, and low temperature can only recover it if the model's mode *is* that
move. This measures it directly, on positions the model was not trained on:

- top-1: how often the model's most likely legal move is the reference engine's move;
- p(ref): the mean probability the model gives that move at temperature 1 (a perfect
  imitator of an expert with random-move rate r gives about ``1 - r + r / legal moves``);
- uniform: the same probability for a uniformly random legal move, the floor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import chess
import chess.engine

from bench.analyse import model_positions
from bench.engines import stockfish_path


@dataclass(frozen=True)
class AgreementRow:
    model: str  # weights file
    positions: int  # positions scored (count)
    top1: float  # model's most likely move == reference move (fraction)
    p_ref: float  # mean model probability of the reference move at temperature 1 (probability)
    uniform: float  # mean 1 / legal moves: a uniform random mover's p_ref (probability)


def sample_positions(pgn: Path, limit: int, skip_plies: int, max_games: int = 300, seed: int = 0) -> list[chess.Board]:
    """Up to ``limit`` positions (with history) from the first ``max_games`` games, past ``skip_plies``."""
    boards = model_positions(pgn, "", limit, seed, max_games=max_games, skip_plies=skip_plies)
    if not boards:
        raise ValueError(f"{pgn}: no positions past ply {skip_plies}")
    return boards


def reference_moves(
    boards: list[chess.Board], depth: int, command: str | None = None, progress: bool = False
) -> list[chess.Move]:
    """Stockfish's move at a fixed depth (full strength, one thread: deterministic)."""
    from tqdm import tqdm

    with chess.engine.SimpleEngine.popen_uci(command or stockfish_path()) as sf:
        sf.configure({"Threads": 1, "Skill Level": 20})
        moves = []
        for b in tqdm(boards, desc=f"stockfish depth {depth}", unit=" pos", disable=not progress):
            mv = sf.play(b, chess.engine.Limit(depth=depth)).move
            if mv is None:
                raise RuntimeError(f"Stockfish returned no move for {b.fen()}")
            moves.append(mv)
    return moves


def agreement(weights: str, boards: list[chess.Board], refs: list[chess.Move]) -> AgreementRow:
    from engine.loader import load_model

    player = load_model(weights, "cpu-fast", 1, 256).player
    top1 = p_ref = uniform = 0.0
    for b, ref in zip(boards, refs, strict=True):
        ev = player.evaluate(b)
        top1 += ev.moves[0] == ref  # moves are most probable first
        p_ref += float(ev.probs[ev.moves.index(ref)])
        uniform += 1.0 / len(ev.moves)
    n = len(boards)
    return AgreementRow(weights, n, top1 / n, p_ref / n, uniform / n)


def run_agreement(
    weights: list[str], pgn: Path, positions: int, depth: int, skip_plies: int, out_json: Path | None
) -> list[AgreementRow]:
    boards = sample_positions(pgn, positions, skip_plies)
    refs = reference_moves(boards, depth)
    rows = [agreement(w, boards, refs) for w in weights]
    if out_json is not None:
        out_json.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    return rows


def agreement_report(rows: list[AgreementRow], depth: int) -> str:
    lines = [
        f"| model | positions | top-1 = depth-{depth} move | p(depth-{depth} move) | uniform legal |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.model} | {r.positions} | {r.top1:.1%} | {r.p_ref:.3f} | {r.uniform:.3f} |")
    return "\n".join(lines)
