"""bench calibrate end to end: a tiny model, fast anchors, the table written into a copy of the weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chessformer.bench.calibrate import CalibrationConfig, run_calibration, write_calibrated_copy
from chessformer.engine.strength import Calibration
from chessformer.engine.weights import load_weights


def tiny_config(tiny_weights: Path, **changes: Any) -> CalibrationConfig:
    """A calibration that takes seconds: the tiny model at two temperatures against the random mover."""
    base: dict[str, Any] = dict(temperatures=(0.0, 1.0), opponents=("random",), anchors=("Random=500",), games=4)
    fast = dict(movetime=0.01, max_moves=30, concurrency=2)
    return CalibrationConfig(weights=str(tiny_weights), **(base | fast | changes))


def test_small_calibration_writes_a_table_that_loads(tiny_weights: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_weights)
    table = run_calibration(cfg, tmp_path / "cal", progress=False)
    assert [p.temperature for p in table.points] != [] and len(table.points) == 2
    assert all(p.low <= p.elo <= p.high and p.games == 4 for p in table.points)
    copy = write_calibrated_copy(tiny_weights, table, tmp_path / "calibrated.safetensors")
    _, info = load_weights(copy)
    assert Calibration.from_metadata(info.metadata) == table
    assert info.sha256 == json.loads(tiny_weights.with_suffix(".json").read_text())["sha256"]  # tensors unchanged
    again = run_calibration(cfg, tmp_path / "cal", progress=False)  # resumes: no new games, same table
    assert again == table
    with pytest.raises(ValueError, match="must end in .safetensors"):
        write_calibrated_copy(tiny_weights, table, tmp_path / "x.bin")


def test_verification_plays_new_games_at_the_requested_elo_with_the_calibrated_copy(
    tiny_weights: Path, tmp_path: Path
) -> None:
    import chess.pgn

    from chessformer.bench.calibrate import VERIFY_SEED_OFFSET, Verification, run_verification, verification_report

    cfg = tiny_config(tiny_weights, anchors=("Random=800",))
    table = run_calibration(cfg, tmp_path / "cal", progress=False)
    copy = write_calibrated_copy(tiny_weights, table, tmp_path / "calibrated.safetensors")
    lo, hi = table.elo_range  # what the copy declares (`chessformer --weights COPY`), not the bundled model's range
    with pytest.raises(ValueError, match="outside the engine's declared range"):
        run_verification(cfg, copy, [hi + 1], 2, tmp_path / "cal", progress=False)
    requests = sorted({lo, hi})  # a random-init model's table may span a few Elo, or be one point
    found = run_verification(cfg, copy, requests, 2, tmp_path / "cal", progress=False)
    assert [v.requested for v in found] == requests and all(v.games == 2 and v.low <= v.elo <= v.high for v in found)
    with open(tmp_path / "cal" / "verify.pgn") as f:
        heads = [g.headers for g in iter(lambda: chess.pgn.read_game(f), None)]
    assert len(heads) == 2 * len(requests) and all(int(h["EngineSeed"]) >= VERIFY_SEED_OFFSET for h in heads)
    assert {h["White"] for h in heads} | {h["Black"] for h in heads} == {"Random"} | {
        f"ChessFormer UCI_Elo {r}" for r in requests
    }
    assert all(f"--weights {copy}" in h["WhiteEngine"] + h["BlackEngine"] for h in heads)
    log = (tmp_path / "cal" / "verify.pgn.engines.log").read_text()
    assert f"chessformer: UCI_Elo {lo}: Rating 0 fide, Temperature" in log  # the engine's lookup said its setting
    far = Verification(1000, 1150, 1000, 1300, 40)
    near = Verification(1000, 1050, 900, 1200, 40)
    assert not far.passed and near.passed and not Verification(1000, 1050, 1060, 1200, 40).passed
    assert "| 1000 | 1150 [1000, 1300] | 40 | NO |" in verification_report([far])


def test_auto_verification_requests_lie_inside_the_table() -> None:
    from chessformer.bench.calibrate import auto_requests
    from chessformer.engine.strength import StrengthPoint

    pts = tuple(
        StrengthPoint(e, e - 50, e + 50, 2700, "fide", t, 40) for e, t in ((600, 2.0), (1000, 1.0), (1250, 0.0))
    )
    assert auto_requests(Calibration(pts, "test")) == [730, 920, 1120]


def test_an_elo_spec_starts_the_engine_with_its_weights(tiny_weights: Path) -> None:
    from chessformer.bench.engines import chessformer_command, parse_engine_spec
    from chessformer.bench.match import weights_identity

    spec = parse_engine_spec(f"chessformer:elo=800,weights={tiny_weights}")
    assert spec.command == (*chessformer_command(), "--weights", str(tiny_weights))  # declares this model's range
    assert weights_identity(spec) == json.loads(tiny_weights.with_suffix(".json").read_text())["sha256"]
    assert parse_engine_spec(f"chessformer:weights={tiny_weights}").command == chessformer_command()  # ids unchanged


def test_near_opponents_are_those_within_reach_and_at_least_the_two_nearest() -> None:
    from chessformer.bench.calibrate import near_opponents
    from chessformer.bench.engines import parse_engine_spec

    ladder = [parse_engine_spec(s) for s in ("random", "stockfish:skill=0", "stockfish:skill=1", "stockfish:skill=3")]
    elo = {"Random": 0.0, "Stockfish skill 0": 900.0, "Stockfish skill 1": 1550.0, "Stockfish skill 3": 1700.0}

    def names(target: float, within: float) -> list[str]:
        return [o.name for o in near_opponents(elo, target, ladder, within)]

    assert names(1600, 400) == ["Stockfish skill 1", "Stockfish skill 3"]
    assert names(1000, 400) == ["Stockfish skill 0", "Stockfish skill 1"]  # only one within 400: the next nearest too
    assert names(1300, 700) == ["Stockfish skill 0", "Stockfish skill 1", "Stockfish skill 3"]  # in ladder order
    assert names(1300, 0) == [o.name for o in ladder]  # 0: every opponent
    assert names(-2000, 100) == ["Random", "Stockfish skill 0"]
    del elo["Random"]  # an unrated opponent is never chosen by distance
    assert names(-2000, 100) == ["Stockfish skill 0", "Stockfish skill 1"]


def test_focus_round_plays_new_games_near_each_setting_and_resumes(tiny_weights: Path, tmp_path: Path) -> None:
    import chess.pgn

    from chessformer.bench.calibrate import FOCUS_SEED_OFFSET

    cfg = tiny_config(tiny_weights, games=2, focus=3)
    table = run_calibration(cfg, tmp_path / "cal", progress=False)
    assert all(p.games == 5 for p in table.points)  # the first round's 2 and the focus round's 3
    assert "then 3 more against each opponent within 400 Elo" in table.scale_note
    with open(tmp_path / "cal" / "focus.pgn") as f:
        heads = [g.headers for g in iter(lambda: chess.pgn.read_game(f), None)]
    assert len(heads) == 6 and all(int(h["EngineSeed"]) >= FOCUS_SEED_OFFSET for h in heads)
    assert run_calibration(cfg, tmp_path / "cal", progress=False) == table  # resumed: nothing new played
    with open(tmp_path / "cal" / "focus.pgn") as f:
        assert sum(1 for _ in iter(lambda: chess.pgn.read_game(f), None)) == 6


def test_settings_are_measured_with_the_models_own_moves(tiny_weights: Path) -> None:
    from chessformer.bench.calibrate import CalibrationConfig, setting_spec

    spec = setting_spec(CalibrationConfig(weights=str(tiny_weights)), 1500, 0.5)
    assert spec.options["MaterialGuard"] == "false"
