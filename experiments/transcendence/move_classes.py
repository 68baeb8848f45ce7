"""``python -m experiments.transcendence diagnose moves``: what kinds of move a player made in its games, and what each cost.

``agreement`` scores a model's most likely move on positions from other players' games. This
reads the moves a player actually made in its own rating games (a model at some temperature,
or an expert of a rule pool), so it sees the positions the player steers into. Each move after
the opening plies is put in one class:

- ``greedy``: the rule's move (training/greedy.py: ``greedy``, or ``greedy-pawns`` for pool v9),
  the rule pool's shared good move;
- ``habit:NAME``: else the move of the first listed habit that would make it (training/habits.py);
- ``other``: neither.

A non-rule move that the rule's own material count (taken less hung, one reply) rates below
the rule's move gets the suffix ``(-material)``: it leaves material the rule would win or
keep. Each move is priced by Stockfish at a fixed depth as the mover's expected score (the
lichess WDL model, as in ``table1``) with best play before the move less the expected score
after the move played, in percentage points, floored at 0; a loss of ``BLUNDER`` points or
more counts as a blunder. Expected scores compare moves within one player's games; they are
not ratings (a player that reaches won positions loses little per move whatever it plays).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import chess
import chess.engine
from tqdm import tqdm

from chessformer.bench.analyse import player_moves
from chessformer.bench.engines import stockfish_path
from experiments.transcendence.greedy import check_rule, preference, rule_move
from experiments.transcendence.habits import check_habit, habit_move

BLUNDER = 20.0  # expected-score loss that counts as a blunder (percentage points)
MATERIAL = "(-material)"  # suffix of a non-rule move the rule's material count rates lower

# (board before the move, move) -> the mover's expected-score loss (percentage points, >= 0)
MovePrice = Callable[[chess.Board, chess.Move], float]


@dataclass(frozen=True)
class MoveClassRow:
    kind: str  # "greedy", "habit:NAME" or "other", with MATERIAL appended where it applies
    moves: int  # the player's moves of this kind (count)
    share: float  # of all its classified moves (fraction)
    mean_loss: float  # mean expected-score loss (percentage points)
    loss_share: float  # of the summed loss over all its moves (fraction)
    blunders: int  # moves losing at least BLUNDER points (count)


def move_kind(board: chess.Board, move: chess.Move, habits: tuple[str, ...], rule: str = "greedy") -> str:
    """The class of ``move`` in ``board`` (module doc); ``rule`` names the shared move (RULES)."""
    shared = rule_move(rule, board)
    if move == shared:
        return "greedy"
    kind = next((f"habit:{h}" for h in habits if habit_move(board, h) == move), "other")
    material_short = preference(board, move)[0] < preference(board, shared)[0]  # key part 0: taken - lost
    return kind + MATERIAL if material_short else kind


def stockfish_price(sf: chess.engine.SimpleEngine, depth: int) -> MovePrice:
    """The module doc's price of a move, by ``sf`` searching ``depth`` plies on each side of it."""

    def expected(board: chess.Board) -> float:  # the side to move's expected score, in [0, 1]
        if board.is_game_over(claim_draw=False):
            outcome = board.outcome(claim_draw=False)
            assert outcome is not None
            return 0.5 if outcome.winner is None else float(outcome.winner == board.turn)
        info = sf.analyse(board, chess.engine.Limit(depth=depth))
        return info["score"].pov(board.turn).wdl(model="lichess", ply=board.ply()).expectation()

    def price(board: chess.Board, move: chess.Move) -> float:
        before = expected(board)
        board.push(move)
        try:
            after = 1.0 - expected(board)
        finally:
            board.pop()
        return max(0.0, 100.0 * (before - after))

    return price


def _check_names(habits: tuple[str, ...], rule: str) -> None:
    """Raise ValueError for an unknown habit or rule, before any game is read or engine started."""
    for h in habits:
        check_habit(h)
    check_rule(rule)


def classify_moves(
    moves: Iterator[tuple[chess.Board, chess.Move]],
    habits: tuple[str, ...],
    price: MovePrice,
    progress: bool = False,
    rule: str = "greedy",
) -> list[MoveClassRow]:
    """One row per class of the moves, the costliest in summed loss first."""
    _check_names(habits, rule)
    counts: dict[str, list[float]] = {}  # kind -> each move's loss
    for board, move in tqdm(moves, desc="moves", unit="move", disable=not progress):
        counts.setdefault(move_kind(board, move, habits, rule), []).append(price(board, move))
    n = sum(len(v) for v in counts.values())
    total = sum(sum(v) for v in counts.values()) or 1.0  # all-zero losses: shares of 0, not a division by 0
    if n == 0:
        raise ValueError("no moves to classify (every game shorter than the skipped plies?)")
    rows = [
        MoveClassRow(kind, len(v), len(v) / n, sum(v) / len(v), sum(v) / total, sum(x >= BLUNDER for x in v))
        for kind, v in counts.items()
    ]
    return sorted(rows, key=lambda r: -r.mean_loss * r.moves)


def run_move_classes(
    pgn: Path,
    player: str,
    habits: tuple[str, ...],
    depth: int,
    skip_plies: int,
    max_games: int,
    out_json: Path | None,
    progress: bool = True,
    rule: str = "greedy",
) -> list[MoveClassRow]:
    """Classify and price ``player``'s moves in ``pgn`` with Stockfish at ``depth``; optionally a JSON file."""
    _check_names(habits, rule)
    sf = chess.engine.SimpleEngine.popen_uci(stockfish_path())
    try:
        sf.configure({"Threads": 1, "Hash": 16})
        rows = classify_moves(
            player_moves(pgn, player, skip_plies, max_games), habits, stockfish_price(sf, depth), progress, rule
        )
    finally:
        sf.quit()
    if out_json is not None:
        doc = {
            "pgn": str(pgn),
            "player": player,
            "rule": rule,
            "habits": list(habits),
            "depth": depth,
            "skip_plies": skip_plies,
        }
        out_json.write_text(
            json.dumps({**doc, "max_games": max_games, "rows": [asdict(r) for r in rows]}, indent=1) + "\n"
        )
    return rows


def move_classes_report(player: str, rows: list[MoveClassRow]) -> str:
    n = sum(r.moves for r in rows)
    mean = sum(r.mean_loss * r.moves for r in rows) / n
    lines = [
        f"{player}: {n} moves, mean expected-score loss {mean:.1f} points, "
        f"{sum(r.blunders for r in rows)} blunders (loss >= {BLUNDER:g})",
        "",
        "| kind | moves | share | mean loss | share of loss | blunders |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.kind} | {r.moves} | {r.share:.1%} | {r.mean_loss:.1f} | {r.loss_share:.1%} | {r.blunders} |"
        for r in rows
    ]
    return "\n".join(lines)
