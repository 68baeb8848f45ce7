"""``python -m chessformer.bench rate``: ratings of the players in PGN files, as a table and JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import chess.pgn

from chessformer.bench.ratings import GameResult, glicko2_against_anchors, mle_elo
from chessformer.engine.pgn import finished_headers

# The paper's fixed Glicko-2 anchors: Stockfish 16.1 Skill Level at 0.1 s per move (../shared/PAPER.md).
# Our Stockfish is Debian's 15.1: the numbers are the paper's, the engine is not the same build.
PAPER_STOCKFISH_ANCHORS = {1: 1554.0, 2: 1759.0, 3: 1867.0, 4: 2006.0, 5: 2148.0}
SCORES = {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}


def results_of(headers: Iterable[chess.pgn.Headers], skip_forfeits: bool = False) -> list[GameResult]:
    """Finished games' headers (``finished_headers``) as (White, Black, White's score).

    ``skip_forfeits`` leaves out games ended by a forfeit (Termination "forfeit: ..."): a
    crash or an illegal move says nothing about playing strength.
    """
    return [
        GameResult(h.get("White", "?"), h.get("Black", "?"), SCORES[h["Result"]])
        for h in headers
        if not (skip_forfeits and h.get("Termination", "").startswith("forfeit"))
    ]


def read_results(paths: Iterable[Path], skip_forfeits: bool = False) -> list[GameResult]:
    """Every finished game of the PGN files as (White, Black, White's score); see ``results_of``."""
    return results_of(finished_headers(paths), skip_forfeits)


# how a game ended, from its Termination header (bench/match.py, bench/batched_match.py)
END_KINDS = {
    "checkmate": "mate",
    "stalemate": "stalemate",
    "threefold_repetition": "repetition",
    "fivefold_repetition": "repetition",
    "fifty_moves": "fifty moves",
    "seventyfive_moves": "fifty moves",
    "insufficient_material": "material",
}


def game_ends(paths: Iterable[Path]) -> dict[str, Counter[str]]:
    """Per player, its finished games by result and how they ended, e.g. ``"win: mate"``,
    ``"draw: stalemate"``, ``"draw: move limit"``, ``"loss: forfeit"``: where a rating comes from."""
    return ends_of(finished_headers(paths))


def ends_of(headers: Iterable[chess.pgn.Headers]) -> dict[str, Counter[str]]:
    """``game_ends`` of finished games' headers already read (``finished_headers``)."""
    ends: dict[str, Counter[str]] = {}
    for h in headers:
        white = SCORES[h["Result"]]
        term = h.get("Termination", "")
        kind = term.partition(":")[0]  # "normal", "adjudication", "forfeit", ...
        how = END_KINDS.get(term.removeprefix("normal: "), "move limit" if kind == "adjudication" else kind)
        for player, score in ((h.get("White", "?"), white), (h.get("Black", "?"), 1 - white)):
            view = "win" if score == 1 else "loss" if score == 0 else "draw"
            ends.setdefault(player, Counter())[f"{view}: {how or 'other'}"] += 1
    return ends


# the headers a result record keeps: enough to rate (players, result, forfeits) and to resume a
# match (match id and game number: bench/match.py finished_games)
RECORD_HEADERS = ("White", "Black", "Result", "Termination", "MatchId", "GameNumber", "BenchEngineColor")


def write_result_record(pgn: Path, out: Path) -> int:
    """Copy every finished game of ``pgn`` to ``out`` as headers and result only, no moves; the
    number of games written.

    A record is about an eighth of the PGN. It rates as the PGN does (``read_results``) and, copied
    back into a run folder, lets a match or a transcend run resume without replaying the games.
    The moves are gone: analyses that replay positions need the full PGN."""
    if out.resolve() == pgn.resolve():
        raise ValueError(f"the record would overwrite its own PGN {pgn}")
    return write_record(finished_headers([pgn]), out)


def write_record(headers: Iterable[chess.pgn.Headers], out: Path) -> int:
    """``write_result_record`` of finished games' headers already read (``finished_headers``)."""
    n = 0
    tmp = out.with_name(out.name + ".part")  # a cut-off copy never passes for a whole record
    with open(tmp, "w", encoding="utf-8") as w:
        for h in headers:
            for key in RECORD_HEADERS:
                if key in h:  # as python-chess writes and reads them: not escaped
                    w.write(f'[{key} "{h[key]}"]\n')
            w.write(f"\n{h['Result']}\n\n")
            n += 1
    tmp.replace(out)
    return n


def parse_anchors(items: list[str]) -> dict[str, float]:
    """``NAME=RATING`` strings; ``paper`` adds the paper's Stockfish Skill Level anchors."""
    anchors: dict[str, float] = {}
    for item in items:
        if item == "paper":
            anchors.update({f"Stockfish skill {k}": v for k, v in PAPER_STOCKFISH_ANCHORS.items()})
            continue
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            raise ValueError(f"anchor must be NAME=RATING, got {item!r}")
        anchors[name] = float(value)
    return anchors


def rate(games: list[GameResult], anchors: dict[str, float]) -> dict[str, dict[str, object]]:
    """Both ratings for every player: MLE Elo over the whole pool and Glicko-2 against the anchors."""
    present = {g.player for g in games} | {g.opponent for g in games}
    used = {k: v for k, v in anchors.items() if k in present}
    elo = mle_elo(games, used or None)
    glicko = glicko2_against_anchors(games, used) if used else {}
    table: dict[str, dict[str, object]] = {}
    for name, e in sorted(elo.items(), key=lambda kv: -kv[1].rating):
        row: dict[str, object] = {"elo": asdict(e), "anchor": name in used}
        if name in glicko:
            g = glicko[name]
            row["glicko2"] = {
                "rating": g.rating,
                "rd": g.rd,
                "volatility": g.volatility,
                "low": g.interval95[0],
                "high": g.interval95[1],
            }
        table[name] = row
    return table


def format_table(table: dict[str, dict[str, object]]) -> str:
    lines = [f"{'player':<44} {'games':>6} {'score':>6} {'Elo':>7} {'95% CI':>17} {'Glicko-2':>9} {'95% CI':>17}"]
    for name, row in table.items():
        e = row["elo"]
        assert isinstance(e, dict)
        anchor = " (anchor)" if row["anchor"] else ""
        line = f"{(name + anchor)[:44]:<44} {e['games']:>6} {e['score']:>6.3f} {e['rating']:>7.0f} {e['low']:>8.0f}..{e['high']:<7.0f}"
        g = row.get("glicko2")
        if isinstance(g, dict):
            line += f" {g['rating']:>9.0f} {g['low']:>8.0f}..{g['high']:<7.0f}"
        lines.append(line)
    return "\n".join(lines)


def cli_rate(pgns: list[Path], anchor_items: list[str], out_json: Path | None, record_dir: Path | None = None) -> str:
    games = read_results(pgns)
    if not games:
        raise ValueError("no finished games in the PGN files")
    if record_dir:
        record_dir.mkdir(parents=True, exist_ok=True)
        for pgn in pgns:
            write_result_record(pgn, record_dir / pgn.name)
    table = rate(games, parse_anchors(anchor_items))
    if out_json:
        out_json.write_text(json.dumps(table, indent=1) + "\n")
    return format_table(table) + "\n" + json.dumps(table)


def cli(argv: list[str]) -> int:
    """``python -m chessformer.bench rate``."""
    from chessformer.bench.rate import cli_rate

    p = argparse.ArgumentParser(
        prog="python -m chessformer.bench rate", description="Glicko-2 and max-likelihood Elo from PGN files."
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
