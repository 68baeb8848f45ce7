"""``python -m chessformer.bench calibrate``: measure a model's strength table for UCI_LimitStrength / UCI_Elo.

Every setting of a grid (the Rating the model is conditioned on x the Temperature) plays every
opponent; optional games between consecutive opponents tie unanchored ones (Stockfish Skill
Level 0, the random mover) to the anchored ones. All games go to one resumable PGN (re-running
plays only what is missing), and one maximum-likelihood Elo pool with the anchors fixed rates
every setting with its 95% interval. ``--focus N`` then plays N more games per setting against
the opponents rated near it (within ``--near`` Elo, at least the two nearest; to focus.pgn, new
seeds): a setting's games against a far weaker or far stronger opponent end as expected and carry
almost no information, so this is where more games narrow its interval. The table (engine/strength.py) is written into the
metadata of a copy of the weights; the tensors, and so the sha256, are unchanged.

``--verify 700,900,1100`` then checks the table by measurement: the calibrated copy plays at each
requested UCI_Elo (``chessformer:elo=N``, the engine's own lookup) new games against the
opponents rated near the request (``--near``; 0: all of them; another seed: none of these games was used for calibration), rated in one pool with
the calibration's games, so the opponents' uncertainty is in the interval. A request passes when
its measured Elo is within 100 of it and its 95% interval contains it.

The scale is the paper's: Stockfish 15.1 Skill Levels 1-5 at 0.1 s a move with the ratings of
../shared/PAPER.md. Below Skill 1 (1554) it rests on unanchored opponents rated through their
games with the anchored ones; the table's note says which anchors and opponents it used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chessformer.bench.engines import EngineSpec, parse_engine_spec
from chessformer.bench.match import MatchConfig, Opening, run_match
from chessformer.bench.rate import parse_anchors, rate, read_results
from chessformer.engine.strength import METADATA_KEY, Calibration, StrengthPoint


@dataclass
class CalibrationConfig:
    """What a calibration plays."""

    weights: str  # WeightsFile of the model
    ratings: tuple[int, ...] = (0,)  # Rating option values to condition on (0: unconditioned)
    scale: str = "fide"  # RatingScale of those ratings
    temperatures: tuple[float, ...] = (0.001, 0.3, 1.0)  # Temperature values
    opponents: tuple[str, ...] = ("stockfish:skill=1", "stockfish:skill=3")  # engine spec strings
    anchors: tuple[str, ...] = ("paper",)  # NAME=RATING items; "paper": the paper's Stockfish table
    games: int = 20  # games per setting and opponent (count)
    calibrate: int = 0  # games between consecutive opponents (count)
    focus: int = 0  # more games per setting against each opponent near its rating (count)
    near: float = 400  # "near" an opponent: within this many Elo, at least the two nearest; 0: all (Elo)
    movetime: float = 0.1  # seconds per move
    max_moves: int | None = 89  # adjudicated draw after this many full moves
    concurrency: int = 2  # games at once
    seed: int = 1
    openings: list[Opening] = field(default_factory=lambda: [Opening("startpos")])


def setting_spec(cfg: CalibrationConfig, rating: int, temperature: float) -> EngineSpec:
    spec = parse_engine_spec(
        f"chessformer:temperature={temperature:g},weights={cfg.weights},rating={rating},scale={cfg.scale}"
        ",material_guard=false"  # the model's own moves: how UCI_LimitStrength plays a table's setting
    )
    return EngineSpec(f"ChessFormer T={temperature:g} R={rating}", spec.command, spec.options)


FOCUS_SEED_OFFSET = 50_000  # focus games' seeds start here, away from the first round's
VERIFY_SEED_OFFSET = 100_000  # verification games' seeds start here, away from the calibration's
VERIFY_TOLERANCE = 100  # a verified rating must be this close to its request (Elo)


@dataclass(frozen=True)
class Verification:
    """One requested UCI_Elo and the rating its own games measured."""

    requested: int  # UCI_Elo asked for (Elo)
    elo: float  # measured max-likelihood Elo (Elo)
    low: float  # 95% interval, low end (Elo)
    high: float  # 95% interval, high end (Elo)
    games: int  # games it played (count)

    @property
    def passed(self) -> bool:
        return abs(self.elo - self.requested) <= VERIFY_TOLERANCE and self.low <= self.requested <= self.high


def near_opponents(
    elo: Mapping[str, float], target: float, opponents: list[EngineSpec], within: float
) -> list[EngineSpec]:
    """The rated opponents within ``within`` Elo of ``target`` and at least the two nearest, in their
    given order (``within`` 0: all of them). Beyond ~400 Elo the expected score is past 90%, so such
    games say little about a rating near ``target``."""
    if within <= 0:
        return list(opponents)
    by_gap = sorted((o for o in opponents if o.name in elo), key=lambda o: abs(elo[o.name] - target))
    chosen = {o.name for o in by_gap[:2]} | {o.name for o in by_gap if abs(elo[o.name] - target) <= within}
    return [o for o in opponents if o.name in chosen]


def elo_rows(table: Mapping[str, Mapping[str, object]]) -> dict[str, dict[str, Any]]:
    """Each player's max-likelihood Elo (rating, low, high, games) from a ``bench.rate.rate`` table."""
    rows = {}
    for name, row in table.items():
        e = row["elo"]
        assert isinstance(e, dict)
        rows[name] = e
    return rows


def pool_elos(table: Mapping[str, Mapping[str, object]]) -> dict[str, float]:
    """Each player's max-likelihood rating alone."""
    return {name: float(e["rating"]) for name, e in elo_rows(table).items()}


def setting_match(cfg: CalibrationConfig, rating: int, temperature: float, opponents: list[EngineSpec]) -> MatchConfig:
    spec = setting_spec(cfg, rating, temperature)
    return MatchConfig(spec, opponents, cfg.games, cfg.openings, cfg.movetime, None, cfg.max_moves, cfg.seed)


def run_calibration(cfg: CalibrationConfig, out: Path, progress: bool = True) -> Calibration:
    """Play what is missing, rate every setting, and return the table."""
    out.mkdir(parents=True, exist_ok=True)
    pgn, focus_pgn = out / "games.pgn", out / "focus.pgn"
    opponents = [parse_engine_spec(o) for o in cfg.opponents]
    grid = [(r, t) for r in cfg.ratings for t in cfg.temperatures]
    for r, t in grid:
        run_match(setting_match(cfg, r, t, opponents), pgn, cfg.concurrency, progress)
    if cfg.calibrate:
        for a, b in zip(opponents, opponents[1:], strict=False):
            mc = MatchConfig(a, [b], cfg.calibrate, cfg.openings, cfg.movetime, None, cfg.max_moves, cfg.seed)
            run_match(mc, pgn, cfg.concurrency, progress)
    anchors = parse_anchors(list(cfg.anchors))
    if cfg.focus:  # chosen from the first round's ratings alone, so a resumed run picks the same opponents
        first = pool_elos(rate(read_results([pgn]), anchors))
        for r, t in grid:
            name = setting_spec(cfg, r, t).name
            if name not in first:
                continue
            mc = setting_match(cfg, r, t, near_opponents(first, first[name], opponents, cfg.near))
            mc.games, mc.seed = cfg.focus, cfg.seed + FOCUS_SEED_OFFSET
            run_match(mc, focus_pgn, cfg.concurrency, progress)
    table = elo_rows(rate(read_results(calibration_pgns(out)), anchors))
    points = []
    for r, t in grid:
        e = table.get(setting_spec(cfg, r, t).name)
        if e is None:
            continue
        points.append(StrengthPoint(e["rating"], e["low"], e["high"], r, cfg.scale, t, int(e["games"])))
    if not points:
        raise ValueError("no setting could be rated: are the opponents tied to an anchor?")
    rated = []  # the opponents' own ratings: the scale is measured only between the weakest and the strongest
    for o in opponents:
        rated.append(f"{o.name} {table[o.name]['rating']:.0f}" if o.name in table else o.name)
    focus = f", then {cfg.focus} more against each opponent within {cfg.near:g} Elo" if cfg.focus else ""
    note = (
        f"max-likelihood Elo, anchors {', '.join(cfg.anchors)}; opponents (their Elo) {', '.join(rated)};"
        f" {cfg.movetime:g} s a move; {cfg.games} games per setting and opponent{focus},"
        f" {cfg.calibrate} between neighbours"
    )
    return Calibration(tuple(sorted(points, key=lambda p: p.elo)), note)


def calibration_pgns(out: Path) -> list[Path]:
    """The calibration's game files in ``out``: the first round's, and the focus round's if it was played."""
    focus = out / "focus.pgn"
    return [out / "games.pgn", *([focus] if focus.exists() else [])]


def run_verification(
    cfg: CalibrationConfig, calibrated: Path, requests: list[int], games: int, out: Path, progress: bool = True
) -> list[Verification]:
    """Play ``games`` new games against each opponent near each requested UCI_Elo (``cfg.near``) with the
    calibrated weights, and rate them in one pool with the calibration's games (played first, in ``out``)."""
    from chessformer.engine.options import declared_elo_range

    lo, hi = declared_elo_range(str(calibrated))  # what `chessformer --weights COPY` declares
    outside = [r for r in requests if not lo <= r <= hi]
    if outside:  # a UCI client refuses a spin value outside the declared range before the engine sees it
        raise ValueError(f"UCI_Elo requests {outside} are outside the engine's declared range {lo}..{hi}")
    opponents = [parse_engine_spec(o) for o in cfg.opponents]
    pgn = out / "verify.pgn"
    calibration = pool_elos(rate(read_results(calibration_pgns(out)), parse_anchors(list(cfg.anchors))))
    names: dict[int, str] = {}
    for req in requests:
        spec = parse_engine_spec(f"chessformer:elo={req},weights={calibrated}")
        names[req] = f"ChessFormer UCI_Elo {req}"
        mc = MatchConfig(
            EngineSpec(names[req], spec.command, spec.options),
            near_opponents(calibration, req, opponents, cfg.near),
            games,
            cfg.openings,
            cfg.movetime,
            None,
            cfg.max_moves,
            cfg.seed + VERIFY_SEED_OFFSET,
        )
        run_match(mc, pgn, cfg.concurrency, progress)
    table = elo_rows(rate(read_results([*calibration_pgns(out), pgn]), parse_anchors(list(cfg.anchors))))
    found = []
    for req in requests:
        e = table[names[req]]
        found.append(Verification(req, e["rating"], e["low"], e["high"], int(e["games"])))
    return found


def auto_requests(table: Calibration) -> list[int]:
    """Three requests across the table's range (at 20%, 50% and 80% of it, to 10 Elo): its ends are
    clamps, its inside is what interpolation has to get right."""
    lo, hi = table.elo_range
    return sorted({round((lo + f * (hi - lo)) / 10) * 10 for f in (0.2, 0.5, 0.8)})


def verification_report(found: list[Verification]) -> str:
    lines = ["| UCI_Elo requested | measured Elo [95%] | games | within 100, interval holds it |", "|---|---|---|---|"]
    for v in found:
        lines.append(
            f"| {v.requested} | {v.elo:.0f} [{v.low:.0f}, {v.high:.0f}] | {v.games} | {'yes' if v.passed else 'NO'} |"
        )
    return "\n".join(lines)


def write_calibrated_copy(weights: Path, table: Calibration, out: Path) -> Path:
    """``weights`` copied to ``out`` (.safetensors + .json), with the table in the metadata."""
    from chessformer.engine.weights import check_weights, sidecar_path

    info = check_weights(weights)
    if out.suffix != ".safetensors":
        raise ValueError(f"the calibrated copy must end in .safetensors: {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = json.loads(sidecar_path(info.path).read_text(encoding="utf-8"))
    meta.setdefault("metadata", {})[METADATA_KEY] = table.to_metadata()
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(info.path.read_bytes())
    tmp.replace(out)
    sidecar_path(out).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    check_weights(out)  # the copy loads: same sha256, a readable table
    return out


def calibration_report(table: Calibration) -> str:
    lines = ["| Elo [95%] | Rating | Temperature | games |", "|---|---|---|---|"]
    for p in table.points:
        lines.append(
            f"| {p.elo:.0f} [{p.low:.0f}, {p.high:.0f}] | {p.rating} {p.scale} | {p.temperature:g} | {p.games} |"
        )
    return "\n".join(lines)


def cli(argv: list[str]) -> int:
    import argparse
    import sys

    from chessformer.bench.match import load_openings
    from chessformer.engine.weights import WeightsError, resolve_weights

    p = argparse.ArgumentParser(prog="python -m chessformer.bench calibrate", description=__doc__.splitlines()[0])
    p.add_argument("--weights", default="<bundled>")
    p.add_argument("--ratings", default="0", help="comma-separated Rating values (0: unconditioned)")
    p.add_argument("--scale", default="fide", help="their RatingScale")
    p.add_argument("--temperatures", default="0.001,0.3,1.0")
    p.add_argument("--opponent", action="append", help="engine spec (repeatable); default Stockfish Skill 1 and 3")
    p.add_argument("--anchor", action="append", help="NAME=RATING (repeatable); default: the paper's Stockfish table")
    p.add_argument("--games", type=int, default=20, help="games per setting and opponent")
    p.add_argument("--calibrate", type=int, default=0, help="games between consecutive opponents")
    p.add_argument("--focus", type=int, default=0, help="more games per setting against each opponent near it")
    p.add_argument(
        "--near",
        type=float,
        default=400,
        help="Elo: opponents this close (at least the two nearest) get the focus and verification games; 0: all",
    )
    p.add_argument("--movetime", type=float, default=0.1)
    p.add_argument("--max-moves", type=int, default=89)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--openings", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for games.pgn and calibration.json")
    p.add_argument("--write", type=Path, required=True, help="the calibrated copy of the weights (.safetensors)")
    p.add_argument(
        "--verify",
        default="",
        help="comma-separated UCI_Elo requests to check with new games; auto: three across the table",
    )
    p.add_argument("--verify-games", type=int, default=20, help="verification games per request and near opponent")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    cfg = CalibrationConfig(
        weights=a.weights,
        ratings=tuple(int(x) for x in a.ratings.split(",")),
        scale=a.scale,
        temperatures=tuple(float(x) for x in a.temperatures.split(",")),
        opponents=tuple(a.opponent or ("stockfish:skill=1", "stockfish:skill=3")),
        anchors=tuple(a.anchor or ("paper",)),
        games=a.games,
        calibrate=a.calibrate,
        focus=a.focus,
        near=a.near,
        movetime=a.movetime,
        max_moves=a.max_moves,
        concurrency=a.concurrency,
        openings=load_openings(a.openings),
    )
    t0 = time.time()
    try:
        # a malformed request list fails now, not after the calibration's games
        listed = [] if a.verify == "auto" else [int(x) for x in a.verify.split(",") if x.strip()]
        table = run_calibration(cfg, a.out, progress=not a.no_progress)
        requests = auto_requests(table) if a.verify == "auto" else listed
        path = write_calibrated_copy(resolve_weights(a.weights), table, a.write)
        wall = round(time.time() - t0, 1)
        found = run_verification(cfg, path, requests, a.verify_games, a.out, not a.no_progress) if requests else []
    except (ValueError, FileNotFoundError, WeightsError) as e:
        print(f"calibrate: {e}", file=sys.stderr)
        return 2
    summary: dict[str, Any] = {**table.to_metadata(), "weights": str(path), "wall_seconds": wall}
    if found:
        summary["verification"] = [asdict(v) | {"passed": v.passed} for v in found]
        summary["verification_wall_seconds"] = round(time.time() - t0 - wall, 1)
    (a.out / "calibration.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(calibration_report(table))
    if found:
        print(verification_report(found))
    print(json.dumps({"weights": str(path), "wall_seconds": wall}))
    return 0 if all(v.passed for v in found) else 1
