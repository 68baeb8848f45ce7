"""bench soak: cycles through one engine process, memory readings, and the PGN replay check."""

from __future__ import annotations

from pathlib import Path

import chess
import chess.pgn

from chessformer.bench.soak import replay_games, rss_mb, soak_cycles


def test_cycles_report_memory_and_legal_moves(tiny_weights: Path) -> None:
    r = soak_cycles(30, weights=str(tiny_weights))
    assert r["cycles"] == 30 and r["illegal_moves"] == 0 and r["exit_code"] == 0
    memory = r["memory"]
    assert isinstance(memory, list) and [m["at"] for m in memory] == ["cycle 1", "cycle 15", "cycle 30"]
    assert all(m["rss_mb"] > 10 for m in memory)  # the process held a model: tens of MB at least


def test_replay_counts_illegal_games_and_terminations(tmp_path: Path) -> None:
    good = chess.pgn.Game()
    good.add_line([chess.Move.from_uci(u) for u in ("e2e4", "e7e5")])
    good.headers["Termination"] = "normal: checkmate"
    bad = '[Termination "forfeit: X lost on time"]\n\n1. e4 Ke2 *'  # Ke2 is not Black's move
    (tmp_path / "g.pgn").write_text(f"{good}\n\n{bad}\n\n")
    r = replay_games(tmp_path / "g.pgn")
    assert r["games"] == 2 and r["illegal_games"] == 1
    assert r["terminations"] == {"normal": 1, "forfeit: X lost on time": 1}
    assert rss_mb(1 << 30) is None  # no such process
