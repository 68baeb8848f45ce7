"""``python -m experiments.transcendence diagnose value``: does a model's value head know who is ahead?

A value head that has learned the game should give the side to move a higher expected score
(W + D/2) when it is up material and when it went on to win. This samples one position per
game of a PGN (past the opening, uniformly over the rest of the game, seeded) and reports,
for each model, the Pearson correlations of its expected score with the material balance and
with the game's result (both from the side to move's view), next to the correlation of
material and result themselves: how much a value head could have learned from the material
alone. A head near zero on both with material near 0.6 has learned nothing about who wins.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import chess
import chess.pgn
import numpy as np

from chessformer.bench.rate import SCORES


@dataclass(frozen=True)
class ValuePosition:
    board: chess.Board  # with its move stack, as a transcript model reads it
    material: int  # side to move's material minus the opponent's (pawns)
    result: float  # the game's result for the side to move: 1 win, 0.5 draw, 0 loss


@dataclass(frozen=True)
class ValueRow:
    model: str  # weights file
    positions: int  # positions evaluated (count)
    corr_material: float  # Pearson r of expected score and material balance
    corr_result: float  # Pearson r of expected score and the game's result
    corr_material_result: float  # Pearson r of material and result: what material alone tells
    score_low: float  # lowest expected score given (probability)
    score_high: float  # highest expected score given (probability)


def value_positions(pgn: Path, limit: int, skip_plies: int = 10, seed: int = 0) -> list[ValuePosition]:
    """One position per finished game, up to ``limit``: a ply drawn uniformly from
    ``skip_plies`` to the game's last move (the side to move has a move left to play)."""
    from chessformer.engine.material import material_balance

    rng = random.Random(seed)
    out: list[ValuePosition] = []
    with open(pgn, encoding="utf-8", errors="replace") as f:
        while len(out) < limit and (game := chess.pgn.read_game(f)) is not None:
            result = game.headers.get("Result", "*")
            moves = list(game.mainline_moves())
            if result not in SCORES or len(moves) <= skip_plies:
                continue
            board = game.board()
            for m in moves[: rng.randrange(skip_plies, len(moves))]:
                board.push(m)
            white_score = SCORES[result]
            out.append(ValuePosition(board, material_balance(board), white_score if board.turn else 1 - white_score))
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r; 0 when either side does not vary (a constant carries no information)."""
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def value_row(weights: str, positions: list[ValuePosition], batch: int = 64) -> ValueRow:
    from chessformer.engine.loader import load_model
    from chessformer.engine.player import expected_score

    player = load_model(weights, "torch", 1, 64).player
    scores: list[float] = []
    for i in range(0, len(positions), batch):
        evs = player.evaluate_many([p.board for p in positions[i : i + batch]])
        scores += [expected_score(ev.wdl) for ev in evs]
    e = np.array(scores)
    mat = np.array([p.material for p in positions], dtype=np.float64)
    res = np.array([p.result for p in positions])
    return ValueRow(
        weights, len(positions), _corr(e, mat), _corr(e, res), _corr(mat, res), float(e.min()), float(e.max())
    )


def run_value_check(pgn: Path, weights: list[str], limit: int, json_out: Path | None = None) -> list[ValueRow]:
    positions = value_positions(pgn, limit)
    if len(positions) < 3:
        raise ValueError(f"{pgn}: fewer than 3 finished games longer than the opening to sample from")
    rows = [value_row(w, positions) for w in weights]
    if json_out:
        json_out.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    return rows


def value_report(rows: list[ValueRow]) -> str:
    lines = [
        "| model | positions | r(value, material) | r(value, result) | r(material, result) | value range |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.positions} | {r.corr_material:+.3f} | {r.corr_result:+.3f} | "
            f"{r.corr_material_result:+.3f} | {r.score_low:.3f}..{r.score_high:.3f} |"
        )
    return "\n".join(lines)
