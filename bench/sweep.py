"""``python -m chessformer.bench sweep``: rating against temperature, the paper's Figure 1 for any model.

For each temperature the model plays every opponent (bench/match.py, all games in one
resumable PGN); optional calibration games between the opponents tie unanchored ones
(Stockfish Skill Level 0, say) to the anchored ones. Every player is then rated in one
maximum-likelihood Elo pool with the anchors fixed, plus Glicko-2 against the anchors
as in the paper. Output: sweep.csv, sweep.json and sweep.png in the output folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chessformer.bench.engines import EngineSpec, parse_engine_spec
from chessformer.bench.match import MatchConfig, Opening, run_match
from chessformer.bench.rate import parse_anchors, rate, read_results

if TYPE_CHECKING:
    from chessformer.engine.player import Player

PAPER_TEMPERATURES = (0.001, 0.01, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5)


@dataclass
class SweepConfig:
    """What a sweep plays."""

    weights: str  # WeightsFile for the engine ("<bundled>" for the default model)
    temperatures: tuple[float, ...] = PAPER_TEMPERATURES
    opponents: tuple[str, ...] = ("stockfish:skill=0", "stockfish:skill=1")  # engine spec strings
    games: int = 20  # games per temperature and opponent (count)
    calibrate: int = 0  # games between consecutive opponents (count)
    movetime: float = 0.1  # seconds per move
    max_moves: int | None = 89  # adjudicated draw after this many full moves (the paper's rule)
    concurrency: int = 2  # games at once
    seed: int = 1
    anchors: tuple[str, ...] = ("paper",)  # NAME=RATING items, "paper" = the paper's Stockfish table
    openings: tuple[Opening, ...] = (Opening("startpos"),)
    engine_command: str | None = None  # cmd=... spec prefix to rate another build; None: chessformer
    batched: bool = False  # play the model in-process, one batched forward per ply (bench/batched_match.py)
    backend: str = "auto"  # inference backend when batched
    settings: str = ""  # more chessformer spec settings for the model, e.g. "material_guard=false" (bench/engines.py)


def engine_for(cfg: SweepConfig, t: float) -> EngineSpec:
    if cfg.engine_command:
        if cfg.settings:
            raise ValueError("settings are chessformer spec settings; a cmd=... engine takes its options in its spec")
        base = parse_engine_spec(cfg.engine_command)
        return EngineSpec(
            f"{base.name} T={t:g}", base.command, {**base.options, "Temperature": f"{t:g}", "WeightsFile": cfg.weights}
        )
    extra = f",{cfg.settings}" if cfg.settings else ""
    spec = parse_engine_spec(f"chessformer:temperature={t:g},weights={cfg.weights}{extra}")
    return EngineSpec(f"ChessFormer T={t:g}", spec.command, spec.options)


def _batched_player(cfg: SweepConfig) -> Player:
    """The sweep's model, loaded once for the batched runner (a cmd=... engine cannot be batched)."""
    if cfg.engine_command:
        raise ValueError("--batched plays chessformer's own model in-process; it cannot run a cmd=... engine")
    from chessformer.engine.loader import load_model

    return load_model(cfg.weights, cfg.backend, 1, 4096).player


def run_sweep(cfg: SweepConfig, out: Path, progress: bool = True) -> list[dict[str, object]]:
    out.mkdir(parents=True, exist_ok=True)
    pgn = out / "games.pgn"
    opponents = [parse_engine_spec(o) for o in cfg.opponents]
    t0 = time.time()
    player = _batched_player(cfg) if cfg.batched else None
    for t in cfg.temperatures:
        mc = MatchConfig(
            engine_for(cfg, t), opponents, cfg.games, list(cfg.openings), cfg.movetime, None, cfg.max_moves, cfg.seed
        )
        if player is None:
            run_match(mc, pgn, cfg.concurrency, progress)
        else:  # the model in-process: one batched forward per ply for all games at once
            from chessformer.bench.batched_match import run_batched_match
            from chessformer.bench.match import engine_log_path, engine_stderr_to

            with engine_stderr_to(engine_log_path(pgn)):
                run_batched_match(mc, player, pgn, cfg.concurrency, progress)
    if cfg.calibrate and len(opponents) > 1:
        for a, b in zip(opponents, opponents[1:], strict=False):
            mc = MatchConfig(a, [b], cfg.calibrate, list(cfg.openings), cfg.movetime, None, cfg.max_moves, cfg.seed)
            run_match(mc, pgn, cfg.concurrency, progress)
    table = rate(read_results([pgn]), parse_anchors(list(cfg.anchors)))
    rows: list[dict[str, object]] = []
    for t in cfg.temperatures:
        name = engine_for(cfg, t).name
        row = table.get(name)
        if row is None:
            continue
        e = row["elo"]
        assert isinstance(e, dict)
        r: dict[str, object] = {
            "temperature": t,
            "games": e["games"],
            "score": e["score"],
            "elo": e["rating"],
            "elo_low": e["low"],
            "elo_high": e["high"],
        }
        g = row.get("glicko2")
        if isinstance(g, dict):
            r.update({"glicko2": g["rating"], "glicko2_low": g["low"], "glicko2_high": g["high"]})
        rows.append(r)
    wall = time.time() - t0
    (out / "sweep.json").write_text(
        json.dumps({"rows": rows, "pool": table, "wall_seconds": wall, "config": _jsonable(cfg)}, indent=1) + "\n"
    )
    with open(out / "sweep.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}, key=lambda k: (k != "temperature", k)))
        w.writeheader()
        w.writerows(rows)
    plot_sweep(rows, _rating_cap(cfg.weights), out / "sweep.png", f"{Path(cfg.weights).stem}: rating vs temperature")
    return rows


def _jsonable(cfg: SweepConfig) -> dict[str, object]:
    d = dict(cfg.__dict__)
    d["openings"] = [o.name for o in cfg.openings]
    return d


def _rating_cap(weights: str) -> float | None:
    from chessformer.engine.weights import WeightsError, read_info, resolve_weights

    try:
        cap = read_info(resolve_weights(weights)).metadata.get("rating_cap")
    except WeightsError:
        return None
    return float(cap) if isinstance(cap, (int, float)) else None


def plot_sweep(rows: list[dict[str, object]], cap: float | None, path: Path, title: str) -> None:
    """Rating against temperature with its 95% band, and the training cap as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = [float(r["temperature"]) for r in rows]  # type: ignore[arg-type]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, color in (
        ("elo", "max-likelihood Elo", "tab:blue"),
        ("glicko2", "Glicko-2 vs anchors", "tab:orange"),
    ):
        pts = [(t, r) for t, r in zip(ts, rows, strict=True) if key in r]
        if not pts:
            continue
        xs = [t for t, _ in pts]
        ax.plot(xs, [float(r[key]) for _, r in pts], "o-", color=color, label=label)  # type: ignore[arg-type]
        ax.fill_between(
            xs,
            [float(r[f"{key}_low"]) for _, r in pts],  # type: ignore[arg-type]
            [float(r[f"{key}_high"]) for _, r in pts],  # type: ignore[arg-type]
            color=color,
            alpha=0.2,
        )
    if cap is not None:
        ax.axhline(cap, color="gray", linestyle="--", label=f"training cap {cap:g}")
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xticks(ts)
    ax.set_xticklabels([f"{t:g}" for t in ts], rotation=45)
    ax.set_xlabel("temperature")
    ax.set_ylabel("rating (95% interval)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cli(argv: list[str]) -> int:
    """``python -m chessformer.bench sweep``."""
    from chessformer.bench.match import load_openings
    from chessformer.bench.sweep import PAPER_TEMPERATURES, SweepConfig, run_sweep

    p = argparse.ArgumentParser(
        prog="python -m chessformer.bench sweep", description="Rating against temperature (the paper's Figure 1)."
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
    p.add_argument("--settings", default="", help="more settings of the chessformer spec, e.g. material_guard=false")
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
            settings=a.settings,
        )
        rows = run_sweep(cfg, a.out, progress=not a.no_progress)
    except (ValueError, FileNotFoundError) as e:
        print(f"sweep: {e}", file=sys.stderr)
        return 2
    for r in rows:
        print(json.dumps(r))
    return 0
