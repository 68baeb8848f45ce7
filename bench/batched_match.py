"""``python -m chessformer.bench match --batched``: many games at once from one in-process model.

The model is not a UCI subprocess here: every game where the model is to move is
advanced by one batched ``Player.evaluate_many`` (one forward per ply for all of them,
KV caches kept per game by the backend), while the opponents (one UCI process per game
slot) think in threads. The PGN is the same as ``bench match`` writes, with the same
match ids, so both runners resume each other's files and rate the same way.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import chess
import chess.engine
import numpy as np

from chessformer.bench.match import (
    EngineProcess,
    GameRecord,
    Job,
    MatchConfig,
    finish_game,
    finished_games,
    missing_jobs,
    opponent_seed,
    summarize,
    write_headers,
)
from chessformer.engine.options import OptionValues
from chessformer.engine.pgn import append_game
from chessformer.engine.player import Player


@dataclass
class _Live:
    job: Job
    board: chess.Board
    start: chess.Board
    engine_color: bool
    opponent: EngineProcess
    rng: np.random.Generator
    seed: int
    pending: cf.Future[chess.engine.PlayResult] | None = None
    result: str | None = None
    termination: str = "normal"
    opening_name: str = field(default="startpos")


def engine_option_values(options: Mapping[str, object]) -> OptionValues:
    """The engine's UCI options as the engine would hold them, parsed by the option table
    (engine/options.py): the same rules and messages; a bad value raises OptionError."""
    values = OptionValues()
    for name, value in options.items():
        raw = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if name == "WeightsFile":  # the runner has loaded these weights itself
            continue
        values.set(name, raw)
    return values


def run_batched_match(
    cfg: MatchConfig, player: Player, pgn, concurrency: int = 16, progress: bool = True
) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """Play the missing games of ``cfg`` with ``player`` in-process; ``concurrency`` games at once."""
    from tqdm import tqdm

    values = engine_option_values(cfg.engine.options)
    if values["UCI_LimitStrength"]:  # the table lives in the engine's loaded weights, which this runner does not read
        raise ValueError("UCI_LimitStrength is played by the engine process: run this match without --batched")
    temperature, avoid_draws, take_mates = values.temperature, values.draw_avoidance, values.mate_in_one
    guard = values.material_guard
    player.ratings, player.own_colour = values.ratings, None  # the model plays the side to move in each game
    done = finished_games(pgn)
    todo: queue.Queue[Job] = queue.Queue()
    for j in missing_jobs(cfg, done):
        todo.put(j)
    bar = tqdm(total=todo.qsize(), desc="batched match", unit="game", disable=not progress)
    idle: dict[int, list[EngineProcess]] = {}  # opponent processes not in a game, per opponent
    live: list[_Live] = []
    pool = cf.ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        while live or not todo.empty():
            while len(live) < concurrency and not todo.empty():
                job = todo.get()
                opening = cfg.openings[(job.number // 2) % len(cfg.openings)]
                engines = idle.setdefault(job.opponent, [])
                opp = engines.pop() if engines else EngineProcess(cfg.opponents[job.opponent])
                board = opening.board()
                seed = cfg.seed + job.number
                _seed_opponent(opp, opponent_seed(seed))
                live.append(
                    _Live(
                        job,
                        board,
                        board.copy(),
                        job.number % 2 == 0,
                        opp,
                        np.random.default_rng(seed),
                        seed,
                        opening_name=opening.name,
                    )
                )
            for g in live:
                if g.pending is None:  # a game whose opponent is thinking has not changed
                    _check_end(g, cfg)
            # the model's turn in every game that waits for it: one batched evaluation
            mine = [g for g in live if g.result is None and g.board.turn == g.engine_color]
            if mine:
                evs = player.evaluate_many(
                    [g.board for g in mine],
                    avoid_draws=avoid_draws,
                    take_mates=take_mates,
                    guard=guard,
                )
                for g, ev in zip(mine, evs, strict=True):
                    g.board.push(player.pick(ev, temperature, g.rng))
                    _check_end(g, cfg)
            # the opponents' turns: each in its own thread
            for g in live:
                if g.result is None and g.board.turn != g.engine_color and g.pending is None:
                    # a copy: outcome(claim_draw=True) pops and re-pushes moves on g.board while
                    # the opponent's thread would be reading it (that race sent stale positions)
                    g.pending = pool.submit(_opponent_move, g, g.board.copy(), cfg)
            pending = [g.pending for g in live if g.pending is not None]
            if pending and not mine:
                cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for g in live:
                if g.pending is not None and g.pending.done():
                    _apply_opponent(g, g.pending)
                    g.pending = None
                    _check_end(g, cfg)
            for g in [g for g in live if g.result is not None and g.pending is None]:
                live.remove(g)
                rec = finish_game(g.start, g.board, g.result or "*", g.termination)
                rec.game.headers["Opening"] = g.opening_name
                _write(pgn, rec, cfg, g)
                if g.termination.startswith("forfeit"):
                    g.opponent.discard()
                idle.setdefault(g.job.opponent, []).append(g.opponent)
                trim_idle(idle, keep=concurrency)
                bar.update(1)
    finally:
        pool.shutdown(wait=True)
        bar.close()
        for engines in idle.values():
            for e in engines:
                e.close()
        for g in live:
            g.opponent.close()
    return summarize(pgn, cfg)


def trim_idle(idle: dict[int, list[Any]], keep: int) -> None:
    """Close idle opponent processes beyond ``keep`` in all, from the opponents with the most.

    Without this every opponent kept as many processes as games were ever in flight against
    it: up to 11 experts x 16 games = 176 idle engines (a Python wrapper and a Stockfish
    each) in one transcend rating, and three such runs at once ran this 24 GB machine out of
    memory (the kernel killed them)."""
    while sum(len(v) for v in idle.values()) > keep:
        max(idle.values(), key=len).pop().close()


def _seed_opponent(opp: EngineProcess, seed: int) -> None:
    """Give a noisy expert this game's Seed (its random moves vary from game to game)."""
    try:
        proc = opp.get()
        if "Seed" in proc.options:
            proc.configure({"Seed": seed})
    except (chess.engine.EngineError, chess.engine.EngineTerminatedError, OSError):
        opp.discard()  # the game's first move restarts it; a second failure is that game's forfeit


def _check_end(g: _Live, cfg: MatchConfig) -> None:
    if g.result is not None:
        return
    outcome = g.board.outcome(claim_draw=True)
    if outcome is not None:
        g.result, g.termination = outcome.result(), f"normal: {outcome.termination.name.lower()}"
    elif cfg.max_moves is not None and g.board.fullmove_number > cfg.max_moves:
        g.result, g.termination = "1/2-1/2", f"adjudication: {cfg.max_moves} moves"


def _opponent_move(g: _Live, board: chess.Board, cfg: MatchConfig) -> chess.engine.PlayResult:
    """The opponent's move in ``board``, a copy of the game's board owned by this thread."""
    spec = g.opponent.spec
    limit = chess.engine.Limit(
        nodes=spec.nodes, depth=spec.depth, time=spec.movetime or (None if spec.nodes or spec.depth else cfg.movetime)
    )
    return g.opponent.get().play(board, limit, game=id(g.start), info=chess.engine.INFO_NONE)


def _apply_opponent(g: _Live, fut: cf.Future[chess.engine.PlayResult]) -> None:
    loser = "1-0" if g.engine_color == chess.WHITE else "0-1"  # the opponent loses
    name = g.opponent.spec.name
    try:
        move = fut.result().move
    except chess.engine.EngineTerminatedError:
        g.result, g.termination = loser, f"forfeit: {name} crashed"
        return
    except (chess.engine.EngineError, TimeoutError) as e:
        g.result, g.termination = loser, f"forfeit: {name} protocol error or illegal move ({e})"
        return
    if move is None or move not in g.board.legal_moves:
        g.result, g.termination = loser, f"forfeit: {name} illegal move {move}"
        return
    g.board.push(move)


def _write(pgn, rec: GameRecord, cfg: MatchConfig, g: _Live) -> None:  # type: ignore[no-untyped-def]
    from chessformer.bench.match import Opening

    write_headers(rec, cfg, cfg.opponents[g.job.opponent], g.job, Opening(g.opening_name), g.engine_color, g.seed)
    rec.game.headers["WhiteEngine" if g.engine_color else "BlackEngine"] = (
        cfg.engine.describe() + " (batched, in-process)"
    )
    append_game(pgn, rec.game)
