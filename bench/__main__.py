"""``python -m bench COMMAND``: matches, ratings, sweeps, analyses and throughput (``--help`` lists them)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.commands import Command, dispatch


def _match(argv: list[str]) -> int:
    from bench.engines import parse_engine_spec
    from bench.match import MatchConfig, load_openings, run_match

    p = argparse.ArgumentParser(prog="python -m bench match", description="An engine against UCI opponents, to PGN.")
    p.add_argument("--engine", default="chessformer:temperature=0", help="engine spec (see bench/engines.py)")
    p.add_argument(
        "--opponent",
        action="append",
        required=True,
        help="opponent spec, repeatable: stockfish:skill=0, random, cmd=...",
    )
    p.add_argument("--games", type=int, default=2, help="games per opponent (colours alternate)")
    p.add_argument("--openings", type=Path, help="PGN or EPD file of openings (default: the start position)")
    p.add_argument("--movetime", type=float, default=0.1, help="seconds per move (ignored with --tc)")
    p.add_argument("--tc", help="clock as base+increment in seconds, e.g. 60+0.6")
    p.add_argument("--max-moves", type=int, help="adjudicate a draw after this many full moves (the paper: 89)")
    p.add_argument(
        "--adjudicate-cp", type=int, help="Stockfish-score adjudication: a side ahead by this many centipawns..."
    )
    p.add_argument("--adjudicate-plies", type=int, default=6, help="...for this many consecutive plies wins")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--pgn", type=Path, required=True, help="output PGN (appended; finished games are skipped on re-run)"
    )
    p.add_argument(
        "--batched",
        action="store_true",
        help="run the chessformer engine in-process, one batched forward per ply for all games",
    )
    p.add_argument("--backend", default="auto", help="with --batched: the inference backend")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        engine = parse_engine_spec(a.engine)
        opponents = [parse_engine_spec(o) for o in a.opponent]
        clock = None
        if a.tc:
            base, _, inc = a.tc.partition("+")
            clock = (float(base), float(inc or 0))
        openings = load_openings(a.openings)
    except (ValueError, FileNotFoundError) as e:
        print(f"match: {e}", file=sys.stderr)
        return 2
    cfg = MatchConfig(
        engine,
        opponents,
        a.games,
        openings,
        None if clock else a.movetime,
        clock,
        a.max_moves,
        a.seed,
        adjudicate_cp=a.adjudicate_cp,
        adjudicate_plies=a.adjudicate_plies,
    )
    if a.batched:
        if clock:
            print("match: --batched plays per-move limits only (no --tc)", file=sys.stderr)
            return 2
        from bench.batched_match import run_batched_match
        from engine.loader import load_model
        from engine.weights import WeightsError

        try:
            loaded = load_model(str(engine.options.get("WeightsFile", "<bundled>")), a.backend, 1, 4096)
        except WeightsError as e:
            print(f"match: {e}", file=sys.stderr)
            return 2
        from bench.match import engine_log_path, engine_stderr_to

        a.pgn.parent.mkdir(parents=True, exist_ok=True)
        with engine_stderr_to(engine_log_path(a.pgn)):
            summary = run_batched_match(cfg, loaded.player, a.pgn, a.concurrency, progress=not a.no_progress)
    else:
        summary = run_match(cfg, a.pgn, a.concurrency, progress=not a.no_progress)
    from bench.match import engine_log_path

    print(f"engines' stderr: {engine_log_path(a.pgn)}", file=sys.stderr)
    for name, s in summary.items():
        print(
            f"{cfg.engine.name} vs {name}: +{s.get('wins', 0):g} ={s.get('draws', 0):g} -{s.get('losses', 0):g}"
            f"  score {s['score']:.3f}  forfeits engine {s.get('engine_forfeits', 0):g} opponent {s.get('opponent_forfeits', 0):g}",
            file=sys.stderr,
        )
    print(json.dumps(summary))
    return 0


def _rate(argv: list[str]) -> int:
    from bench.rate import cli_rate

    p = argparse.ArgumentParser(
        prog="python -m bench rate", description="Glicko-2 and max-likelihood Elo from PGN files."
    )
    p.add_argument("pgn", nargs="+", type=Path)
    p.add_argument(
        "--anchor", action="append", default=[], help="NAME=RATING (repeatable); 'paper' = the paper's Stockfish table"
    )
    p.add_argument("--json", type=Path, help="also write the table as JSON here")
    p.add_argument(
        "--record-dir",
        type=Path,
        help="also write each PGN's result record here (same file name): headers and results, no moves",
    )
    a = p.parse_args(argv)
    try:
        print(cli_rate(a.pgn, a.anchor, a.json, a.record_dir))
    except (ValueError, FileNotFoundError) as e:
        print(f"rate: {e}", file=sys.stderr)
        return 2
    return 0


def _sweep(argv: list[str]) -> int:
    from bench.match import load_openings
    from bench.sweep import PAPER_TEMPERATURES, SweepConfig, run_sweep

    p = argparse.ArgumentParser(
        prog="python -m bench sweep", description="Rating against temperature (the paper's Figure 1)."
    )
    p.add_argument("--weights", default="<bundled>", help="WeightsFile of the model")
    p.add_argument("--temperatures", default=",".join(f"{t:g}" for t in PAPER_TEMPERATURES))
    p.add_argument("--opponent", action="append", help="opponent spec (repeatable); default Stockfish skill 0 and 1")
    p.add_argument("--games", type=int, default=20, help="games per temperature and opponent")
    p.add_argument(
        "--calibrate", type=int, default=0, help="games between consecutive opponents, to rate unanchored ones"
    )
    p.add_argument("--movetime", type=float, default=0.1)
    p.add_argument("--max-moves", type=int, default=89)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--anchor", action="append", help="NAME=RATING (repeatable); default: the paper's Stockfish table")
    p.add_argument("--openings", type=Path)
    p.add_argument(
        "--batched", action="store_true", help="the model in-process: one batched forward per ply for all games"
    )
    p.add_argument("--backend", default="auto", help="with --batched: the inference backend")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        cfg = SweepConfig(
            weights=a.weights,
            temperatures=tuple(float(t) for t in a.temperatures.split(",")),
            opponents=tuple(a.opponent or ("stockfish:skill=0", "stockfish:skill=1")),
            games=a.games,
            calibrate=a.calibrate,
            movetime=a.movetime,
            max_moves=a.max_moves or None,
            concurrency=a.concurrency,
            anchors=tuple(a.anchor or ("paper",)),
            openings=tuple(load_openings(a.openings)),
            batched=a.batched,
            backend=a.backend,
        )
        rows = run_sweep(cfg, a.out, progress=not a.no_progress)
    except (ValueError, FileNotFoundError) as e:
        print(f"sweep: {e}", file=sys.stderr)
        return 2
    for r in rows:
        print(json.dumps(r))
    return 0


def _analyse(argv: list[str]) -> int:
    from bench.analyse import entropy_report, run_table1, table1_report

    p = argparse.ArgumentParser(
        prog="python -m bench analyse", description="The paper's Table 1 and its entropy figure."
    )
    sub = p.add_subparsers(dest="what", required=True)
    t1 = sub.add_parser(
        "table1", help="move quality at temperatures 0.001, 0.75, 1 over the model's positions in a PGN"
    )
    t1.add_argument("pgn", type=Path, help="games of the model (e.g. from bench match or sweep)")
    t1.add_argument("--weights", default="<bundled>")
    t1.add_argument("--player", default="ChessFormer", help="name prefix of the model's player in the PGN")
    t1.add_argument("--positions", type=int, default=100)
    t1.add_argument("--sf-time", type=float, default=1.0, help="Stockfish seconds per position (the paper: 1.0)")
    t1.add_argument("--json", type=Path)
    en = sub.add_parser("entropy", help="normalised entropy of common early states of PGN games (the paper's Fig. 4)")
    en.add_argument("pgn", type=Path, nargs="+", help="PGN files (.pgn, .zst, .bz2, .gz) or folders of them")
    en.add_argument("--png", type=Path, required=True)
    en.add_argument("--max-ply", type=int, default=16)
    en.add_argument("--min-visits", type=int, default=100)
    en.add_argument("--max-games", type=int, default=500_000)
    a = p.parse_args(argv)
    try:
        if a.what == "table1":
            rows = run_table1(a.pgn, a.weights, a.player, a.positions, a.sf_time, a.json)
            print(table1_report(rows))
        else:
            print(json.dumps(entropy_report(a.pgn, a.png, a.max_ply, a.min_visits, a.max_games)))
    except (ValueError, FileNotFoundError) as e:
        print(f"analyse: {e}", file=sys.stderr)
        return 2
    return 0


def _throughput(argv: list[str]) -> int:
    from bench.throughput import DEFAULT_BATCHES, cli

    p = argparse.ArgumentParser(
        prog="python -m bench throughput", description="Latency and moves/s per backend and batch size."
    )
    p.add_argument(
        "--weights",
        default="<bundled>",
        help="a weights file (a paper ckpt_*.pt too), or random-nanogpt: the paper's 16 x 8 x 512 model, random init",
    )
    p.add_argument(
        "--backend",
        action="append",
        help="repeatable; an engine backend or plain-eager (the baseline: no cache, full recompute); "
        "default torch, cpu-fast, cuda-graph, onnx",
    )
    p.add_argument("--batches", default=",".join(map(str, DEFAULT_BATCHES)))
    p.add_argument("--steps", type=int, default=20, help="timed plies per measurement")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--scattered", action="store_true", help="games start on every other cache slot (needs 2 x batch slots)"
    )
    p.add_argument("--plies", type=int, default=10, help="plies already played in each game (10: the opening)")
    a = p.parse_args(argv)
    try:
        print(
            cli(
                a.weights,
                a.backend or ["torch", "cpu-fast", "cuda-graph", "onnx"],
                tuple(int(b) for b in a.batches.split(",")),
                a.steps,
                a.threads,
                a.scattered,
                a.plies,
            )
        )
    except Exception as e:  # noqa: BLE001 - a clear line rather than a traceback
        print(f"throughput: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 0


def _calibrate(argv: list[str]) -> int:
    from bench.calibrate import cli

    return cli(argv)


def _soak(argv: list[str]) -> int:
    from bench.soak import cli

    return cli(argv)


COMMANDS = {
    "match": Command("play an engine against UCI opponents (Stockfish, the random mover, any engine) to PGN", _match),
    "rate": Command("Glicko-2 and maximum-likelihood Elo with 95% intervals from match PGNs", _rate),
    "sweep": Command("rating against temperature, the paper's Figure 1", _sweep),
    "analyse": Command("the paper's Table 1 (move quality by temperature) and its entropy figure", _analyse),
    "throughput": Command("latency and moves/s per backend and batch size", _throughput),
    "calibrate": Command("measure a model's strength table for UCI_LimitStrength / UCI_Elo", _calibrate),
    "soak": Command("many games through the engine's process: memory, stalls, legality", _soak),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m bench", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
