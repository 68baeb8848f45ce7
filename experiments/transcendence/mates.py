"""``python -m experiments.transcendence diagnose mates``: does a player take a mate in one, and does a model see it?

The transcendence attempts' models gain material and then fail to win: their games end in
repetitions and fifty-move draws. This measures the simplest part of converting a won game,
over every position of a PGN where the named player was to move and had a mate in one:

- played: how often the player in the games made a mating move there;
- for each model (weights), at temperature 1: the probability it gives all mating moves
  together, how often its most likely move mates, and the mean number of legal moves (a
  uniformly random mover's probability is mates / legal moves).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import chess

from chessformer.bench.analyse import player_moves


@dataclass(frozen=True)
class MatePosition:
    board: chess.Board  # with its move stack, as a transcript model reads it
    mates: tuple[chess.Move, ...]  # the legal moves that mate
    played: chess.Move  # the move made in the game


@dataclass(frozen=True)
class MateRow:
    model: str  # weights file
    positions: int  # positions with a mate in one (count)
    p_mate: float  # mean probability of all mating moves at temperature 1 (probability)
    top1_mates: float  # the most likely move mates (fraction)
    uniform: float  # mean mates / legal moves: a uniform random mover's p_mate (probability)


def mating_moves(board: chess.Board) -> tuple[chess.Move, ...]:
    """The legal moves after which the opponent is checkmated."""
    out = []
    for move in board.legal_moves:
        board.push(move)
        if board.is_checkmate():
            out.append(move)
        board.pop()
    return tuple(out)


def mate_positions(pgn: Path, player: str, limit: int) -> list[MatePosition]:
    """Up to ``limit`` positions, in game order, where a player named exactly ``player`` is to
    move and has a mate in one."""
    out: list[MatePosition] = []
    for board, move in player_moves(pgn, player, stack=True):
        if mates := mating_moves(board):
            out.append(MatePosition(board, mates, move))
            if len(out) == limit:
                break
    if not out:
        raise ValueError(f"{pgn}: no position where {player!r} is to move with a mate in one")
    return out


def played_mates(positions: list[MatePosition]) -> int:
    """How many times the player in the games made a mating move."""
    return sum(p.played in p.mates for p in positions)


def model_mates(weights: str, positions: list[MatePosition]) -> MateRow:
    from chessformer.engine.loader import load_model

    player = load_model(weights, "cpu-fast", 1, 256).player
    p_mate = top1 = uniform = 0.0
    for pos in positions:
        ev = player.evaluate(pos.board)
        p_mate += sum(float(ev.probs[ev.moves.index(m)]) for m in pos.mates)
        top1 += ev.moves[0] in pos.mates  # moves are most probable first
        uniform += len(pos.mates) / len(ev.moves)
    n = len(positions)
    return MateRow(weights, n, p_mate / n, top1 / n, uniform / n)


def run_mates(
    pgn: Path, player: str, weights: list[str], limit: int, out_json: Path | None
) -> tuple[int, int, list[MateRow]]:
    """(positions, mating moves played, one row per model)."""
    positions = mate_positions(pgn, player, limit)
    rows = [model_mates(w, positions) for w in weights]
    played = played_mates(positions)
    if out_json is not None:
        doc = {"pgn": str(pgn), "player": player, "positions": len(positions), "played": played}
        out_json.write_text(json.dumps({**doc, "models": [asdict(r) for r in rows]}, indent=1) + "\n")
    return len(positions), played, rows


def mates_report(player: str, positions: int, played: int, rows: list[MateRow]) -> str:
    lines = [
        f"{player}: {positions} positions with a mate in one; a mating move was played in {played} "
        f"({played / positions:.1%})",
    ]
    if rows:
        lines += [
            "",
            "| model | p(mating moves) | top-1 mates | uniform mover's p |",
            "|---|---|---|---|",
            *(f"| {r.model} | {r.p_mate:.3f} | {r.top1_mates:.1%} | {r.uniform:.3f} |" for r in rows),
        ]
    return "\n".join(lines)
