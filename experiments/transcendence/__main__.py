"""``python -m experiments.transcendence COMMAND``: the transcendence experiment (REPORT.md).

``run --config experiments/transcendence/configs/pool_v18.toml`` reruns attempt 19 in one
command: the expert pool's games, their ratings, the datasets, both models and their
ratings against temperature. The other commands are the experiment's diagnostics.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from chessformer.engine.commands import Command, dispatch


def _diagnostics(argv: list[str]) -> int:
    from experiments.transcendence.agreement import REFERENCES
    from experiments.transcendence.greedy import RULES

    p = argparse.ArgumentParser(
        prog="python -m experiments.transcendence diagnose",
        description="Expert-pool agreement, move classes, mate-in-one conversion, value heads, relabelling.",
    )
    sub = p.add_subparsers(dest="what", required=True)
    ag = sub.add_parser(
        "agreement", help="how often models' most likely move is Stockfish's fixed-depth move (expert pools)"
    )
    ag.add_argument("pgn", type=Path, help="games the models were not trained on")
    ag.add_argument("--weights", action="append", required=True, help="repeatable")
    ag.add_argument("--positions", type=int, default=1000)
    ag.add_argument("--depth", type=int, default=1, help="the experts' shared policy (pool_v2: depth 1)")
    ag.add_argument(
        "--reference",
        choices=REFERENCES,
        default="stockfish",
        help="the shared move: Stockfish at --depth, or a rule of greedy.py (greedy: pool v8; greedy-pawns: pools v9-v10)",
    )
    ag.add_argument("--skip-plies", type=int, default=6, help="leave out the random opening plies")
    ag.add_argument("--json", type=Path)
    ag.add_argument(
        "--habit", action="append", default=[], help="also count top-1 = this habit's move (training/habits.py)"
    )
    ag.add_argument(
        "--player", default="", help="only positions where a player whose name starts with this is to move (e.g. mix-)"
    )
    mt = sub.add_parser("mates", help="does a player take a mate in one, and how likely do models make it?")
    mt.add_argument("pgn", type=Path)
    mt.add_argument("--player", required=True, help="the player's exact name in the PGN")
    mt.add_argument("--weights", action="append", default=[], help="repeatable; none: only the games' count")
    mt.add_argument("--positions", type=int, default=1000, help="at most this many, in game order")
    mt.add_argument("--json", type=Path)
    mv = sub.add_parser(
        "moves", help="a player's moves in its games: the greedy rule's, a habit's or other, each priced by Stockfish"
    )
    mv.add_argument("pgn", type=Path, help="games of the player (e.g. a transcend run's models.pgn)")
    mv.add_argument("--player", required=True, help="the player's exact name in the PGN (e.g. 'CF-diverse T=0.001')")
    mv.add_argument("--habit", action="append", default=[], help="repeatable, in order (training/habits.py)")
    mv.add_argument("--rule", choices=RULES, default="greedy", help="the shared move (training/greedy.py)")
    mv.add_argument("--depth", type=int, default=6, help="Stockfish plies per look (two looks per move)")
    mv.add_argument("--skip-plies", type=int, default=8, help="leave out the opening plies")
    mv.add_argument("--games", type=int, default=300, help="at most this many of the player's games, in file order")
    mv.add_argument("--json", type=Path)
    va = sub.add_parser("value", help="does a model's value head know who is ahead (material, result)?")
    va.add_argument("pgn", type=Path, help="finished games; one position is drawn from each")
    va.add_argument("--weights", action="append", required=True, help="repeatable")
    va.add_argument("--positions", type=int, default=600, help="at most this many games, in file order")
    va.add_argument("--json", type=Path)
    rl = sub.add_parser(
        "relabel",
        help="one sample of positions as two PGNs: the experts' moves and Stockfish's (noise vs learnability)",
    )
    rl.add_argument("pgn", type=Path, help="expert games")
    rl.add_argument("--out", type=Path, required=True, help="folder for played.pgn and reference.pgn")
    rl.add_argument("--positions", type=int, default=100_000)
    rl.add_argument("--depth", type=int, default=1, help="the experts' shared policy (pool_v2: depth 1)")
    rl.add_argument("--skip-plies", type=int, default=8, help="leave out the random opening plies")
    rl.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    try:
        if a.what == "relabel":
            from experiments.transcendence.relabel import relabel

            print(json.dumps(asdict(relabel(a.pgn, a.out, a.positions, a.depth, a.skip_plies, a.seed))))
        elif a.what == "agreement":
            from experiments.transcendence.agreement import agreement_report, run_agreement

            rows_ag = run_agreement(
                a.weights, a.pgn, a.positions, a.depth, a.skip_plies, a.json, tuple(a.habit), a.player, a.reference
            )
            print(agreement_report(rows_ag, f"depth-{a.depth}" if a.reference == "stockfish" else a.reference))
        elif a.what == "mates":
            from experiments.transcendence.mates import mates_report, run_mates

            n, played, rows_mt = run_mates(a.pgn, a.player, a.weights, a.positions, a.json)
            print(mates_report(a.player, n, played, rows_mt))
        elif a.what == "moves":
            from experiments.transcendence.move_classes import move_classes_report, run_move_classes

            rows_mv = run_move_classes(
                a.pgn, a.player, tuple(a.habit), a.depth, a.skip_plies, a.games, a.json, rule=a.rule
            )
            print(move_classes_report(a.player, rows_mv))
        else:
            from experiments.transcendence.value_check import run_value_check, value_report

            print(value_report(run_value_check(a.pgn, a.weights, a.positions, a.json)))
    except (ValueError, FileNotFoundError) as e:
        print(f"diagnose: {e}", file=sys.stderr)
        return 2
    return 0


def _transcend(argv: list[str]) -> int:
    from experiments.transcendence.transcend import TranscendConfig, run_transcend

    p = argparse.ArgumentParser(
        prog="python -m experiments.transcendence run",
        description="The transcendence experiment on a pool of noisy experts.",
    )
    p.add_argument("--config", type=Path, required=True)
    p.add_argument(
        "--data-only", action="store_true", help="stop after rating the pool and preparing the datasets (steps 1-2)"
    )
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        cfg = TranscendConfig.load(a.config)
        summary = run_transcend(cfg, progress=not a.no_progress, config_path=str(a.config), data_only=a.data_only)
    except (ValueError, FileNotFoundError) as e:
        print(f"transcend: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("ratings", "best_in_data", "single_expert", "rows")}))
    return 0


def _curve(argv: list[str]) -> int:
    from chessformer.engine.weights import WeightsError
    from experiments.transcendence.learning_curve import curve_table, parse_arm, run_curve

    p = argparse.ArgumentParser(
        prog="python -m experiments.transcendence curve",
        description="Rating against training steps, per arm of a transcend run.",
    )
    p.add_argument("transcend_json", type=Path, help="a transcend run's transcend.json")
    p.add_argument(
        "--arm", action="append", required=True, help="ARM=LABEL,LABEL...: the run's models of one arm (repeatable)"
    )
    p.add_argument("--agreement", action="append", type=Path, default=[], help="diagnose agreement --json output")
    p.add_argument("--temperature", type=float, default=0.001, help="the ratings to draw")
    p.add_argument("--out", type=Path, help="PNG of the curve")
    a = p.parse_args(argv)
    try:
        arms = dict(parse_arm(spec) for spec in a.arm)
        points = run_curve(a.transcend_json, arms, a.agreement, a.temperature, a.out)
    except (ValueError, FileNotFoundError, WeightsError) as e:
        print(f"curve: {e}", file=sys.stderr)
        return 2
    print(curve_table(points, a.temperature))
    return 0


def _generate(argv: list[str]) -> int:
    from experiments.transcendence.generate import cli

    return int(cli(argv))


COMMANDS = {
    "run": Command(
        "the whole experiment from a config: experts, ratings, datasets, models, rating vs temperature", _transcend
    ),
    "curve": Command("rating against training steps, per arm of a run", _curve),
    "diagnose": Command(
        "agreement, move classes, mates, value heads, relabelling (the report's diagnostics)", _diagnostics
    ),
    "generate": Command("games of a pool of noisy experts", _generate),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m experiments.transcendence", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
