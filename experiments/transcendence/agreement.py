"""``python -m experiments.transcendence diagnose agreement``: does a model's most likely move match a reference engine's?

In the transcendence pools (experiments/transcendence/configs/pool_v2..v4) every expert plays one shared
policy (Stockfish at depth 1) or a uniformly random legal move. The experts' majority move is
that policy's move, and low temperature can only recover it if the model's mode *is* that
move. This measures it directly, on positions the model was not trained on:

- top-1: how often the model's most likely legal move is the reference engine's move;
- p(ref): the mean probability the model gives that move at temperature 1 (a perfect
  imitator of an expert with random-move rate r gives about ``1 - r + r / legal moves``);
- uniform: the same probability for a uniformly random legal move, the floor.

With ``habits`` (experts that err systematically, training/habits.py) it also counts, per
habit, how often the model's most likely move is that habit's move (over the positions
where the habit has one): whether low temperature would play the experts' shared move or
one expert's habit.

With ``reference`` a rule of training/greedy.py ("greedy", the shared move of pool v8's
experts, or "greedy-pawns", pools v9-v10's) the reference move is that rule's, instead of
Stockfish's, and where the model's top move is not the rule's the report says why the rule
prefers its own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import chess
import chess.engine

from chessformer.bench.analyse import model_positions
from chessformer.bench.engines import stockfish_path
from experiments.transcendence.greedy import MATE_SCORE, RULES, exchange, pawns_first, preference, rule_move
from experiments.transcendence.habits import check_habit, habit_move

REFERENCES = ("stockfish", *RULES)  # the shared move: Stockfish at a fixed depth, or a rule of the board


@dataclass(frozen=True)
class AgreementRow:
    model: str  # weights file
    positions: int  # positions scored (count)
    top1: float  # model's most likely move == reference move (fraction)
    p_ref: float  # mean model probability of the reference move at temperature 1 (probability)
    uniform: float  # mean 1 / legal moves: a uniform random mover's p_ref (probability)
    habit_top1: dict[str, float] = field(default_factory=dict)  # habit -> model's top-1 == its move (fraction)
    habit_positions: dict[str, int] = field(default_factory=dict)  # habit -> positions where it has a move (count)
    # with a rule's reference, where the top move is not the rule's: why the rule prefers its own
    # (``greedy_miss``) -> fraction of all positions; they sum to 1 - top1
    greedy_misses: dict[str, float] = field(default_factory=dict)


def tie_breaks(pawns_first: bool) -> tuple[str, ...]:
    """The names of the parts of the rule's key after the material gain (training/greedy.py
    preference); greedy-pawns (``pawns_first``) has "pawn move" first."""
    return ("pawn move",) * pawns_first + ("advance", "landing rank", "file", "file", "promotion")


def miss_kinds(pawns_first: bool) -> tuple[str, ...]:
    """What ``greedy_miss`` can answer, in the rule's order (the two file parts share a name)."""
    return ("mate", "hangs the moved piece", "less material", *dict.fromkeys(tie_breaks(pawns_first)))


def greedy_miss(board: chess.Board, played: chess.Move, rule: chess.Move, pawns_first: bool = False) -> str:
    """Why the greedy rule (greedy-pawns with ``pawns_first``) prefers its move ``rule`` to
    ``played`` in ``board``: the first part of its key that differs. "mate": the rule mates;
    "hangs the moved piece": ``played`` leaves the piece it moved where the opponent takes it, and
    wins less than the rule's move; "less material": it takes less (e.g. misses a free capture);
    else the first tie-break that decides."""
    ours, theirs = preference(board, rule, pawns_first), preference(board, played, pawns_first)
    if ours[0] != theirs[0]:
        if ours[0] == MATE_SCORE:
            return "mate"
        return "hangs the moved piece" if exchange(board, played)[1] > 0 else "less material"
    for part, a, b in zip(tie_breaks(pawns_first), ours[1:], theirs[1:], strict=True):
        if a != b:
            return part
    raise ValueError(f"{played} and {rule} have the same key in {board.fen()}")


def sample_positions(
    pgn: Path, limit: int, skip_plies: int, max_games: int = 300, seed: int = 0, player: str = ""
) -> list[chess.Board]:
    """Up to ``limit`` positions (with history) past ``skip_plies``, where a player whose name
    starts with ``player`` is to move (empty: any), from the first ``max_games`` such games."""
    boards = model_positions(pgn, player, limit, seed, max_games=max_games, skip_plies=skip_plies)
    if not boards:
        who = f" with a player named {player}* to move" if player else ""
        raise ValueError(f"{pgn}: no positions past ply {skip_plies}{who}")
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


def agreement(
    weights: str,
    boards: list[chess.Board],
    refs: list[chess.Move],
    habits: tuple[str, ...] = (),
    rule: str = "",
) -> AgreementRow:
    """The model's agreement with ``refs`` on ``boards``; with ``rule`` (one of training/greedy.py's
    RULES, whose moves the refs are) it also counts why its top move misses the rule's
    (``greedy_miss``)."""
    from chessformer.engine.loader import load_model

    for h in habits:
        check_habit(h)
    pawn_rule = pawns_first(rule) if rule else False  # checks the rule's name
    player = load_model(weights, "cpu-fast", 1, 256).player
    top1 = p_ref = uniform = 0.0
    habit_hits = dict.fromkeys(habits, 0)
    habit_seen = dict.fromkeys(habits, 0)
    misses: dict[str, int] = dict.fromkeys(miss_kinds(pawn_rule), 0) if rule else {}
    for b, ref in zip(boards, refs, strict=True):
        ev = player.evaluate(b)
        top1 += ev.moves[0] == ref  # moves are most probable first
        if rule and ev.moves[0] != ref:
            misses[greedy_miss(b, ev.moves[0], ref, pawn_rule)] += 1
        p_ref += float(ev.probs[ev.moves.index(ref)])
        uniform += 1.0 / len(ev.moves)
        for h in habits:
            move = habit_move(b, h)
            if move is not None:
                habit_seen[h] += 1
                habit_hits[h] += ev.moves[0] == move
    n = len(boards)
    habit_top1 = {h: habit_hits[h] / habit_seen[h] if habit_seen[h] else 0.0 for h in habits}
    greedy_misses = {k: v / n for k, v in misses.items()}
    return AgreementRow(weights, n, top1 / n, p_ref / n, uniform / n, habit_top1, habit_seen, greedy_misses)


def run_agreement(
    weights: list[str],
    pgn: Path,
    positions: int,
    depth: int,
    skip_plies: int,
    out_json: Path | None,
    habits: tuple[str, ...] = (),
    player: str = "",
    reference: str = "stockfish",
) -> list[AgreementRow]:
    if reference not in REFERENCES:
        raise ValueError(f"unknown reference {reference!r}: expected one of {REFERENCES}")
    boards = sample_positions(pgn, positions, skip_plies, player=player)
    rule = reference if reference in RULES else ""
    refs = [rule_move(rule, b) for b in boards] if rule else reference_moves(boards, depth)
    rows = [agreement(w, boards, refs, habits, rule) for w in weights]
    if out_json is not None:
        out_json.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    return rows


def agreement_report(rows: list[AgreementRow], reference: str) -> str:
    """A markdown table; ``reference`` names the reference move in its header (e.g. "depth-1")."""
    habits = list(rows[0].habit_top1) if rows else []
    lines = [
        f"| model | positions | top-1 = {reference} move | p({reference} move) | uniform legal |"
        + "".join(f" top-1 = {h} habit |" for h in habits),
        "|---|---|---|---|---|" + "---|" * len(habits),
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.positions} | {r.top1:.1%} | {r.p_ref:.3f} | {r.uniform:.3f} |"
            + "".join(f" {r.habit_top1[h]:.1%} of {r.habit_positions[h]} |" for h in habits)
        )
    if rows and rows[0].greedy_misses:
        kinds = list(rows[0].greedy_misses)
        lines += [
            "",
            "Where the top move is not the rule's, why the rule prefers its own (share of all positions):",
            "",
        ]
        lines += ["| model |" + "".join(f" {k} |" for k in kinds), "|---|" + "---|" * len(kinds)]
        lines += [f"| {r.model} |" + "".join(f" {r.greedy_misses[k]:.1%} |" for k in kinds) for r in rows]
    return "\n".join(lines)
